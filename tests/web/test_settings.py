"""The network rules (qa/web/settings.py): loopback, uploads, the API key, and the server's settings."""

from __future__ import annotations

from typing import Any

import pytest

from qa.web import settings as network
from qa.web.settings import (
    API_KEY_ENV,
    ServerSettings,
    api_key_from,
    check_exposure,
    is_loopback,
    uploads_allowed,
    uploads_line,
)
from qa.web.server import parse_args


KEY = "k" * 24


def test_uploads_line() -> None:
    assert uploads_line("127.0.0.1") == "uploads: on (loopback)"
    assert uploads_line("0.0.0.0", True) == "uploads: on (--allow-uploads)"
    assert uploads_line("0.0.0.0") == "uploads: off (bound to 0.0.0.0; start with --allow-uploads to enable them)"


def test_api_key_from_the_environment() -> None:
    assert api_key_from({}) is None
    assert api_key_from({API_KEY_ENV: KEY}) == KEY
    with pytest.raises(ValueError, match="QA_API_KEY is set but empty"):
        api_key_from({API_KEY_ENV: "  "})
    with pytest.raises(ValueError, match="QA_API_KEY has 5 characters; use at least 16"):
        api_key_from({API_KEY_ENV: "short"})
    for bad in ("with space in the key 123", "tab\tkey-0123456789abc", "k\u00e9y-0123456789abcdef"):
        with pytest.raises(ValueError, match="QA_API_KEY must be printable ASCII without spaces") as info:
            api_key_from({API_KEY_ENV: bad})
        assert bad not in str(info.value)  # the message never shows the key


def test_the_api_is_not_exposed_without_a_key() -> None:
    check_exposure("127.0.0.1", None)
    check_exposure("0.0.0.0", KEY)
    with pytest.raises(ValueError, match="refusing to serve the API on 0.0.0.0 without a key: set QA_API_KEY"):
        check_exposure("0.0.0.0", None)
    with pytest.raises(ValueError, match="refusing to serve the API on 192.168.1.4 without a key"):
        ServerSettings(host="192.168.1.4")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"port": 0}, "port must be a whole number from 1 to 65535, not 0"),
        ({"workers": 0}, "workers must be a whole number from 1 to 64, not 0"),
        ({"workers": True}, "workers must be a whole number from 1 to 64, not True"),
        ({"max_json_kb": 0}, "max_json_kb must be a whole number from 1 to 1024, not 0"),
        ({"max_upload_mb": 5000}, "max_upload_mb must be a whole number from 1 to 4096, not 5000"),
        ({"index": " "}, "index must be a non-empty location, not ' '"),
        ({"cors_origins": ("example.org",)}, "a CORS origin must be '\\*' or scheme://host\\[:port\\] without a path, not 'example.org'"),
        ({"cors_origins": ("http://a.org/path",)}, "not 'http://a.org/path'"),
        ({"host": ""}, "host must be a non-empty address"),
    ],
)
def test_settings_are_checked_early(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSettings(**fields)


def test_settings_travel_to_workers_without_the_key() -> None:
    settings = ServerSettings(host="0.0.0.0", port=8000, index="idx", api_key=KEY, workers=2, cors_origins=("https://a.org:8443", "*"))
    text = settings.to_json()
    assert KEY not in text and KEY not in repr(settings)
    assert ServerSettings.from_json(text, {API_KEY_ENV: KEY}) == settings
    assert settings.uploads is False and settings.serves_chat is False and ServerSettings().serves_chat is True
    with pytest.raises(ValueError, match="refusing to serve the API on 0.0.0.0 without a key"):
        ServerSettings.from_json(text, {})
    with pytest.raises(ValueError, match="server settings are not JSON"):
        ServerSettings.from_json("{", {})
    with pytest.raises(ValueError, match="server settings must be a JSON object, not list"):
        ServerSettings.from_json("[]", {})
    with pytest.raises(ValueError, match="server settings do not fit"):
        ServerSettings.from_json('{"colour": "red"}', {})


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, ("127.0.0.1", 7860)),
        ([], {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "9000"}, ("0.0.0.0", 9000)),
        (["--host", "::1", "--port", "8001"], {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "9000"}, ("::1", 8001)),
        (["--port", "8002"], {"GRADIO_SERVER_PORT": "9000"}, ("127.0.0.1", 8002)),
        ([], {"GRADIO_SERVER_PORT": ""}, ("127.0.0.1", 7860)),
    ],
)
def test_resolve_address(argv: list[str], env: dict[str, str], expected: tuple[str, int]) -> None:
    assert network.resolve_address(parse_args(argv), env) == expected


@pytest.mark.parametrize(("argv", "env"), [([], {"GRADIO_SERVER_PORT": "http"}), (["--port", "0"], {}), (["--port", "70000"], {})])
def test_resolve_address_rejects_bad_ports(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="port"):
        network.resolve_address(parse_args(argv), env)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("LOCALHOST", True), ("::1", True), ("[::1]", True),
        ("0.0.0.0", False), ("::", False), ("[::]", False), ("192.168.1.20", False), ("10.0.0.1", False),
        ("example.org", False), ("localhost.example.org", False),
    ],
)
def test_uploads_are_on_for_loopback_only_unless_allowed(host: str, loopback: bool) -> None:
    assert network.is_loopback(host) is loopback
    assert network.uploads_allowed(host) is loopback
    assert network.uploads_allowed(host, False) is loopback
    assert network.uploads_allowed(host, True) is True


@pytest.mark.parametrize("host", ["", "  ", None, 7])
def test_upload_rule_rejects_a_missing_host(host: Any) -> None:
    with pytest.raises(ValueError, match="host must be a non-empty address"):
        network.uploads_allowed(host)
