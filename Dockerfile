# progress-ledger: one image for the API (`serve`) and the projector worker (`project`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bootstrap ./bootstrap
COPY domain ./domain
COPY eventstore ./eventstore
COPY ledger ./ledger
COPY projections ./projections
COPY api ./api
COPY cli ./cli
COPY webhooks ./webhooks
RUN pip install . && useradd --system --no-create-home ledger

# The SQLite default needs a writable directory; on PostgreSQL nothing is written here.
RUN mkdir /data && chown ledger /data
WORKDIR /data
USER ledger

EXPOSE 8000
ENTRYPOINT ["progress-ledger"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
