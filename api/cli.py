"""``proximity api``: serve the API, migrate its database, issue access tokens.

::

    proximity api serve [--host H] [--port P]     # settings from PROX_API_* variables
    proximity api migrate [--revision head|base|<rev>] [--down]
    proximity api token --role ops|associate|service|app [--store S] [--tenant T]
                        [--customer N] [--associate N] [--days D]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from pydantic import ValidationError


def add_parser(subparsers: Any) -> None:
    """Add the ``api`` sub-command and its own sub-commands."""
    parser = subparsers.add_parser("api", help="serve the API: events, alerts, coupons, ops")
    sub = parser.add_subparsers(dest="api_command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server (and the MQTT consumer)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default=None, help="target (default head, or base)")
    migrate.add_argument("--down", action="store_true", help="downgrade instead")
    token = sub.add_parser("token", help="print a signed access token")
    token.add_argument("--role", required=True, choices=["ops", "associate", "service", "app"])
    token.add_argument("--tenant", default="default")
    token.add_argument("--store", default=None)
    token.add_argument("--customer", type=int, default=None)
    token.add_argument("--associate", type=int, default=None)
    token.add_argument("--days", type=float, default=30.0)


def _settings() -> Any:
    from .settings import Settings

    return Settings()


def run(ns: argparse.Namespace) -> int:
    """Run ``proximity api ...``; returns the exit code (2 on bad settings or arguments)."""
    try:
        settings = _settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        print(f"settings: field '{field}': {first['msg']}", file=sys.stderr)
        return 2
    if ns.api_command == "token":
        from .security import Principal, issue_token

        try:
            principal = Principal(role=ns.role, tenant=ns.tenant, store=ns.store,
                                  customer=ns.customer, associate=ns.associate,
                                  exp=time.time() + ns.days * 86400)  # fmt: skip
            print(issue_token(settings.auth_secret, principal))
        except ValueError as exc:
            print(f"token: {exc}", file=sys.stderr)
            return 2
        return 0
    if ns.api_command == "migrate":
        from . import migrate

        if ns.down:
            migrate.downgrade(settings.database_url, ns.revision or "base")
        else:
            migrate.upgrade(settings.database_url, ns.revision or "head")
        return 0
    import uvicorn

    from .main import create_app

    uvicorn.run(create_app(settings), host=ns.host, port=ns.port, log_level="info")
    return 0
