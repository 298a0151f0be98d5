"""The prosecutor view as an ASGI application: REST API, web UI, bus consumer and relay.

``create_app(settings)`` builds everything; the FastAPI lifespan creates the store's
tables, seeds the configured users and, when a bootstrap server is configured, starts the
bus consumer and the outbox relay on the server's event loop.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.view.api.routes import router as api_router
from hub.view.auth import scraper_allowed, seed_users
from hub.view.consult import api_router as consult_api_router
from hub.view.consult import router as consult_router
from hub.view.context import LoginRequired, ViewContext
from hub.view.copies import router as copies_router
from hub.view.oversight import router as oversight_router
from hub.view.settings import ViewSettings
from hub.view.store import Store
from hub.view.web import docs_page, error_page
from hub.view.web import router as web_router

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_STATIC = Path(__file__).with_name("static")
#: The only paths whose responses a browser may cache: files shipped with the view.
_CACHEABLE = ("/static/", "/docs/assets/")

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Everything is served from the view itself: no CDN, no inline script.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}


#: The Swagger UI files /docs needs, and nothing else of the package's directory.
_SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
}


@cache
def _swagger_ui_dir() -> Path | None:
    """Where the installed ``fastapi-offline`` package keeps Swagger UI 5 (an optional
    dependency: without it /docs explains itself and /openapi.json still works).

    ``swagger-ui-bundle`` was tried and refused: it ships Swagger UI 4, which cannot read
    the OpenAPI 3.1 document FastAPI writes ("does not specify a valid version field").
    """
    try:
        package = importlib.import_module("fastapi_offline")
    except ImportError:
        return None
    directory = Path(str(getattr(package, "__file__", ""))).parent / "static"
    if not all((directory / name).is_file() for name in _SWAGGER_ASSETS):
        return None
    return directory


def _wants_json(request: Request) -> bool:
    """API routes and machine endpoints keep FastAPI's JSON errors; pages get HTML."""
    path = request.url.path
    return path.startswith(("/api/", "/static/", "/docs/")) or path in (
        "/openapi.json", "/metrics", "/healthz"
    )


def create_app(settings: ViewSettings | None = None, *, store: Store | None = None) -> FastAPI:
    """The view application; ``store`` may be passed to share one with a test or a tool."""
    settings = settings or ViewSettings()
    context = ViewContext.build(settings, store)
    scrape_token = settings.scrape_token()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.store.create_all()
        seed_users(context.store, settings)
        if settings.bootstrap and settings.registry_url and settings.consume:
            from hub.view.bus import BusRunner

            context.bus = BusRunner(context, settings.bootstrap, settings.registry_url)
            await context.bus.start()
        else:
            logger.warning(
                "view runs without the bus: no consumer, actions wait in the outbox"
            )
        try:
            yield
        finally:
            if context.bus is not None:
                await context.bus.stop()
                context.bus = None
            context.store.dispose()

    app = FastAPI(
        title="Liangfa Hub prosecutor view 两法衔接检察监督视图",
        version="0.1.0",
        description=(
            "Cases, timelines, alerts, unmatched feedback, unit scorecards and the monthly "
            "report, read from the hub's Kafka topics. Actions are produced to "
            "lf.view-actions and show once they come back through the bus. Authenticate "
            "with POST /api/auth/token and send `Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
        # FastAPI's own /docs loads Swagger UI from a CDN with an inline script: the
        # view's CSP blocks both. /docs below serves it from the view itself.
        docs_url=None,
        redoc_url=None,
    )
    app.state.view = context
    app.include_router(api_router)
    app.include_router(web_router)
    app.include_router(oversight_router)
    app.include_router(copies_router)
    app.include_router(consult_router)
    app.include_router(consult_api_router)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return await http_exception_handler(request, exc)
        return await run_in_threadpool(error_page, request, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            return await request_validation_exception_handler(request, exc)
        return await run_in_threadpool(error_page, request, 422)

    @app.exception_handler(LoginRequired)
    async def redirect_to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # Every page but the static assets may carry parties, ID numbers or leads: none is
        # kept by the browser or a proxy, so the next user of a shared workstation finds
        # nothing in the back button or the disk cache after a logout.
        if not request.url.path.startswith(_CACHEABLE):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        """Swagger UI from the installed fastapi-offline package, or a page saying how
        to get it and where the OpenAPI document is."""
        return docs_page(request, app.title, _swagger_ui_dir() is not None)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        directory = _swagger_ui_dir()
        if directory is None or name not in _SWAGGER_ASSETS:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(directory / name, media_type=_SWAGGER_ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus metrics: counts and lag only, no case data; for the scraper on this
        host or one with the metrics token (:func:`hub.view.auth.scraper_allowed`)."""
        from hub.view.metrics import refresh_alert_gauges

        if not scraper_allowed(request, scrape_token):
            raise StarletteHTTPException(
                401, "metrics are read by this host's scraper or with the metrics token",
                headers={"WWW-Authenticate": "Bearer"})

        refresh_alert_gauges(context.store)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
