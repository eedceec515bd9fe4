"""The admin web UI under ``/ui/`` on the API listener (docs/ui.md).

Server-rendered pages (Jinja2, autoescaped) over the admin API's own routes,
with our own stylesheet and one small script, under a strict CSP.
"""

from __future__ import annotations

from provisioner.accounts import Accounts
from provisioner.api._app import ApiHandler
from provisioner.serve._front import FrontGateway
from provisioner.ui._handler import CSP, PREFIX, UiHandler
from provisioner.ui._pages import ROUTES

__all__ = ["CSP", "PREFIX", "UiHandler", "ui_handler"]


def ui_handler(api: ApiHandler, accounts: Accounts, gateway: FrontGateway) -> UiHandler:
    """The UI over ``api``, the API's request handler (whose routes its pages call)."""
    return UiHandler(api, accounts, gateway, ROUTES)
