"""The `regionwatch` command.

It sits above `monitor/` (the engine), `api/` (the web app) and `lab/` (the sandbox), so the
engine never imports the web framework. Exit codes are a contract (regionwatch/exits.py,
documented in docs/configuration.md, "Exit codes"): `check` exits 0 when every region is
healthy or degraded and no DNS answer is wrong, 1 when a region is failing or unknown or a DNS
answer is mismatch, nxdomain, nodata, servfail or timeout, and 2 when the configuration (or the
command line) is wrong; `deploy` exits 0 when its marker is stored, 1 when the service refused
it or could not be reached, and 2 when the command line is wrong or REGIONWATCH_TOKEN is not
set; `region disable|enable` and `adopt` exit 0 when done (or recorded as dry-run), 1 when
refused, failed, still running or the service unreachable, and 2 like `deploy`. Logs go to
stderr, always: stdout is the command's own output.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor.durations import parse_duration
from monitor.errors import ConfigError, ListenError, StoreError
from monitor.logs import configure_logging
from monitor.release import RELEASE
from monitor.results import Outcome
from regionwatch.exits import EXIT_CONFIG, EXIT_FAILING, EXIT_LISTEN, EXIT_OK, EXIT_STORE

if TYPE_CHECKING:
    from monitor.snapshot import Snapshot

__all__ = ["DEFAULT_SERVICE_URL", "TOKEN_VARIABLE", "main"]

# Where `regionwatch deploy` finds the service and its token: `api.listen`'s default, and the
# variable the example configuration reads `api.token` from.
DEFAULT_SERVICE_URL = "http://127.0.0.1:8000"
TOKEN_VARIABLE = "REGIONWATCH_TOKEN"  # noqa: S105 (a variable's name, not a secret)


def main(argv: Sequence[str] | None = None) -> int:
    # Until a command installs its own stop handling, SIGTERM stops it as Ctrl-C does: a stop
    # asked for while it starts (the imports alone take a second) is a clean exit, not 143.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        return int(args.handler(args))
    except ConfigError as e:
        print(f"configuration error:\n{e}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as e:
        print(f"store error: {e}", file=sys.stderr)
        return EXIT_STORE
    except ListenError as e:
        print(f"regionwatch {args.command}: {e}", file=sys.stderr)
        return EXIT_LISTEN
    except KeyboardInterrupt:
        # Asked to stop before the service or the lab was up: nothing to clean, nothing failed.
        # `check` was cut short: its answer is not "all is well".
        return EXIT_OK if args.command in ("run", "lab") else 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regionwatch",
        description=(
            "Watches a site served from several regions behind Azure Traffic Manager: probes "
            "every region's address directly over HTTPS and judges each region on its own."
        ),
        epilog="New here? Start with `make demo` (or `regionwatch lab`): two regions on "
        "loopback, the service watching them, and a ready configuration to copy. Then write "
        "your own from examples/regionwatch.yaml; every key is in docs/configuration.md.",
    )
    parser.add_argument("--version", action="version", version=f"regionwatch {RELEASE}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the service: scheduled rounds, the API and the dashboard",
        description="Run the service: rounds on schedule, history in the store, and the HTTP "
        "API (/healthz, /readyz, /api/v1/regions, /docs) on api.listen. Stops cleanly, with "
        "exit 0, on SIGTERM or Ctrl-C; exits 3 when the store cannot be used and 4 when the "
        "address cannot be listened on.",
    )
    run.add_argument("--config", required=True, metavar="FILE", help="the YAML configuration")
    run.add_argument(
        "--host",
        type=_host,
        metavar="HOST",
        help="the address to listen on, instead of api.listen's",
    )
    run.add_argument(
        "--port", type=_port, metavar="PORT", help="the port to listen on, instead of api.listen's"
    )
    _logging_options(run, default_format="auto")
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "check",
        help="run one round of every check, print it, and exit 0/1/2",
        description="Run one round of every check (HTTPS per region, Traffic Manager, DNS) and "
        "print the result. Exit status: 0 when every region is healthy or degraded and no DNS "
        "answer is wrong; 1 when a region is failing or unknown, or a DNS answer is mismatch, "
        "nxdomain, nodata, servfail or timeout; 2 when the configuration is wrong.",
    )
    check.add_argument("--config", required=True, metavar="FILE", help="the YAML configuration")
    check.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (docs/contract/check.schema.json)",
    )
    _logging_options(check, default_format="auto")
    check.set_defaults(handler=_check)

    lab = commands.add_parser(
        "lab",
        help="run a two-region sandbox on loopback and the service watching it",
        description="Start the lab: two regional HTTPS origins of blog.example.com on loopback "
        "(westeurope, centralus) with a lab CA, a Traffic Manager emulator and DNS resolvers, "
        "the service probing them, its API and dashboard, and a fault panel under /lab to "
        "deploy a version or break a region. Prints what to try and a configuration to copy; "
        "stops cleanly, removing everything it made, on Ctrl-C or SIGTERM.",
    )
    lab.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="the API's port on 127.0.0.1 (default 8000; 0 picks one)",
    )
    lab.add_argument(
        "--interval",
        type=_lab_interval,
        default=timedelta(seconds=5),
        help="how often each region is probed, and Traffic Manager and DNS read (default 5s, "
        "at least 1s)",
    )
    _logging_options(lab, default_format="console")
    lab.set_defaults(handler=_lab)

    deploy = commands.add_parser(
        "deploy",
        help="mark a deploy of one region on a running service",
        description="Post a deploy marker to a running regionwatch (POST /api/v1/deploys) "
        "after a region's rollout: it opens the region's deploy window, in which fewer failing "
        "rounds are enough to disable it. The bearer token is read from the environment "
        f"variable {TOKEN_VARIABLE} (the service's api.token), never from the command line. "
        "Prints the stored marker. Exit status: 0 when the marker is stored; 1 when the service "
        f"refused it or could not be reached; 2 when the command line is wrong or {TOKEN_VARIABLE} "
        "is not set.",
    )
    deploy.add_argument("--region", required=True, help="the region deployed (a configured one)")
    deploy.add_argument(
        "--version", required=True, help="the release deployed (1-100 printable characters)"
    )
    deploy.add_argument(
        "--url",
        type=_service_url,
        default=DEFAULT_SERVICE_URL,
        help=f"the service's base URL (default {DEFAULT_SERVICE_URL})",
    )
    deploy.add_argument("--note", default=None, help="a note, up to 500 characters")
    deploy.add_argument(
        "--by", default=None, metavar="NAME", help="who deployed, up to 100 characters"
    )
    deploy.set_defaults(handler=_deploy)

    region = commands.add_parser(
        "region",
        help="disable or enable a region's endpoint by hand, on a running service",
        description="A person's command to a running regionwatch: disable or enable one "
        "region's Traffic Manager endpoint, with a reason, recorded in the audit trail with who "
        "asked. A disable passes the same guard rails as regionwatch's own unless --force; a "
        "disabled endpoint stays disabled until a person enables it. The bearer token is read "
        f"from {TOKEN_VARIABLE}. Exit status: 0 done (or recorded as dry-run); 1 refused, "
        f"failed, still running or the service unreachable; 2 the command line is wrong or "
        f"{TOKEN_VARIABLE} is not set.",
    )
    verbs = region.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, what in (
        ("disable", "disable a region's endpoint (the guard rails apply unless --force)"),
        ("enable", "enable a region's endpoint (regionwatch then leaves it in until it recovers)"),
    ):
        command = verbs.add_parser(verb, help=what, description=what[0].upper() + what[1:] + ".")
        command.add_argument("name", metavar="NAME", help="the region (a configured one)")
        _command_options(command)
        command.add_argument(
            "--force",
            action="store_true",
            help="past the guard rails (a disable), and written even outside enforce mode; "
            "recorded as forced",
        )
        command.set_defaults(handler=_region_command)

    adopt = commands.add_parser(
        "adopt",
        help="hand endpoints Disabled in Traffic Manager to regionwatch",
        description="Each named region's endpoint, Disabled in Traffic Manager and not "
        "regionwatch's (a person's, or any after a lost or new store), becomes regionwatch's: "
        "enabled again once its region has recovered. Nothing is written to Traffic Manager; "
        "each adoption is recorded in the audit trail with who and why. Exit status: 0 every "
        "one adopted; 1 one refused (Enabled, or regionwatch's already), failed, or the service "
        f"unreachable; 2 the command line is wrong or {TOKEN_VARIABLE} is not set.",
    )
    adopt.add_argument("names", nargs="+", metavar="NAME", help="the regions (configured ones)")
    _command_options(adopt)
    adopt.set_defaults(handler=_adopt, force=False)
    return parser


def _command_options(command: argparse.ArgumentParser) -> None:
    """What every person's command takes: why, who, and where the service is."""
    command.add_argument("--reason", required=True, help="why, in words (recorded)")
    command.add_argument(
        "--by",
        default=None,
        metavar="WHO",
        help="who asks (default: the user name from the environment)",
    )
    command.add_argument(
        "--url",
        type=_service_url,
        default=None,
        help=f"the service's base URL (default: from --config's api.listen, else "
        f"{DEFAULT_SERVICE_URL})",
    )
    command.add_argument(
        "--config", metavar="FILE", help="the service's configuration, for its api.listen"
    )


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


