"""The status and exception tables every retry decision is made from."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import requests

from activate.http.classify import classify_exception, classify_response, parse_retry_after, transport_error
from activate.http.errors import AuthExpired, AuthFailed, RateLimited, TerminalError, TransientError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (204, None),
        (207, None),
        (304, None),
        (429, RateLimited),
        (401, AuthExpired),
        (408, TransientError),
        (423, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (400, TerminalError),
        (403, AuthFailed),  # a TerminalError: the credentials lack a permission
        (404, TerminalError),
        (422, TerminalError),
    ],
)
def test_status_table(status: int, kind: type[Exception] | None) -> None:
    error = classify_response(status, {}, b'{"message": "why"}', now=NOW)
    if kind is None:
        assert error is None
    else:
        assert type(error) is kind
        assert error is not None
        assert "why" in error.message


def test_429_carries_retry_after_in_seconds_or_as_a_date() -> None:
    seconds = classify_response(429, {"retry-after": "2"}, None, now=NOW)
    dated = classify_response(
        429, {"Retry-After": format_datetime(NOW + timedelta(seconds=7), usegmt=True)}, None, now=NOW
    )
    bare = classify_response(429, {}, None, now=NOW)
    assert isinstance(seconds, RateLimited)
    assert seconds.retry_after == 2
    assert isinstance(dated, RateLimited)
    assert dated.retry_after == 7
    assert isinstance(bare, RateLimited)
    assert bare.retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("100000", 300.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_clamp_is_configurable() -> None:
    assert parse_retry_after("90", now=NOW, max_seconds=60) == 60


def test_a_refused_connection_surely_never_left() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(httpx.ConnectError) as httpx_exc:
        httpx.post(f"http://127.0.0.1:{port}/x", timeout=2)
    with pytest.raises(requests.ConnectionError) as requests_exc:
        requests.post(f"http://127.0.0.1:{port}/x", timeout=2)
    for exc in (httpx_exc.value, requests_exc.value):
        error = classify_exception(exc)
        assert isinstance(error, TransientError)
        assert (error.sent, error.code) == (False, "CONNECT_ERROR")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ReadTimeout("timed out"), "TIMEOUT"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), "CONNECTION_ERROR"),
        (requests.exceptions.ReadTimeout("read timed out"), "TIMEOUT"),
        (ConnectionResetError(104, "Connection reset by peer"), "CONNECTION_ERROR"),
        (TimeoutError("timed out"), "TIMEOUT"),
    ],
)
def test_failures_after_sending_may_have_landed(exc: BaseException, code: str) -> None:
    error = classify_exception(exc)
    assert isinstance(error, TransientError)
    assert (error.sent, error.code) == (True, code)


def test_a_bug_is_not_a_transport_error() -> None:
    assert transport_error(KeyError("oops")) is None
    error = classify_exception(KeyError("oops"))
    assert type(error) is TerminalError
    assert error.code == "UNEXPECTED"


def test_a_writer_error_passes_through() -> None:
    error = RateLimited(retry_after=1)
    assert classify_exception(error) is error
