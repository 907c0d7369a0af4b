"""The web pages (associate feed, ops console): static files from ``api/web`` under ``/ui``.

No build step: plain HTML, CSS and JavaScript modules served as they are. The pages call the
API with the bearer token given in their URL (``?token=``), kept in the tab's session storage.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def _root(request: Request) -> Response:
    return RedirectResponse(url="/ui/", status_code=307)


def mount_pages(app: FastAPI) -> None:
    """Serve the pages under ``/ui/`` and redirect ``/`` there (neither is an API route)."""
    app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")
    app.add_route("/", _root, include_in_schema=False)
