"""Network rules of the server: where it binds, who may write, and when the API needs a key.

* Uploads and removals (the chat's and the API's) are on when the server is bound to the
  loopback interface, else only with ``--allow-uploads`` (:func:`uploads_allowed`).
* ``QA_API_KEY`` (a secret, so an environment variable) guards every ``/v1`` request when set;
  bound to any other address than loopback the server refuses to start without it
  (:func:`check_exposure`).
* Whoever may write through the API is the only one who may write through the chat: bound off
  loopback with uploads on, the chat (its page, its ``/chat`` endpoint and Gradio's upload route)
  is behind a login whose password is the API key (:func:`chat_login`).  On loopback the chat is
  open, as the API is without a key; off loopback with uploads off it is open and read-only.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_TOP_K = 5
"""Passages retrieved per question by the chat and the API unless the request says otherwise."""
MAX_TOP_K = 10
"""The most passages a chat or API request may ask for."""
API_KEY_ENV = "QA_API_KEY"
"""Environment variable holding the API's bearer key."""
MIN_API_KEY_CHARS = 16
"""A shorter key is refused at start-up (it could be guessed)."""
MAX_WORKERS = 64
DEFAULT_MAX_JSON_KB = 64
"""Largest JSON request body of the API (KiB): a question is cut at 2,000 characters anyway."""
DEFAULT_MAX_UPLOAD_MB = 200
"""Largest upload request of the API (MiB, all files together; each file at most 50 MiB)."""
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def is_loopback(host: str) -> bool:
    """Whether a bind address is the loopback interface only.

    ``localhost`` and any address in 127.0.0.0/8 or ``::1`` (with or without
    brackets) are loopback; ``0.0.0.0``, ``::``, other addresses and other host
    names are not.

    Args:
        host: The address the server binds.

    Returns:
        True for a loopback address.

    Raises:
        ValueError: ``host`` is not a non-empty string.
    """
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host must be a non-empty address, not {host!r}")
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def uploads_allowed(host: str, allow_uploads: bool = False) -> bool:
    """The network rule for uploads: on when bound to loopback, else only with ``--allow-uploads``.

    Args:
        host: The address the server binds.
        allow_uploads: The ``--allow-uploads`` flag.

    Returns:
        True when the chat and the API may add and remove documents.

    Raises:
        ValueError: ``host`` is not a non-empty string.
    """
    return is_loopback(host) or bool(allow_uploads)


def uploads_line(host: str, allow_uploads: bool = False) -> str:
    """The start-up line saying whether uploads are on, and why.

    Args:
        host: The address the server binds.
        allow_uploads: The ``--allow-uploads`` flag.

    Returns:
        ``uploads: on (loopback)``, ``uploads: on (--allow-uploads)`` or ``uploads: off (...)``.
    """
    if is_loopback(host):
        return "uploads: on (loopback)"
    if allow_uploads:
        return "uploads: on (--allow-uploads)"
    return f"uploads: off (bound to {host}; start with --allow-uploads to enable them)"


CHAT_LOGIN_MESSAGE = "This server accepts uploads: sign in with any user name and the server's API key (QA_API_KEY) as the password."
"""Shown on the chat's login page (see :func:`chat_login`)."""


def chat_login(host: str, uploads: bool, api_key: str | None) -> Callable[[str, str], bool] | None:
    """The chat's login check: on a network bind with uploads on, the API key is the password.

    The API asks every ``/v1`` request for the key off loopback; the chat, which can add and
    remove documents too, asks for it once, at its login page (any user name).  Gradio then
    refuses its upload route, its queue and its ``/chat`` endpoint to a browser that has not
    signed in.

    Args:
        host: The address the server binds.
        uploads: Whether documents may be added and removed (:func:`uploads_allowed`).
        api_key: The API key (always set off loopback: :func:`check_exposure`).

    Returns:
        ``check(user_name, password)`` comparing the password with the key in constant time, or None
        when the chat needs no login (loopback, or uploads off).

    Raises:
        ValueError: A login is needed and there is no key.
    """
    if is_loopback(host) or not uploads:
        return None
    if not api_key:
        raise ValueError(f"the chat on {host} with uploads on needs {API_KEY_ENV}: it is the chat's password")
    key = api_key.encode()

    def check(user_name: str, password: str) -> bool:
        return isinstance(password, str) and hmac.compare_digest(password.encode("utf-8", "replace"), key)

    return check


def resolve_address(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, int]:
    """Pick the host and port: the flags, else ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``, else the defaults.

    Args:
        args: Parsed command line (``host`` and ``port``, None when not given).
        env: Environment variables.

    Returns:
        ``(host, port)``.

    Raises:
        ValueError: The port is not an integer in 1-65535.
    """
    host = args.host or env.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    if args.port is not None:
        port = args.port
    else:
        raw = env.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
        try:
            port = int(raw)
        except ValueError:
            raise ValueError(f"GRADIO_SERVER_PORT must be a port number, not {raw!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be between 1 and 65535, not {port}")
    return host, port


