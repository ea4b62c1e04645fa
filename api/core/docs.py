"""`/docs` (Swagger UI) and `/redoc`, served with their scripts and styles from the API itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN: on a machine without the internet they stay blank.
The files come from the pinned `fastapi-offline` package (its `static/` folder: swagger-ui-bundle.js,
swagger-ui.css, redoc.standalone.js), mounted at `ASSETS`; nothing here reaches another host.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

ASSETS = "/docs-assets"
_STATIC = Path(fastapi_offline.__file__).resolve().parent / "static"


def install(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the two pages and their files (the app is made with docs_url=None and redoc_url=None)."""
    app.mount(ASSETS, StaticFiles(directory=_STATIC), name="docs-assets")
    oauth2_redirect = f"{docs_url}/oauth2-redirect"

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def swagger_redirect(_request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route(docs_url, swagger, include_in_schema=False)
    app.add_route(oauth2_redirect, swagger_redirect, include_in_schema=False)
    app.add_route(redoc_url, redoc, include_in_schema=False)
