"""Serving phones: one gateway behind HTTP(S), TFTP and FTP, with an in-memory cache."""

from provisioner.serve._access import access_from, transport_refusal
from provisioner.serve._app import ServeConfig, Server
from provisioner.serve._gateway import Gateway, UploadTicket
from provisioner.serve._jobs import JobRunner
from provisioner.serve._model import Fetch, Protocol, Reply, ServedFile, Status
from provisioner.serve._rollouts import RolloutRunner

__all__ = [
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
    "transport_refusal",
]
