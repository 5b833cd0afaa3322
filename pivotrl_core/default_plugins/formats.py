"""Built-in trajectory formats, registered through ``pivotrl_register_formats`` like any plugin's."""

from __future__ import annotations

from ..formats.detect import BUILTIN_FORMATS
from ..hookspecs import RegisterFormat, hookimpl


@hookimpl
def pivotrl_register_formats(register: RegisterFormat) -> None:
    for fmt in BUILTIN_FORMATS:
        register(fmt)