def _host(text: str) -> str:
    """An IP address or a hostname (whose last label is not a number: `999.1.1.1` is neither)."""
    host = text.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise argparse.ArgumentTypeError(
                f"expected an IP address or a hostname, got {text!r}"
            ) from None
    return host


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


_LEVELS = ["debug", "info", "warning", "error"]


def _logging_options(command: argparse.ArgumentParser, *, default_format: str) -> None:
    """The logging flags every command that logs takes; logs always go to stderr."""
    command.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default=default_format,
        help="JSON lines, readable lines, or auto (JSON unless stderr is a terminal); "
        f"default {default_format}",
    )
    command.add_argument(
        "--log-level",
        choices=_LEVELS,
        default="info",
        help="the least severe of regionwatch's own events to log (default info)",
    )
    command.add_argument(
        "--log-libraries",
        choices=_LEVELS,
        default="warning",
        help="the least severe event to log from the libraries below it: the Azure SDK, "
        "azure-identity and MSAL, httpx, APScheduler, uvicorn's access log (default warning; "
        "info shows every Azure request and response, debug more)",
    )


def _configure_logging(args: argparse.Namespace) -> None:
    configure_logging(
        json={"auto": None, "json": True, "console": False}[args.log_format],
        level=logging.getLevelNamesMapping()[args.log_level.upper()],
        library_level=logging.getLevelNamesMapping()[args.log_libraries.upper()],
    )


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _lab_interval(text: str) -> timedelta:
    interval = _duration(text)
    if interval < timedelta(seconds=1):
        raise argparse.ArgumentTypeError(
            f"expected at least 1s (the shortest interval), got {text}"
        )
    return interval


