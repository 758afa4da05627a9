"""Importing a format's optional library, or a clear error naming the file and the fix."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import InputError

INSTALL_COMMAND = 'pip install "extractkit[documents]"'


def require(module: str, package: str, what: str, path: str) -> ModuleType:
    """``import module``; if it is missing, an :class:`InputError` naming ``path``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"{path}: reading {what} needs {package}, which is not installed; "
            f"install it with: {INSTALL_COMMAND}",
            path=path,
        ) from None
