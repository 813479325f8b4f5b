"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc`, served without a CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank on a machine
without Internet access, which a monitor inside a cluster often is. The same assets ship in
the `fastapi-offline` package (MIT; Swagger UI is Apache-2.0, ReDoc MIT) and are served from
it under ASSETS_PATH.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "add_offline_docs"]

ASSETS_PATH = "/docs/assets"


def add_offline_docs(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` from packaged assets. Create `app` with `docs_url=None` and
    `redoc_url=None`, so FastAPI does not add its CDN pages."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PATH, StaticFiles(packages=[("fastapi_offline", "static")]), name="assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # No online validator badge: it would send the schema's URL to swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