def _service_url(text: str) -> str:
    """An http(s) URL with a host and nothing that could carry a credential: the token comes
    from the environment, and the URL is printed in messages. Never quoted in the error."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError("expected an http or https URL with a host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            "expected a URL without a user name, password, query or fragment (the token comes "
            f"from {TOKEN_VARIABLE})"
        )
    return text.rstrip("/")


def _deploy(args: argparse.Namespace) -> int:
    from regionwatch.deploy import DeployRefused, post_deploy

    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        print(
            f"regionwatch deploy: {TOKEN_VARIABLE} is not set: export the service's api.token "
            "as it (never on the command line, where ps would show it)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        marker = asyncio.run(
            post_deploy(
                args.url,
                token,
                region=args.region,
                version=args.version,
                note=args.note,
                by=args.by,
            )
        )
    except DeployRefused as e:
        print(f"regionwatch deploy: {e}", file=sys.stderr)
        return EXIT_FAILING
    print(marker)
    return EXIT_OK


def _region_command(args: argparse.Namespace) -> int:
    return _post_commands(args, args.verb, [args.name])


def _adopt(args: argparse.Namespace) -> int:
    return _post_commands(args, "adopt", args.names)


def _post_commands(args: argparse.Namespace, action: str, names: Sequence[str]) -> int:
    """Post `action` for each of `names`, in order; one line each (stdout when done, stderr
    when not)."""
    from regionwatch.region import ServiceRefused, post_command

    command = "adopt" if action == "adopt" else f"region {action}"
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        print(
            f"regionwatch {command}: {TOKEN_VARIABLE} is not set: export the service's api.token "
            "as it (never on the command line, where ps would show it)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    by = args.by or _user_name()
    if not by:
        print(
            f"regionwatch {command}: no user name in the environment: say who asks with --by",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    url = args.url or _url_of(args.config)
    code = EXIT_OK
    for name in names:
        try:
            outcome = asyncio.run(
                post_command(
                    url,
                    token,
                    action=action,
                    region=name,
                    reason=args.reason,
                    by=by,
                    force=args.force,
                )
            )
        except ServiceRefused as e:
            print(f"regionwatch {command}: {e}", file=sys.stderr)
            return EXIT_FAILING
        if outcome.ok:
            print(outcome.line)
        else:
            print(f"regionwatch {command}: {outcome.line}", file=sys.stderr)
            code = EXIT_FAILING
    return code


def _user_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME, USER or password entry: a bare container
        return ""


def _url_of(config_file: str | None) -> str:
    """The service's URL from its configuration's `api.listen` (an address that listens on
    every interface is reached on loopback), else the default."""
    if config_file is None:
        return DEFAULT_SERVICE_URL
    from monitor.config import load_config

    api = load_config(config_file).api
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(api.host, api.host)  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{api.port}"


def _check(args: argparse.Namespace) -> int:
    # Imported here: the probes, the Azure SDK and DNS take a second to load, which
    # `--help` and `--version` need not wait for.
    from monitor.config import load_config
    from monitor.report import check_passed
    from monitor.service import build_service

    _configure_logging(args)  # before anything can log: stdout is the report's alone
    config = load_config(args.config)

    async def once() -> Snapshot:
        async with build_service(config, once=True) as service:
            return await service.run_once()

    snapshot = asyncio.run(once())
    if args.json:
        print(json.dumps(check_document(snapshot), indent=2))
    else:
        print(_render(snapshot))
    return EXIT_OK if check_passed(snapshot) else EXIT_FAILING


def check_document(snapshot: Snapshot) -> dict[str, Any]:
    """The document `regionwatch check --json` prints (docs/contract/check.schema.json): the
    regions and DNS answers in the API's shapes, and the round's Traffic Manager read (its
    error when it failed; the regions then have no `traffic_manager` view)."""
    from api.models import dns_answer_out, region_out, traffic_manager_read_out

    tm = snapshot.traffic_manager
    read = traffic_manager_read_out(tm.latest) if tm is not None else None
    return {
        "regions": [
            region_out(v, snapshot.policy).model_dump(mode="json")
            for v in snapshot.regions.values()
        ],
        "dns": [
            dns_answer_out(f).model_dump(mode="json")
            for f in (snapshot.dns.findings if snapshot.dns is not None else ())
        ],
        "traffic_manager": read.model_dump(mode="json") if read is not None else None,
    }


_MARKS = {Outcome.UP: "ok  ", Outcome.DOWN: "FAIL", Outcome.ERROR: "ERR "}


def _render(snapshot: Snapshot) -> str:
    lines = []
    tm = snapshot.traffic_manager
    if tm is not None and tm.latest is not None and tm.latest.error is not None:
        lines.append(f"traffic manager: could not read: {tm.latest.error}")
    for region in snapshot.regions.values():
        verdict = region.verdict
        lines.append(f"{region.name}: {verdict.status.value}")
        view = region.endpoint
        if view is not None and view.state is not None:
            monitor = view.state.monitor_status
            lines.append(
                f"  traffic manager: {view.endpoint} {view.state.endpoint_status.value}, "
                f"monitor {monitor.value if monitor is not None else 'unknown'}"
            )
        for note in view.findings if view is not None else ():
            lines.append(f"  note: {note}")
        for result in verdict.results:
            latency = f"{result.latency_ms:7.1f} ms" if result.latency_ms is not None else " " * 10
            detail = result.reason
            if result.outcome is Outcome.DOWN:
                detail = f"{detail} [{result.on_failure.value}]"
            lines.append(
                f"  {_MARKS[result.outcome]} {result.check:<20} {latency}  {detail}".rstrip()
            )
    findings = snapshot.dns.findings if snapshot.dns is not None else ()
    if findings:
        lines.append("dns:")
    for finding in findings:
        where = finding.answer.resolver + (
            f" as {finding.answer.vantage}" if finding.answer.vantage else ""
        )
        sent_to = finding.region or ", ".join(finding.answer.addresses) or "-"
        detail = f"  ({finding.reason})" if finding.reason else ""
        lines.append(f"  {finding.status.value:<9} {where:<28} → {sent_to}{detail}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    # The configuration first: a wrong one ends the command before the web stack is imported.
    config = load_config(args.config)

    from api.app import create_app
    from api.listener import bind_listener
    from api.server import run_service

    _configure_logging(args)
    host = config.api.host if args.host is None else args.host
    port = config.api.port if args.port is None else args.port
    try:
        # Bound before the service starts: a busy port ends the command before any round runs.
        listener = bind_listener(host, port)
        asyncio.run(run_service(create_app(config), listener))
    except (StoreError, ListenError) as e:
        # Either names a configured value (storage.path, api.listen) that may come from ${VAR}.
        raise type(e)(config.scrubbed(str(e))) from None
    return EXIT_OK


def _lab(args: argparse.Namespace) -> int:
    from lab.sandbox import LabSettings, run_lab

    _configure_logging(args)
    asyncio.run(run_lab(LabSettings(port=args.port, interval=args.interval)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
