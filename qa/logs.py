"""Logging of the programs (``qa`` and ``qa serve``): one format to stderr, and other libraries kept
at the chosen level.

The package itself only logs (never prints); a program calls :func:`configure_logging` once.  A
library that sets its own logger to DEBUG (bm25s does, at import: "Building index from tokens" on every
build) is held to the chosen level too: a record of a logger outside ``qa`` passes only at that level
or above, whatever level its library gave it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

FORMAT = "%(levelname)s %(name)s: %(message)s"


class OtherLibrariesAtLevel(logging.Filter):
    """Drops records of loggers outside ``qa`` below a level (a handler filter: it sees every record it would print).

    Args:
        level: The lowest level shown for other libraries.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == "qa" or record.name.startswith("qa.")
        return ours or record.levelno >= self.level


def configure_logging(level: int = logging.WARNING, qa_levels: dict[str, int] | None = None, handlers: Iterable[logging.Handler] | None = None) -> None:
    """Log to stderr at ``level``: the program's one logging set-up.

    Args:
        level: The root level; other libraries' records below it are dropped even when their
            library lowered its own logger's level.
        qa_levels: Levels of loggers of the package (``{"qa": logging.INFO}``: the server's
            messages; ``{"qa.documents.ocr": logging.INFO}``: OCR progress of a build).
        handlers: The handlers to filter (None: the root's, made by :func:`logging.basicConfig`).

    Raises:
        ValueError: A name of ``qa_levels`` is not a logger of the package.
    """
    logging.basicConfig(level=level, format=FORMAT)
    for name, wanted in (qa_levels or {}).items():
        if name != "qa" and not name.startswith("qa."):
            raise ValueError(f"qa_levels names loggers of the package (qa, qa.*), not {name!r}")
        logging.getLogger(name).setLevel(wanted)
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, OtherLibrariesAtLevel) for f in handler.filters):
            handler.addFilter(OtherLibrariesAtLevel(level))
