"""API keys and scopes: who may read, write or administer.

Keys are stored only as SHA-256 hashes (a key is 32 random bytes, so a fast hash is enough)
in hash lines `NAME:SCOPES:SHA256HEX`, from LEDGER_API_KEYS (lines separated by newlines or
`;`) and/or the file named by LEDGER_API_KEYS_FILE. With no keys at all the API is open to
loopback clients only: `progress-ledger serve` refuses any address but loopback, and the app
itself (however it is started, `uvicorn --host 0.0.0.0` included) refuses every other client.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem
from bootstrap import Settings

SCOPES = ("read", "write", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
KEY_PREFIX = "pl_"


class KeyConfigError(ValueError):
    pass


class AccessDenied(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ApiKey:
    name: str
    scopes: frozenset[str]
    digest: bytes


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def hash_line(name: str, scopes: frozenset[str] | set[str], key: str) -> str:
    ordered = ",".join(scope for scope in SCOPES if scope in scopes)
    return f"{name}:{ordered}:{digest(key).hex()}"


def new_key(name: str, scopes: set[str]) -> tuple[str, str]:
    """A fresh random key and the hash line that configures it."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_line(name, scopes, key)


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if not scopes or unknown:
        raise KeyConfigError(
            f"scopes must be a comma-separated subset of {', '.join(SCOPES)}, not {text!r}"
        )
    return scopes


