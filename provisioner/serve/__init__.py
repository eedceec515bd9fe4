"""Serving phones: one gateway behind HTTP(S), TFTP and FTP, with an in-memory cache.

The light parts (configuration, access rules, the request model) are imported
at once; the server and what it runs (aiohttp, the cache, the job runners,
TLS) only when first named. Every CLI command imports this package to build
its options, and a command such as ``phone add`` must not pay for the web
stack it never starts (:mod:`provisioner.lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioner.lazy import lazy_names
from provisioner.serve._access import access_from, transport_refusal
from provisioner.serve._config import RESTART_ONLY, ServeConfig
from provisioner.serve._config import problems as config_problems
from provisioner.serve._model import Fetch, Protocol, Reply, ServedFile, Status

if TYPE_CHECKING:
    from provisioner.serve._app import Server
    from provisioner.serve._gateway import Gateway, UploadTicket
    from provisioner.serve._jobs import JobRunner
    from provisioner.serve._rollouts import RolloutRunner
    from provisioner.serve._tls import file_problems as tls_file_problems

__all__ = [
    "RESTART_ONLY",
    "Fetch",
    "Gateway",
    "JobRunner",
    "Protocol",
    "Reply",
    "RolloutRunner",
    "ServeConfig",
    "ServedFile",
    "Server",
    "Status",
    "UploadTicket",
    "access_from",
    "config_problems",
    "tls_file_problems",
    "transport_refusal",
]

# Hidden from type checkers, which see the names imported above: a misspelt
# name is an error for them rather than Any (as in provisioner.firmware).
if not TYPE_CHECKING:
    __getattr__ = lazy_names(
        __name__,
        {
            "Server": ("provisioner.serve._app", "Server"),
            "Gateway": ("provisioner.serve._gateway", "Gateway"),
            "UploadTicket": ("provisioner.serve._gateway", "UploadTicket"),
            "JobRunner": ("provisioner.serve._jobs", "JobRunner"),
            "RolloutRunner": ("provisioner.serve._rollouts", "RolloutRunner"),
            "tls_file_problems": ("provisioner.serve._tls", "file_problems"),
        },
    )
