"""Schema-driven fuzzing (schemathesis) of a real server against its own OpenAPI document:
no 5xx, and every answer (problem+json included) matches the documented status, content
type and schema. Short here; `make fuzz` runs longer (LEDGER_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Server

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


@pytest.mark.slow
def test_fuzzing_finds_no_server_error_and_no_undocumented_answer(
    server: Server, tmp_path: Path
) -> None:
    examples = os.environ.get("LEDGER_FUZZ_EXAMPLES", "10")
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            examples,
            "--workers",
            "1",
            "--seed",
            os.environ.get("LEDGER_FUZZ_SEED", "5"),
            "--generation-database",
            "none",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # Warnings may remain (a future `occurred_at` is refused but cannot be put in a schema).
    assert " passed" in run.stdout and " failed" not in run.stdout, run.stdout[-6000:]
