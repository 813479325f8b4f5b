"""`python -m regionwatch.healthcheck`: the container image's HEALTHCHECK, without curl.

It asks the service in the same container for `/livez` and exits 0 when it answers 200 within
the timeout, and 1 otherwise (not listening, another status, too slow), with one line on stderr
saying why; 1 is what container runtimes read as unhealthy. The URL is the environment
variable REGIONWATCH_HEALTHCHECK_URL, default `http://127.0.0.1:8000/livez` (the image's
`api.listen` of `0.0.0.0:8000`); an http URL on loopback only, as it never leaves the
container. It uses the standard library alone and blocks: it is a short-lived process of its
own, started by the runtime every interval, that should not pay for importing the service.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from regionwatch.exits import EXIT_FAILING, EXIT_OK

__all__ = ["DEFAULT_URL", "TIMEOUT_SECONDS", "URL_VARIABLE", "Unhealthy", "check", "main"]

URL_VARIABLE = "REGIONWATCH_HEALTHCHECK_URL"
DEFAULT_URL = "http://127.0.0.1:8000/livez"
TIMEOUT_SECONDS = 3.0


class Unhealthy(Exception):
    """Why the service is not taken for alive, in one line."""


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> None:
    """Return when GET `url` answers 200 within `timeout` seconds; raise Unhealthy otherwise."""
    parts = urlsplit(url)
    try:
        port = parts.port or 80
        loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback or parts.username or parts.password:
        # Not quoted: whatever it is, it is not what this check may send a request to.
        raise Unhealthy(
            f"{URL_VARIABLE} must be an http URL on a loopback address, without credentials, "
            f"such as {DEFAULT_URL}"
        )
    connection = http.client.HTTPConnection(parts.hostname or "", port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/", headers={"Connection": "close"})
        status = connection.getresponse().status
    except TimeoutError:
        raise Unhealthy(f"{url} did not answer within {timeout:g}s") from None
    except (OSError, http.client.HTTPException) as e:
        raise Unhealthy(f"{url} could not be asked: {e.__class__.__name__}: {e}") from None
    finally:
        connection.close()
    if status != 200:
        raise Unhealthy(f"{url} answered {status}, not 200")


def main(environ: Mapping[str, str] = os.environ) -> int:
    url = environ.get(URL_VARIABLE) or DEFAULT_URL
    try:
        check(url)
    except Unhealthy as e:
        print(f"regionwatch healthcheck: {e}", file=sys.stderr)
        return EXIT_FAILING
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