def api_key_from(env: Mapping[str, str]) -> str | None:
    """The API key from ``QA_API_KEY``; None when it is not set.

    Args:
        env: Environment variables.

    Returns:
        The key, or None.

    Raises:
        ValueError: The variable is set but blank, has white space or control characters, or is
            shorter than ``MIN_API_KEY_CHARS`` (the message never shows the key).
    """
    key = env.get(API_KEY_ENV)
    if key is None:
        return None
    if not key.strip():
        raise ValueError(f"{API_KEY_ENV} is set but empty: set it to a secret of at least {MIN_API_KEY_CHARS} characters, or unset it")
    if any(ch.isspace() or not ch.isprintable() for ch in key) or not key.isascii():
        raise ValueError(f"{API_KEY_ENV} must be printable ASCII without spaces (it is sent in an HTTP header)")
    if len(key) < MIN_API_KEY_CHARS:
        raise ValueError(f"{API_KEY_ENV} has {len(key)} characters; use at least {MIN_API_KEY_CHARS} (for example: openssl rand -hex 24)")
    return key


def check_exposure(host: str, api_key: str | None) -> None:
    """Refuse to serve the API beyond the loopback interface without a key.

    Args:
        host: The address the server binds.
        api_key: The configured key, or None.

    Raises:
        ValueError: ``host`` is not loopback and no key is set (the message says how to fix it).
    """
    if api_key is None and not is_loopback(host):
        raise ValueError(
            f"refusing to serve the API on {host} without a key: set {API_KEY_ENV} to a secret "
            f"(clients send 'Authorization: Bearer <key>'), or bind to {DEFAULT_HOST}"
        )


@dataclass(frozen=True)
class ServerSettings:
    """How the server runs: address, index, who may write, the API's key and limits.

    Attributes:
        host: Address to bind.
        port: Port to bind.
        index: Index location passed as is to :func:`qa.load` and :func:`qa.add_documents`
            (a folder, or a store location they accept); None: ``$QA_INDEX_DIR`` or ``./index``.
        allow_uploads: ``--allow-uploads``: add and remove documents even off loopback.
        api_key: The bearer key every ``/v1`` request needs (None: no key); never shown in ``repr``.
        workers: Server processes answering on the one index.
        chat: Mount the web chat at ``/`` (only with one worker: Gradio's queue lives in one process).
        cors_origins: Origins allowed to call the API from a browser (none: CORS off).
        max_json_kb: Largest JSON request body, in KiB.
        max_upload_mb: Largest upload request, in MiB.
        reader: Answer with the shipped reader model (True), the reader folder at this path, or the
            sentence scorer alone (False).

    Raises:
        ValueError: A value out of range, a malformed origin, or a non-loopback host without a key
            (see :func:`check_exposure`).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    index: str | None = None
    allow_uploads: bool = False
    api_key: str | None = field(default=None, repr=False)
    workers: int = 1
    chat: bool = True
    cors_origins: tuple[str, ...] = ()
    max_json_kb: int = DEFAULT_MAX_JSON_KB
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    reader: bool | str = True

    def __post_init__(self) -> None:
        is_loopback(self.host)  # raises for an empty host
        for name, low, high in (("port", 1, 65535), ("workers", 1, MAX_WORKERS), ("max_json_kb", 1, 1024), ("max_upload_mb", 1, 4096)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
        if self.index is not None and (not isinstance(self.index, str) or not self.index.strip()):
            raise ValueError(f"index must be a non-empty location, not {self.index!r}")
        for origin in self.cors_origins:
            if origin != "*" and not (isinstance(origin, str) and _ORIGIN.match(origin)):
                raise ValueError(f"a CORS origin must be '*' or scheme://host[:port] without a path, not {origin!r}")
        check_exposure(self.host, self.api_key)

    @property
    def uploads(self) -> bool:
        """Whether documents may be added and removed (:func:`uploads_allowed`)."""
        return uploads_allowed(self.host, self.allow_uploads)

    @property
    def chat_login(self) -> Callable[[str, str], bool] | None:
        """The chat's login check (:func:`chat_login`); None when the chat is open."""
        return chat_login(self.host, self.uploads, self.api_key)

    @property
    def serves_chat(self) -> bool:
        """Whether the web chat is mounted: asked for, and one worker."""
        return self.chat and self.workers == 1

    def to_json(self) -> str:
        """The settings as JSON for the worker processes, without the key (they read it from the environment)."""
        fields = asdict(self)
        fields.pop("api_key")
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str, env: Mapping[str, str]) -> ServerSettings:
        """Settings written by :meth:`to_json`, with the key read from ``env`` again.

        Args:
            text: What :meth:`to_json` returned.
            env: Environment variables (``QA_API_KEY``).

        Returns:
            The settings.

        Raises:
            ValueError: Malformed JSON or settings, or a bad key.
        """
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"server settings are not JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise ValueError(f"server settings must be a JSON object, not {type(fields).__name__}")
        fields["cors_origins"] = tuple(fields.get("cors_origins") or ())
        try:
            return cls(**fields, api_key=api_key_from(env))
        except TypeError as exc:
            raise ValueError(f"server settings do not fit: {exc}") from None
