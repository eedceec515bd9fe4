"""The model catalog: phone families, models, files and settings, loaded from TOML."""

from provisioner.catalog._catalog import Catalog, builtin_template_dir, expand_path
from provisioner.catalog._model import (
    CheckSync,
    Family,
    FileDef,
    FilePer,
    FirmwareDef,
    ImageRule,
    ModelDef,
    OutputFormat,
    Preset,
    RawNamespace,
    UploadDef,
    UserAgentRule,
)

__all__ = [
    "Catalog",
    "CheckSync",
    "Family",
    "FileDef",
    "FilePer",
    "FirmwareDef",
    "ImageRule",
    "ModelDef",
    "OutputFormat",
    "Preset",
    "RawNamespace",
    "UploadDef",
    "UserAgentRule",
    "builtin_template_dir",
    "expand_path",
]
