"""Firmware and device files: safe ingestion, storage, selection, staged rollout.

Selection, versions and rollout plans (what the resolver and the store use)
are imported at once; ingestion, storage and the firmware library (archives,
the S3 client and lxml) when first named (:mod:`provisioner.lazy`), so a
command that only edits settings does not import them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioner.firmware._rollout import (
    Decision,
    PhoneProgress,
    Plan,
    Report,
    RolloutState,
    RolloutView,
    advance,
    wave_size,
)
from provisioner.firmware._rollout import PhoneState as RolloutPhoneState
from provisioner.firmware._select import (
    FW_PREFIX,
    LABEL,
    LABEL_SETTING,
    UNMANAGED_SETTING,
    FirmwareChoice,
    choose_image,
    derive_version,
    label_note,
    served_path,
)
from provisioner.firmware._version import version_matches
from provisioner.lazy import lazy_names

if TYPE_CHECKING:
    from provisioner.firmware._ingest import (
        ARCHIVE_SUFFIXES,
        Ingested,
        IngestedFile,
        IngestError,
        Limits,
        ingest,
    )
    from provisioner.firmware._library import KINDS, FirmwareLibrary
    from provisioner.firmware._object_storage import MirrorResult, ObjectStorage, storage_from_env
    from provisioner.firmware._storage import FirmwareStorage, LocalStorage, new_key

__all__ = [
    "ARCHIVE_SUFFIXES",
    "FW_PREFIX",
    "KINDS",
    "LABEL",
    "LABEL_SETTING",
    "UNMANAGED_SETTING",
    "Decision",
    "FirmwareChoice",
    "FirmwareLibrary",
    "FirmwareStorage",
    "IngestError",
    "Ingested",
    "IngestedFile",
    "Limits",
    "LocalStorage",
    "MirrorResult",
    "ObjectStorage",
    "PhoneProgress",
    "Plan",
    "Report",
    "RolloutPhoneState",
    "RolloutState",
    "RolloutView",
    "advance",
    "choose_image",
    "derive_version",
    "ingest",
    "label_note",
    "new_key",
    "served_path",
    "storage_from_env",
    "version_matches",
    "wave_size",
]

_INGEST = "provisioner.firmware._ingest"
_LIBRARY = "provisioner.firmware._library"
_OBJECTS = "provisioner.firmware._object_storage"
_STORAGE = "provisioner.firmware._storage"

# Hidden from type checkers, which see the names imported above: a misspelt
# name is an error for them rather than Any.
if not TYPE_CHECKING:
    __getattr__ = lazy_names(
        __name__,
        {
            "ARCHIVE_SUFFIXES": (_INGEST, "ARCHIVE_SUFFIXES"),
            "Ingested": (_INGEST, "Ingested"),
            "IngestedFile": (_INGEST, "IngestedFile"),
            "IngestError": (_INGEST, "IngestError"),
            "Limits": (_INGEST, "Limits"),
            "ingest": (_INGEST, "ingest"),
            "KINDS": (_LIBRARY, "KINDS"),
            "FirmwareLibrary": (_LIBRARY, "FirmwareLibrary"),
            "MirrorResult": (_OBJECTS, "MirrorResult"),
            "ObjectStorage": (_OBJECTS, "ObjectStorage"),
            "storage_from_env": (_OBJECTS, "storage_from_env"),
            "FirmwareStorage": (_STORAGE, "FirmwareStorage"),
            "LocalStorage": (_STORAGE, "LocalStorage"),
            "new_key": (_STORAGE, "new_key"),
        },
    )
