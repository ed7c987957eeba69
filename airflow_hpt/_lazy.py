"""A package's public names, imported from their modules on first use (PEP 562).

So that importing a package stays cheap: Airflow imports ``airflow_hpt`` in every process, and the
local backend's subprocesses (the zygote, a model server) import their own room's package only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, modules: Mapping[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``modules`` maps each module (absolute, or
    relative to the package) to the public names it gives."""
    module_of = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__
