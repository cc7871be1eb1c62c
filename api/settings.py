"""Settings, read from LEDGER_* environment variables once, by the composition root."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./progress-ledger.sqlite3",
        description="sqlite:///PATH (embedded) or postgresql://USER@HOST:PORT/DB",
    )
    database_schema: str = Field("", description="PostgreSQL schema; empty means public")
    embedded_projection: bool = Field(
        True, description="Project inside the API process; false when `project` runs apart"
    )
    read_wait_timeout: float = Field(
        5.0, ge=0, description="How long a read waits for its min_position, in seconds"
    )
    projection_batch_size: int = Field(20_000, ge=1, le=100_000)
    rules: str = Field("units-v1", description="Rules of the first projection generation")
    database_connect_timeout: float = Field(
        3.0, gt=0, description="Seconds to wait for a database connection before failing"
    )
    database_pool_size: int = Field(8, ge=1)
    workers: int = Field(
        1, ge=1, description="Server processes for `serve` (PostgreSQL only when more than one)"
    )
    # Reliability and security (issue 5).
    api_keys: str = Field(
        "", description="API key hash lines NAME:SCOPES:SHA256HEX, separated by ';' or newlines"
    )
    api_keys_file: str = Field("", description="A file of API key hash lines, one a line")
    max_body_bytes: int = Field(1_048_576, ge=1, description="Largest request body accepted")
    max_batch_body_bytes: int = Field(
        16 * 1_048_576, ge=1, description="Largest body of a bulk request (10,000 items)"
    )
    group_commit: bool = Field(
        True, description="Commit concurrent commands together: one insert, one fsync"
    )
