"""Serving phones: one gateway behind HTTP(S), TFTP and FTP, with an in-memory cache."""

from provisioner.serve._access import access_from, transport_refusal
from provisioner.serve._app import Server
from provisioner.serve._config import RESTART_ONLY, ServeConfig
from provisioner.serve._config import problems as config_problems
from provisioner.serve._gateway import Gateway, UploadTicket
from provisioner.serve._jobs import JobRunner
from provisioner.serve._model import Fetch, Protocol, Reply, ServedFile, Status
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
