"""Firmware and device files: safe ingestion, storage, selection, staged rollout."""

from provisioner.firmware._ingest import (
    ARCHIVE_SUFFIXES,
    IMAGE_SUFFIXES,
    Ingested,
    IngestedFile,
    IngestError,
    Limits,
    ingest,
)
from provisioner.firmware._library import KINDS, FirmwareLibrary
from provisioner.firmware._select import (
    FW_PREFIX,
    LABEL,
    FirmwareChoice,
    choose_image,
    derive_version,
    served_path,
    version_matches,
)
from provisioner.firmware._storage import FirmwareStorage, LocalStorage, new_key

__all__ = [
    "ARCHIVE_SUFFIXES",
    "FW_PREFIX",
    "IMAGE_SUFFIXES",
    "KINDS",
    "LABEL",
    "FirmwareChoice",
    "FirmwareLibrary",
    "FirmwareStorage",
    "IngestError",
    "Ingested",
    "IngestedFile",
    "Limits",
    "LocalStorage",
    "choose_image",
    "derive_version",
    "ingest",
    "new_key",
    "served_path",
    "version_matches",
]
