"""Installed package versions, read cheaply (recorded in manifests and cache keys)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

QA_VERSION = "0.2.0"
"""The version of qa (``qa.__version__``), recorded in every manifest: another version's index is rebuilt or refused."""


def installed_versions(names: Sequence[str]) -> dict[str, str]:
    """Installed versions of distributions, read from ``*.dist-info`` folder names (no import).

    Much faster than ``importlib.metadata`` for a handful of names; falls back to
    it for anything not found that way.
    """
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "_", name).lower()

    wanted = {norm(n): n for n in names}
    found: dict[str, str] = {}
    for entry in sys.path:
        if len(found) == len(wanted):
            break
        if not entry or not os.path.isdir(entry):  # the working directory, zip files
            continue
        try:
            scan = os.scandir(entry)
        except OSError:
            continue
        with scan:
            for item in scan:
                if not item.name.endswith(".dist-info"):
                    continue
                name, _, version = item.name[: -len(".dist-info")].partition("-")
                key = norm(name)
                if key in wanted and wanted[key] not in found:
                    found[wanted[key]] = version
    missing = [n for n in names if n not in found]
    if missing:
        import importlib.metadata

        for name in missing:
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                found[name] = "none"
    return found
