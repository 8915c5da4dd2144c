"""Web chat and JSON API for ``qa``: ask questions, get answers quoted verbatim from the documents.

Usage::

    python app.py [--host 127.0.0.1] [--port 7860] [--index DIR] [--allow-uploads] [--workers N] ...

The same server as ``qa serve`` (:mod:`qa.web.server`): the JSON API under ``/v1`` (schema at
``/openapi.json``, docs at ``/docs``) and the web chat at ``/``.  The engine is loaded once at
start-up (``qa.load(DIR)``; without ``--index`` the bundled article is indexed into
``$QA_INDEX_DIR`` or ``./index`` on first use).  It binds 127.0.0.1 unless told otherwise;
off loopback it needs ``QA_API_KEY`` and uploads need ``--allow-uploads`` (:mod:`qa.web.settings`).

The parts live in the package: argument parsing and serving in :mod:`qa.web.server`, the network
rules in :mod:`qa.web.settings`, the chat page in :mod:`qa.web.chat`, its document actions in
:mod:`qa.web.uploads`, the API in :mod:`qa.web.api`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Load the engine once, then serve the API and the chat until interrupted.

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        The exit status: 0 after a normal shutdown, 1 when the index cannot be loaded or the
        server cannot start, 2 for bad settings.
    """
    from qa.cli import say
    from qa.web.server import main as serve_main

    return serve_main(argv, say, prog="app.py")


if __name__ == "__main__":
    sys.exit(main())
