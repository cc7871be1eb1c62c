"""There is no Docker engine here, so the compose file and the Dockerfile are checked against
what exists: every command parses with the real CLI, every variable is a real setting."""

from __future__ import annotations

import json
import shlex
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bootstrap import Settings
from cli.progress_ledger import build_parser
from tests.conftest import ROOT

PREFIX = "LEDGER_"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["volumes"]) == {"pgdata"}
    found: dict[str, Any] = compose["services"]
    return found


def dockerfile_instruction(name: str) -> list[str]:
    """The exec-form (JSON) arguments of a Dockerfile instruction such as ENTRYPOINT."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith(f"{name} "):
            arguments: list[str] = json.loads(line.removeprefix(f"{name} "))
            return arguments
    raise AssertionError(f"the Dockerfile has no {name}")


def settings_of(service: dict[str, Any]) -> Settings:
    """The settings a service's environment gives, validated by the real Settings class."""
    environment: dict[str, str] = service["environment"]
    for name in environment:
        assert name.startswith(PREFIX), name
        assert name.removeprefix(PREFIX).lower() in Settings.model_fields, name
    fields = {name.removeprefix(PREFIX).lower(): value for name, value in environment.items()}
    return Settings.model_validate(fields)


def test_the_services_are_postgres_the_api_and_the_projector(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "api", "projector"}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "pgdata:/var/lib/postgresql/data" in postgres["volumes"]
    for name in ("api", "projector"):
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_the_commands_are_the_cli_s_own(services: dict[str, Any]) -> None:
    parser = build_parser()
    serve = parser.parse_args(services["api"]["command"])
    assert (serve.command, serve.host) == ("serve", "0.0.0.0")
    assert f"127.0.0.1:{serve.port}:{serve.port}" in services["api"]["ports"]
    assert parser.parse_args(services["projector"]["command"]).command == "project"
    # `serve` refuses a non-loopback host without keys, so compose must demand them.
    assert services["api"]["environment"]["LEDGER_API_KEYS"].startswith("${LEDGER_API_KEYS:?")
    # The image's default command is the API, too.
    assert parser.parse_args(dockerfile_instruction("CMD")) == serve


def test_the_environment_is_made_of_real_settings(services: dict[str, Any]) -> None:
    api, projector = settings_of(services["api"]), settings_of(services["projector"])
    assert api.embedded_projection is False  # the projector service projects
    assert api.database_url == projector.database_url
    url = urlsplit(api.database_url)
    database = services["postgres"]["environment"]
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert (url.username, url.password, url.path) == (
        database["POSTGRES_USER"],
        database["POSTGRES_PASSWORD"],
        f"/{database['POSTGRES_DB']}",
    )


def test_the_image_runs_the_console_script_of_the_packages_it_copies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [script] = dockerfile_instruction("ENTRYPOINT")
    assert project["project"]["scripts"][script] == "cli.progress_ledger:main"
    copied = {
        shlex.split(line)[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
    }
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied
    assert all((ROOT / package / "__init__.py").exists() for package in packages)