def parse_hash_lines(text: str, source: str) -> list[ApiKey]:
    keys = []
    for number, raw in enumerate(re.split(r"[\n;]", text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not NAME_PATTERN.match(parts[0]):
            raise KeyConfigError(f"{source} entry {number}: expected NAME:SCOPES:SHA256HEX")
        name, scopes, hexdigest = parts
        if not HASH_PATTERN.match(hexdigest):
            raise KeyConfigError(f"{source} entry {number}: the hash must be 64 hex digits")
        keys.append(ApiKey(name, parse_scopes(scopes), bytes.fromhex(hexdigest)))
    return keys


class Keyring:
    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = tuple(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        keys = parse_hash_lines(settings.api_keys, "LEDGER_API_KEYS")
        if settings.api_keys_file:
            path = Path(settings.api_keys_file)
            try:
                text = path.read_text()
            except OSError as error:
                raise KeyConfigError(f"LEDGER_API_KEYS_FILE: cannot read {path}: {error}") from None
            keys += parse_hash_lines(text, str(path))
        return cls(keys)

    @property
    def is_open(self) -> bool:
        return not self.keys

    def identify(self, presented: str) -> ApiKey | None:
        """The key with this secret; every configured hash is compared, in constant time."""
        presented_digest = digest(presented)
        found = None
        for key in self.keys:
            if hmac.compare_digest(key.digest, presented_digest):
                found = key
        return found


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def keyring_for(state: Any) -> Keyring:
    """The app's keyring, read from its settings once."""
    keyring: Keyring | None = getattr(state, "keyring", None)
    if keyring is None:
        keyring = Keyring.from_settings(state.services.settings)
        state.keyring = keyring
    return keyring


bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `progress-ledger keys create`; not needed when no keys are set",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_key(request: Request) -> str | None:
    """The KEY of an `Authorization: Bearer KEY` header, read as HTTPBearer reads it, or
    the password of `Basic` credentials (what xAPI clients send; the user name is ignored)."""
    scheme, _, presented = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "basic":
        return basic_password(presented)
    return presented if scheme.lower() == "bearer" and presented else None


def basic_password(credentials: str) -> str | None:
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return password if colon and password else None


def identified(keyring: Keyring, presented: str | None) -> ApiKey:
    """The key presented; 401 when there is none or it is not known."""
    if presented is None:
        raise AccessDenied(401, "an API key is required: send `Authorization: Bearer KEY`")
    key = keyring.identify(presented)
    if key is None:
        raise AccessDenied(401, "the API key is not known")
    return key


def ensure_scope(key: ApiKey, needed: str) -> None:
    if needed not in key.scopes:
        raise AccessDenied(403, f"the API key {key.name!r} lacks the {needed!r} scope")


async def caller(request: Request, credentials: Credentials) -> ApiKey | None:
    """The key that signed this request; None when the API is open. 401 when unknown.
    async (it never blocks: one SHA-256) so FastAPI runs it without a threadpool hop."""
    keyring = keyring_for(request.app.state)
    if keyring.is_open:
        return None
    key = identified(
        keyring, presented_key(request) if credentials is None else credentials.credentials
    )
    request.state.key_name = key.name
    return key


def needed_scope(method: str, scope: str) -> str:
    """Reads (GET) need `read`; every other method needs the router's `scope`."""
    return "read" if method in READ_METHODS else scope


def may_act_at_once(request: Request, scope: str) -> bool:
    """True only when `requires(scope)` would let this request through: the API is open, or
    the request carries exactly `Bearer KEY` for a known key with the scope it needs (its
    name is then logged). Every other case is left to the full checks, which refuse it."""
    keyring = keyring_for(request.app.state)
    if keyring.is_open:
        return True
    presented = presented_key(request)
    if presented is None:
        return False
    key = keyring.identify(presented)
    if key is None or needed_scope(request.method, scope) not in key.scopes:
        return False
    request.state.key_name = key.name
    return True


# What a hot route answers without its dependencies, or None for the full, validated path.
AnswerAtOnce = Callable[[Request], Awaitable[Response | None]]


def answered_at_once(answer: AnswerAtOnce, scope: str) -> type[APIRoute]:
    """A route class for the hottest routes: solving FastAPI's dependencies (the key, the
    path, the body) was about half of their CPU. When `requires(scope)` would admit the
    request, `answer` may settle it, having checked what the dependencies would; it returns
    None for anything unusual (a query string, an odd id, a body its model refuses), and
    that request then takes the full path, which answers or refuses it exactly as before.
    `scope` must be the one the route's router `requires`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    class AtOnceRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            validated = super().get_route_handler()

            async def handler(request: Request) -> Response:
                if may_act_at_once(request, scope):
                    response = await answer(request)
                    if response is not None:
                        return response
                return await validated(request)

            return handler

    return AtOnceRoute


def requires(scope: str) -> Any:
    """A router dependency: reads (GET) need `read`, every other method needs `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    # async only so FastAPI calls it on the event loop: a sync one costs a threadpool hop.
    async def check(request: Request, key: Annotated[ApiKey | None, Depends(caller)]) -> None:
        if key is not None:
            ensure_scope(key, needed_scope(request.method, scope))

    return Depends(check)


def requires_for_every_method(scope: str) -> Any:
    """A router dependency for routes whose reads too need `scope` (a learner's export holds
    everything about them: only `admin`)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def check(key: Annotated[ApiKey | None, Depends(caller)]) -> None:
        if key is not None:
            ensure_scope(key, scope)

    return Depends(check)


def install_access(app: FastAPI) -> None:
    @app.exception_handler(AccessDenied)
    def denied(_: Request, error: AccessDenied) -> JSONResponse:
        return denial(error)


# Safe to answer anyone: they say only that the process and its database are up.
PROBES = frozenset({"/healthz", "/readyz"})


def client_host(scope: Scope) -> str | None:
    """The client as uvicorn reports it (after proxy headers it trusts); None on a socket
    that has no address (a Unix socket, which only this machine can reach)."""
    client = scope.get("client")
    return None if client is None else str(client[0])


class AccessGate:
    """What applies before any route: with no keys, only loopback clients (but for the
    probes); with keys, the documentation needs a `read` key unless LEDGER_PUBLIC_DOCS."""

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str]) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> Response | None:
        state = scope["app"].state
        keyring = keyring_for(state)
        path = scope["path"]
        if keyring.is_open:
            host = client_host(scope)
            if host is None or is_loopback(host) or path in PROBES:
                return None
            return problem(
                403,
                f"with no API keys configured only loopback clients are served, not {host}",
                field="client",
            )
        if path not in self.docs_paths or state.services.settings.public_docs:
            return None
        return self.docs_refusal(keyring, Request(scope))

    @staticmethod
    def docs_refusal(keyring: Keyring, request: Request) -> Response | None:
        try:
            ensure_scope(identified(keyring, presented_key(request)), "read")
        except AccessDenied as error:
            return denial(error)
        return None


def denial(error: AccessDenied) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return problem(error.status, error.detail, field="Authorization", headers=headers)


def docs_paths(app: FastAPI) -> frozenset[str]:
    paths = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    return frozenset(path for path in paths if path)
