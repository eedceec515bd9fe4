"""Firmware and device files: safe ingestion of uploads into verified file sets."""

from provisioner.firmware._ingest import (
    ARCHIVE_SUFFIXES,
    IMAGE_SUFFIXES,
    Ingested,
    IngestedFile,
    IngestError,
    Limits,
    ingest,
)

__all__ = [
    "ARCHIVE_SUFFIXES",
    "IMAGE_SUFFIXES",
    "IngestError",
    "Ingested",
    "IngestedFile",
    "Limits",
    "ingest",
]
