"""Firmware and device files: safe ingestion, storage, selection, staged rollout."""

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
from provisioner.firmware._storage import FirmwareStorage, LocalStorage, new_key
from provisioner.firmware._version import version_matches

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
