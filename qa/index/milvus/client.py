"""The connection to Milvus (Lite or a server): one pymilvus client per location, with its round trips counted
and its failures turned into :class:`qa.QAError` s that say what to do (see :mod:`qa.index.milvus.store`)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence

from qa.errors import IndexNotFoundError, IndexUnavailableError, QAError
from qa.index.location import TOKEN_ENV, Location

logger = logging.getLogger(__name__)

LOAD_BATCH = 4_000
"""Rows per page when reading a whole collection."""


class _KnownNoise(logging.Filter):
    """Drops two log records Milvus Lite makes on every normal use: it has no ``AllocTimestamp``
    call (pymilvus asks for it when an index is created, and its in-process gRPC server logs a
    traceback), so the record iterator warns that it uses the client's clock instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("failed to get mvccTs" in text or text.startswith("Exception calling application: Method not implemented"))


_NOISE = _KnownNoise()


def _quiet_lite_logs() -> None:
    for name in ("pymilvus.client.iterator.query_iterator", "grpc._server"):
        target = logging.getLogger(name)
        if _NOISE not in target.filters:
            target.addFilter(_NOISE)


def collection_names(collection: str) -> dict[str, str]:
    """The four collection names of an index named ``collection``."""
    return {part: f"{collection}_{part}" for part in ("documents", "passages", "sentences", "words")}


class Connection:
    """A pymilvus client for one location that counts its round trips.

    Args:
        where: A Milvus location (Lite or server).
        timeout: Seconds to wait for a server.
        create: Create a Milvus Lite directory (and its parent folders) that does not exist yet.

    Raises:
        IndexNotFoundError: A Milvus Lite directory that does not exist (without ``create``).
        IndexUnavailableError: The server cannot be reached or refuses the token, or the Lite directory is open in another process.
    """

    def __init__(self, where: Location, timeout: float = 10.0, create: bool = False) -> None:
        from pymilvus import MilvusClient

        if where.kind == "lite" and not where.path.exists():
            if not create:
                raise IndexNotFoundError(
                    f"no Milvus Lite index at {where.uri!r}; build one with `qa index DOCS --index {where}`, or check the path"
                )
            where.path.parent.mkdir(parents=True, exist_ok=True)
        if where.kind == "lite":
            _quiet_lite_logs()
        self.where = where
        self.names = collection_names(where.collection)
        self.round_trips = 0
        self._loaded = False
        self._lock = threading.Lock()
        token = os.environ.get(TOKEN_ENV, "") if where.kind == "server" else ""
        try:
            self.client = MilvusClient(uri=where.uri, token=token, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - pymilvus and milvus-lite raise several kinds
            raise self.unavailable(exc, connecting=True) from None

    def unavailable(self, exc: BaseException, connecting: bool = False) -> QAError:
        """The :class:`QAError` for a failed connection or call, saying how to fix it."""
        text = f"{type(exc).__name__}: {exc}"
        chain, cause = [], exc
        while cause is not None and len(chain) < 5:
            chain.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__ or cause.__context__
        if self.where.kind == "lite":
            if any("lock" in c.lower() for c in chain) or (connecting and _locked(self.where.path)):
                return IndexUnavailableError(
                    f"Milvus Lite directory {self.where.uri!r} is open in another process ({text}); only one process may open it: "
                    f"serve it with `milvus-lite server --data-dir {self.where.uri} --host 127.0.0.1 --port 19530` and use "
                    "--index http://127.0.0.1:19530"
                )
            if connecting:
                return IndexUnavailableError(f"cannot open Milvus Lite directory {self.where.uri!r} ({text}); check the path")
            return IndexUnavailableError(f"Milvus Lite at {self.where.uri!r} refused a request ({text}); this may be a bug in qa, please report it")
        return IndexUnavailableError(
            f"cannot use the Milvus server at {self.where.uri!r} ({text}); check that it runs and is reachable, and that "
            f"${TOKEN_ENV} holds its token (user:password or an API key) when it needs one"
        )

    def call(self, method: str, *args: object, **kwargs: object) -> object:
        """Call a client method (one round trip), turning connection and authentication failures into :class:`QAError`."""
        with self._lock:
            self.round_trips += 1
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except QAError:
            raise
        except Exception as exc:  # noqa: BLE001
            if "released" not in str(exc) or method == "load_collection":
                raise self.unavailable(exc) from None
        # the server (or Lite's) restarted and released the collections: load them, try once more
        logger.info("collections of %s were released; loading them again", self.where)
        for name in self.names.values():
            self.call("load_collection", name)
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise self.unavailable(exc) from None

    def fetch(self, part: str, keys: Sequence[str], output_fields: list[str], key_field: str = "pk") -> list[dict]:
        """The rows of ``part`` (``"documents"``, ``"passages"``, ...) with these primary keys, in one query.

        (pymilvus' ``get`` quotes keys itself and fails on a backslash or a newline; :func:`quote` escapes them.)
        """
        if not keys:
            return []
        expr = f"{key_field} in [{', '.join(quote(k) for k in keys)}]"
        return list(self.call("query", self.names[part], filter=expr, output_fields=[key_field, *output_fields]))  # type: ignore[call-overload]

    def rows(self, collection: str, output_fields: list[str], filter: str = "") -> Iterator[dict]:
        """Every row of a collection matching ``filter``, page by page."""
        with self._lock:
            self.round_trips += 1
        try:
            iterator = self.client.query_iterator(collection, batch_size=LOAD_BATCH, filter=filter, output_fields=output_fields)
        except Exception as exc:  # noqa: BLE001
            raise self.unavailable(exc) from None
        try:
            while True:
                with self._lock:
                    self.round_trips += 1
                batch = iterator.next()
                if not batch:
                    return
                yield from batch
        finally:
            iterator.close()

    def exists(self) -> bool:
        """Whether the index's collections exist (all four); they are loaded, once per connection, when they do.

        (Milvus keeps a collection released after a restart, and Milvus Lite after the process
        that opened its directory ended: it must be loaded before a query.)
        """
        present = set(self.call("list_collections"))  # type: ignore[arg-type]
        if not all(name in present for name in self.names.values()):
            return False
        if not self._loaded:
            for name in self.names.values():
                self.call("load_collection", name)
            self._loaded = True
        return True

    def close(self) -> None:
        """Close the client."""
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing twice, or a client that never connected
            pass


def _locked(directory: os.PathLike[str]) -> bool:
    """Whether another process holds Milvus Lite's lock on a data directory (its ``LOCK`` file)."""
    import fcntl

    try:
        fd = os.open(os.path.join(directory, "LOCK"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


_SHARED: dict[tuple[str, str, str, str], Connection] = {}
_SHARED_LOCK = threading.Lock()


def shared_connection(where: Location) -> Connection:
    """The connection loaded indexes of ``where`` share in this process (one client, not one per reload).

    Raises:
        IndexNotFoundError, IndexUnavailableError: See :class:`Connection`.
    """
    token = os.environ.get(TOKEN_ENV, "") if where.kind == "server" else ""
    key = (where.kind, where.uri, where.collection, token)
    with _SHARED_LOCK:
        conn = _SHARED.get(key)
        if conn is None:
            conn = _SHARED[key] = Connection(where)
        return conn
