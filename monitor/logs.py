"""Structured logging: JSON lines in production, readable lines on a terminal, always on stderr.

regionwatch's own events are logged at `level`. The libraries under it (the Azure SDK, httpx,
MSAL, APScheduler, uvicorn's access log) would log every HTTP request, response header and job
run at INFO, drowning those events, so they are held at `library_level` (WARNING by default;
`--log-libraries info` or `debug` brings their detail back).

azure-identity and MSAL are held higher unless their detail is asked for: a failed token is
an exception regionwatch reports on its own line with the cause (`traffic_manager_read_failed`),
while they would add azure-identity's many-line warning and, for a token answer that is not
JSON, MSAL's traceback at ERROR quoting the whole answer, at every read.
"""

from __future__ import annotations

import logging
import sys

import structlog

from monitor.redaction import RedactUrls

__all__ = ["LIBRARY_LOGGERS", "configure_logging"]

# The third-party loggers held at `library_level`; a logger's children follow it.
LIBRARY_LOGGERS = (
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "httpx",
    "httpcore",
    "msal",
    "urllib3",
    "apscheduler",
    "uvicorn.access",
)
# Held at least this high while `library_level` is WARNING or above (see the module's doc).
_REPORTED_BY_REGIONWATCH = {"azure.identity": logging.ERROR, "msal": logging.CRITICAL}


def configure_logging(
    *, json: bool | None = None, level: int = logging.INFO, library_level: int = logging.WARNING
) -> None:
    """Route structlog and the standard library through one renderer on stderr: our events
    from `level` up, the libraries' (LIBRARY_LOGGERS) from `library_level` up (azure-identity's
    from ERROR and MSAL's from CRITICAL unless `library_level` is below WARNING). `json=None`
    picks JSON unless stderr is a terminal. Nothing is ever written to stdout, which belongs
    to the command's own output (`check --json`)."""
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.addFilter(RedactUrls())  # no URL credential in any line, whoever logs it
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in LIBRARY_LOGGERS:
        held = _REPORTED_BY_REGIONWATCH.get(name, library_level)
        detail = library_level < logging.WARNING
        logging.getLogger(name).setLevel(library_level if detail else max(library_level, held))
