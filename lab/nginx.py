"""What the model deployment's Nginx (in front of Ghost) answers, as pure functions of the request.

The rules follow the model's nginx.conf (docs/nginx.md): `location /ghost` is a
prefix match answered by Nginx itself with its stock 404 page; everything else is proxied to Ghost
through `proxy_cache` (7 days, `proxy_cache_use_stale`), and `X-Cache-Status` reports
`$upstream_cache_status`, which is empty (so the header is absent) when Nginx answered alone.
"""

from __future__ import annotations

import functools
import hashlib
import html
import posixpath
import re
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import unquote

__all__ = [
    "BYPASS_HEADER",
    "HSTS",
    "Reply",
    "Request",
    "Site",
    "blog_reply",
    "error_page",
    "is_admin_path",
    "reason_phrase",
    "redirect_reply",
]

BYPASS_HEADER = "X-Regionwatch-Bypass"
HSTS = "max-age=31536000; includeSubDomains"

# Nginx's own reason phrases where they differ from Python's (ngx_http_special_response.c).
_NGINX_PHRASES = {503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str  # origin-form path and query, as sent
    bypass: bool  # the request carried `X-Regionwatch-Bypass: 1` (the site's proxy_cache_bypass)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Site:
    """One region's deployment: what its responses say about where they came from."""

    region: str
    hostname: str

    @property
    def x_host(self) -> str:
        # Shaped like a pod name; derived from the region so it is stable across lab runs.
        suffix = hashlib.sha256(self.region.encode()).hexdigest()[:5]
        return f"{self.region}-nginx-{suffix}"


def is_admin_path(target: str) -> bool:
    """Whether Nginx's `location /ghost` matches, on the URI normalised as Nginx does."""
    path = unquote(target.partition("?")[0])
    # merge_slashes is on by default and dot segments are resolved before location matching,
    # so `//ghost`, `/./ghost` and `/%67host` all reach the same location.
    path = posixpath.normpath(re.sub("/+", "/", path)) if path.startswith("/") else path
    return path.startswith("/ghost")


def reason_phrase(status: int) -> str:
    """The reason phrase Nginx puts on its status line."""
    return _NGINX_PHRASES.get(status) or HTTPStatus(status).phrase


def error_page(status: int) -> bytes:
    """Nginx's stock error page, byte for byte in shape."""
    title = f"{status} {reason_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


@functools.lru_cache(maxsize=64)
def _blog_page(site: Site) -> bytes:
    region = html.escape(site.region)
    posts = "\n".join(
        f'<article class="post"><h2><a href="/post-{n}/">Notes from the field, part {n}</a></h2>\n'
        f"<p>This page was served from the {region} region. Nginx terminates TLS, caches what "
        "Ghost renders for seven days and keeps serving the cached copy when Ghost is away. "
        "Every region runs the same images, deployed one cluster at a time.</p>\n"
        "<p>Traffic Manager answers DNS queries with the region closest to the reader; when a "
        "region is disabled its readers move to the endpoint covering the parent geography.</p>"
        "</article>"
        for n in range(1, 9)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Lab Blog · {region}</title>\n"
        '<meta name="generator" content="Ghost 0.11">\n</head>\n<body class="home-template">\n'
        f'<header><h1>Lab Blog</h1><p class="region">{region}</p></header>\n<main>\n{posts}\n'
        "</main>\n<footer>Published with Ghost</footer>\n</body>\n</html>\n"
    ).encode()


_EDITOR_PAGE = (
    b'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>Ghost Admin</title>\n'
    b'</head>\n<body>\n<div id="editor" class="gh-app">Ghost editor: sign in to write.</div>\n'
    b"</body>\n</html>\n"
)


def _reply(
    status: int,
    body: bytes,
    *,
    site: Site,
    release: str,
    cache: str | None,
    hsts: bool,
) -> Reply:
    headers = [
        ("Server", "nginx"),
        ("Date", formatdate(usegmt=True)),
        ("Content-Type", "text/html; charset=utf-8" if status == 200 else "text/html"),
        ("Content-Length", str(len(body))),
    ]
    if cache is not None:
        headers.append(("X-Cache-Status", cache))
    headers += [("X-Host", site.x_host), ("X-Release", release)]
    if hsts:
        headers.append(("Strict-Transport-Security", HSTS))
    return Reply(status, headers, body)


def blog_reply(
    request: Request,
    *,
    site: Site,
    release: str,
    hsts: bool = True,
    expose_admin: bool = False,
    error_status: int | None = None,
    origin_down: bool = False,
) -> Reply:
    """The HTTPS answer: the blog through the cache, or Nginx's own 404 for the editor.

    `error_status` (a broken deploy answering 5xx) wins over `origin_down` (Ghost unreachable
    behind a working Nginx).
    """

    def reply(status: int, body: bytes, cache: str | None) -> Reply:
        return _reply(status, body, site=site, release=release, cache=cache, hsts=hsts)

    if is_admin_path(request.target):
        if expose_admin:
            return reply(200, _EDITOR_PAGE, "BYPASS" if request.bypass else "MISS")
        return reply(404, error_page(404), None)
    cacheable = request.method in ("GET", "HEAD") and "?" not in request.target
    # The cache key includes the query string, so a unique query misses the cache.
    cache = "BYPASS" if request.bypass else "HIT" if cacheable else "MISS"
    if error_status is not None:
        return reply(error_status, error_page(error_status), "BYPASS" if request.bypass else "MISS")
    if origin_down:
        if cache == "HIT":
            # proxy_cache_use_stale: the cached copy, even expired, is better than an error.
            return reply(200, _blog_page(site), "STALE")
        # A bypass skips the cache lookup and a miss has nothing cached: no stale copy exists.
        return reply(502, error_page(502), cache)
    return reply(200, _blog_page(site), cache)


def redirect_reply(request: Request, *, site: Site) -> Reply:
    """The plain-HTTP server block: `return 301 https://$server_name$request_uri`."""
    body = error_page(301)
    headers = [
        ("Server", "nginx"),
        ("Date", formatdate(usegmt=True)),
        ("Content-Type", "text/html"),
        ("Content-Length", str(len(body))),
        ("Location", f"https://{site.hostname}{request.target}"),
        ("X-Host", site.x_host),
    ]
    return Reply(301, headers, body)
