"""Packages whose heavy public names are imported on first use (provisioner.lazy)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

# Package -> a module its heavy names come from, which importing the package must not load.
LAZY = {
    "provisioner.firmware": "provisioner.firmware._s3",
    "provisioner.notify": "provisioner.notify._target",
    "provisioner.serve": "provisioner.serve._app",
}


@pytest.mark.parametrize("package", sorted(LAZY))
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("package", sorted(LAZY))
def test_an_unknown_name_is_an_attribute_error(package: str) -> None:
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        _ = importlib.import_module(package).nonesuch


@pytest.mark.parametrize(("package", "heavy"), sorted(LAZY.items()))
def test_importing_the_package_leaves_its_heavy_parts(package: str, heavy: str) -> None:
    probe = f"import sys, {package}; print({heavy!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
