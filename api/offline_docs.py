"""Swagger UI and ReDoc served by the app itself, so `/docs` and `/redoc` work with no
internet (FastAPI's own pages load them from a CDN): Swagger UI's script and style from the
`swagger-ui-bundle` package, ReDoc's standalone script from `fastapi-offline`'s static files
(the one maintained PyPI package that ships it; only its files are used)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs-assets"
REDOC_ASSETS = "/redoc-assets"
REDOC_FILES = Path(fastapi_offline.__file__).parent / "static"


def install_offline_docs(app: FastAPI) -> None:
    """Replaces the CDN pages at `app.docs_url` and `app.redoc_url` (gated like them, see
    api/access.py)."""
    docs_url, redoc_url, openapi_url = app.docs_url, app.redoc_url, app.openapi_url
    if docs_url is None or redoc_url is None or openapi_url is None:
        return
    app.router.routes[:] = [
        route
        for route in app.router.routes
        if not (isinstance(route, Route) and route.path in (docs_url, redoc_url))
    ]

    async def swagger_ui(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    async def redoc(_: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{REDOC_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{REDOC_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route(docs_url, swagger_ui, include_in_schema=False)
    app.add_route(redoc_url, redoc, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")
    app.mount(REDOC_ASSETS, StaticFiles(directory=REDOC_FILES), name="redoc-assets")
