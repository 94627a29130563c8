"""Mount the web UI on the FastAPI app: pages under /ui, static files, secure headers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from vangnet.web import routes_admin, routes_auth, routes_investigate, routes_review
from vangnet.web.deps import HERE
from vangnet.web.security import SecureHeaders


def install(app: FastAPI) -> None:
    app.add_middleware(SecureHeaders)
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(routes_auth.router)
    app.include_router(routes_review.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_investigate.router)

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
