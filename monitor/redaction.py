"""URLs made safe to show: credentials and query values never leave the process.

A DoH URL such as `https://user:pass@dns.example/dns-query?apikey=...` is configuration that
may carry secrets (often through `${ENV}`). Wherever a URL can leave the code (a probe's
reason, an error, an API document, a log line, ours or a library's), it goes through here first.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

__all__ = ["HIDDEN", "RedactUrls", "redact_url", "redact_urls", "safe_url"]

HIDDEN = "***"
# A URL in free text: a scheme, `://`, then anything up to whitespace, a quote or a bracket.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")
_TRAILING = ".,;:!?)]}"


def redact_url(url: str) -> str:
    """`url` with its userinfo and every query value (and any fragment) replaced by `***`;
    scheme, host, port and path are kept. Text that is not a URL comes back unchanged."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        return _crude(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    if "@" in parts.netloc:
        netloc = f"{HIDDEN}@{netloc}"
    query = "&".join(_hide_value(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, HIDDEN if parts.fragment else ""))


def safe_url(url: str) -> str:
    """The part of a URL that may be shown where even its path may be a secret (a webhook's
    is): scheme, host and port."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def redact_urls(text: str) -> str:
    """`text` with every URL in it redacted (see `redact_url`)."""
    if "://" not in text:
        return text
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    stripped = url.rstrip(_TRAILING)
    return redact_url(stripped) + url[len(stripped) :]


def _hide_value(pair: str) -> str:
    key, equals, _ = pair.partition("=")
    # A bare `?token` may be the secret itself: only `key=value` keeps its key.
    return f"{key}={HIDDEN}" if equals else (HIDDEN if key else "")


def _crude(url: str) -> str:
    """A URL urlsplit refuses: hide everything after the scheme's host part."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split("?", 1)[0]
    return f"{scheme}://{HIDDEN}@{host}/{HIDDEN}" if rest else url


class RedactUrls(logging.Filter):
    """Redacts URLs in every record passing the handler it is installed on, so that no library
    (httpx, httpcore, azure, urllib3), at any level, can print a credential.

    Records of the standard library have their message rendered, redacted and frozen (with the
    traceback, when there is one); structlog's records have their string values and
    traceback redacted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            record.msg = self._event(record.msg)
            return True
        message = redact_urls(record.getMessage())
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            message = f"{message}\n{redact_urls(trace)}"
            record.exc_info = None
        record.exc_text = None
        record.msg, record.args = message, None
        return True

    @staticmethod
    def _event(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("exc_info"):
            # Rendered here, as structlog would later, so that the traceback is redacted too.
            event = dict(structlog.processors.format_exc_info(None, "", dict(event)))
        return {key: _scrub(value) for key, value in event.items()}


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item) for item in value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    return value
