"""The model catalog: phone families, models, files and settings, loaded from TOML."""

from provisioner.catalog._catalog import (
    Catalog,
    builtin_firmware_suffixes,
    builtin_template_dir,
    expand_path,
)
from provisioner.catalog._content_types import (
    BINARY_CONTENT_TYPE,
    FORMAT_CONTENT_TYPES,
    content_type_of,
)
from provisioner.catalog._model import (
    CheckSync,
    DhcpOption,
    DhcpValue,
    Family,
    FileDef,
    FilePer,
    FirmwareDef,
    ImageRule,
    KeysDef,
    ModelDef,
    ModuleDef,
    OutputFormat,
    Preset,
    RawNamespace,
    UploadDef,
    UserAgentRule,
    WarningRule,
)

__all__ = [
    "BINARY_CONTENT_TYPE",
    "FORMAT_CONTENT_TYPES",
    "Catalog",
    "CheckSync",
    "DhcpOption",
    "DhcpValue",
    "Family",
    "FileDef",
    "FilePer",
    "FirmwareDef",
    "ImageRule",
    "KeysDef",
    "ModelDef",
    "ModuleDef",
    "OutputFormat",
    "Preset",
    "RawNamespace",
    "UploadDef",
    "UserAgentRule",
    "WarningRule",
    "builtin_firmware_suffixes",
    "builtin_template_dir",
    "content_type_of",
    "expand_path",
]
