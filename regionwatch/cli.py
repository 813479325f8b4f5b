"""The `regionwatch` command.

It sits above `monitor/` (the engine), `api/` (the web app) and `lab/` (the sandbox), so the
engine never imports the web framework. Exit codes are a contract (regionwatch/exits.py,
documented in docs/configuration.md, "Exit codes"): `check` exits 0 when every region is
healthy or degraded and no DNS answer is wrong, 1 when a region is failing or unknown or a DNS
answer is mismatch, nxdomain, nodata, servfail or timeout, and 2 when the configuration (or the
command line) is wrong (with `--config-only` it only validates the configuration: 0 or 2);
`deploy` exits 0 when its marker is stored, 1 when the service refused it or could not be
reached, and 2 when the command line is wrong or REGIONWATCH_TOKEN is not set; `replay`
exits 0 when it ran, 2 when the configuration or the command line is wrong, and 3 when the
store cannot be read. The operator controls (`region pin|unpin`, `silence`,
`pause`, `resume`) exit the same way as `deploy`; `region disable|enable` and `adopt` exit 0
when done (or recorded as dry-run), 1 when refused, failed, still running or the service
unreachable, and 2 like `deploy`. `alert-test` exits 0 when the channel's receiver took the
test alert, 1 when it refused it or could not be reached, and 2 when the configuration is
wrong or names no such channel. Logs go to stderr, always: stdout is the command's own
output.
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
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
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
        "nxdomain, nodata, servfail or timeout; 2 when the configuration is wrong. With "
        "--config-only, only load and validate the configuration: exit 0 when it is valid, 2 "
        "when it is not.",
    )
    check.add_argument("--config", required=True, metavar="FILE", help="the YAML configuration")
    output = check.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (docs/contract/check.schema.json)",
    )
    output.add_argument(
        "--config-only",
        action="store_true",
        help="only load and validate the configuration, as at start: nothing is probed, read "
        "or opened on the network, and the store is not touched (a Kubernetes init container)",
    )
    _logging_options(check, default_format="auto")
    check.set_defaults(handler=_check)

    lab = commands.add_parser(
        "lab",
        help="run a two-region sandbox on loopback and the service watching it",
        description="Start the lab: two regional HTTPS origins of blog.example.com on loopback "
        "(westeurope, centralus) with a lab CA, a Traffic Manager emulator and DNS resolvers, "
        "the service probing them, its API and dashboard, and a fault panel under /lab to "
        "deploy a version or break a region. With --vantage-points N, N services watch it "
        "from N loopback addresses: vp1 decides, the others observe, and one vantage point's "
        "path can be cut. Prints what to try and a configuration to copy; stops cleanly, "
        "removing everything it made, on Ctrl-C or SIGTERM.",
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
    lab.add_argument(
        "--vantage-points",
        type=_vantage_points,
        default=1,
        metavar="N",
        help="how many instances watch the lab, each probing from its own loopback address: "
        "vp1 decides (the dashboard, on --port), vp2..vpN observe, each on a free port, and "
        "a network failure counts only when more than half see it (default 1: the decider "
        f"alone; at most {_MAX_VANTAGE_POINTS})",
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

    replay = commands.add_parser(
        "replay",
        help="run the failover policy over the stored history with a candidate configuration",
        description="Replay the stored history (rounds, Traffic Manager reads, deploy markers, "
        "pins, silences and pauses, a person's commands, the outcomes of actions) through the "
        "failover policy with the configuration given, and print what it would have done and "
        "why, where that differs from what was decided, and a person's commands by hand. "
        "Reads the store (storage.path, or --store) without writing it: it can run beside the "
        "running service. Exit status: 0 when it ran; 2 when the configuration or the command "
        "line is wrong; 3 when the store cannot be read.",
    )
    replay.add_argument(
        "--config", required=True, metavar="FILE", help="the candidate YAML configuration"
    )
    replay.add_argument(
        "--since",
        type=_moment,
        default=timedelta(days=7),
        metavar="WHEN",
        help="where the replay starts: a duration back from now (7d, 12h) or an ISO 8601 time "
        "(default 7d)",
    )
    replay.add_argument(
        "--until",
        type=_moment,
        default=None,
        metavar="WHEN",
        help="where it ends, the same way (default: the end of the history)",
    )
    replay.add_argument(
        "--store",
        metavar="PATH",
        help="the store to replay, instead of the configuration's storage.path",
    )
    replay.add_argument("--json", action="store_true", help="print one JSON document")
    _logging_options(replay, default_format="auto")
    replay.set_defaults(handler=_replay)

    alert_test = commands.add_parser(
        "alert-test",
        help="send one test alert to a channel of `alerts` and print its receiver's answer",
        description="Send one sample alert (a region.failing about the first configured region, "
        "marked as a test) to the channel named, once, without retries, and print what its "
        "receiver answered. Exit status: 0 when it was delivered; 1 when the receiver refused "
        "it, timed out or could not be reached; 2 when the configuration is wrong or names no "
        "such channel.",
    )
    alert_test.add_argument("--config", required=True, metavar="FILE", help="the configuration")
    alert_test.add_argument(
        "--channel", required=True, metavar="NAME", help="the name of a channel of `alerts`"
    )
    _logging_options(alert_test, default_format="auto")
    alert_test.set_defaults(handler=_alert_test)

    doctor = commands.add_parser(
        "doctor",
        help="check the configuration, the live Traffic Manager profile and the site for traps",
        description="Before going live: read the Traffic Manager profile, probe each region "
        "once and read the store (without writing it), and report the traps that would keep "
        "failover from working, each with what to do (docs/doctor.md). Exit status: 0 when no "
        "problem was found (notices may be printed); 1 when a problem (warning or critical) "
        "was found; 2 when the configuration is wrong.",
    )
    doctor.add_argument("--config", required=True, metavar="FILE", help="the YAML configuration")
    doctor.add_argument("--json", action="store_true", help="print one JSON document")
    _logging_options(doctor, default_format="auto")
    doctor.set_defaults(handler=_doctor)
    _add_controls(commands)
    return parser


# --- operator controls: each command posts to the running service's API ----------------------

_Call = Callable[[argparse.Namespace, str, str], Coroutine[Any, Any, str]]


def _add_controls(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    region = commands.add_parser(
        "region",
        help="act on one region of a running service: disable, enable, pin, unpin",
        description="Operator commands about one region, posted to a running regionwatch. "
        f"The bearer token is read from {TOKEN_VARIABLE} (the service's api.token). Exit "
        f"status: 0 when done; 1 when the service refused or could not be reached; 2 when the "
        f"command line is wrong or {TOKEN_VARIABLE} is not set.",
    )
    actions = region.add_subparsers(dest="region_command", metavar="ACTION", required=True)
    _add_region_pin(actions)
    _add_region_unpin(actions)
    _add_region_command(
        actions, "disable", "disable a region's endpoint (the guard rails apply unless --force)"
    )
    _add_region_command(
        actions,
        "enable",
        "enable a region's endpoint (regionwatch then leaves it in until it recovers)",
    )
    _add_adopt(commands)
    _add_silence(commands)
    _add_pause(commands)
    _add_resume(commands)


def _add_region_pin(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pin = _region_action(
        actions,
        "pin",
        "hold a region where it is for a while: no automatic decision about it",
    )
    _reason_option(pin, required=True)
    pin.add_argument("--for", dest="lasting", required=True, help="how long, such as 2h (≤ 7d)")

    async def run(args: argparse.Namespace, url: str, token: str) -> str:
        from regionwatch import controls

        return await controls.pin(
            url, token, args.name, reason=args.reason, lasting=args.lasting, by=args.by
        )

    pin.set_defaults(handler=_control(run))


def _add_region_unpin(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    unpin = _region_action(actions, "unpin", "end a region's pin: it is judged again at once")
    _reason_option(unpin, required=True)

    async def run(args: argparse.Namespace, url: str, token: str) -> str:
        from regionwatch import controls

        return await controls.unpin(url, token, args.name, reason=args.reason, by=args.by)

    unpin.set_defaults(handler=_control(run))


def _add_region_command(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], verb: str, what: str
) -> None:
    """`region disable|enable NAME`: a person's command, carried out like regionwatch's own
    and recorded with who asked."""
    command = _region_action(actions, verb, what)
    _reason_option(command, required=True)
    command.add_argument(
        "--force",
        action="store_true",
        help="past the guard rails (a disable), and written even outside enforce mode; "
        "recorded as forced",
    )
    command.set_defaults(handler=lambda args: _post_commands(args, verb, [args.name]))


def _add_adopt(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _reason_option(adopt, required=True)
    _service_options(adopt)
    adopt.set_defaults(handler=lambda args: _post_commands(args, "adopt", args.names), force=False)


def _post_commands(args: argparse.Namespace, action: str, names: Sequence[str]) -> int:
    """Post `action` for each of `names`, in order; one line each (stdout when done, stderr
    when not), and exit 1 when any was not done."""
    from regionwatch.client import ServiceRefused
    from regionwatch.region import post_command

    command = "adopt" if action == "adopt" else f"region {action}"
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        print(
            f"regionwatch {command}: {TOKEN_VARIABLE} is not set: export the service's api.token "
            "as it (never on the command line, where ps would show it)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    url = _url_of(args)
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
                    by=args.by,
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


def _region_action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str, what: str
) -> argparse.ArgumentParser:
    """One `regionwatch region ACTION NAME` command, with the options every control takes."""
    action = actions.add_parser(
        name, help=what, description=f"{what[0].upper()}{what[1:]}. Prints the stored record."
    )
    action.add_argument("name", metavar="NAME", help="the region (a configured one)")
    _service_options(action)
    return action


def _add_silence(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    silence = commands.add_parser(
        "silence",
        help="silence a region for a while, list the silences, or end one",
        description="`silence NAME --reason R --for 2h`: the region is neither acted on nor "
        "alerted on, and /healthz answers 200 for it, until the silence ends. `silence --list` "
        "prints the silences in force; `silence --end ID` ends one. The bearer token is read "
        f"from {TOKEN_VARIABLE}. Exit status: 0 when done; 1 when the service refused or could "
        "not be reached; 2 when the command line is wrong or the token is not set.",
    )
    silence.add_argument("name", metavar="NAME", nargs="?", help="the region to silence")
    silence.add_argument("--for", dest="lasting", help="how long, such as 2h (at most 7d)")
    _reason_option(silence, required=False)
    what = silence.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="list the silences in force")
    what.add_argument("--end", metavar="ID", help="end the silence with this id")
    _service_options(silence)

    async def run(args: argparse.Namespace, url: str, token: str) -> str:
        from regionwatch import controls

        if args.end:
            return await controls.end_silence(url, token, args.end, reason=args.reason, by=args.by)
        return await controls.silence(
            url, token, args.name, reason=args.reason, lasting=args.lasting, by=args.by
        )

    async def listed(args: argparse.Namespace, url: str, token: str) -> str:
        from regionwatch import controls

        return await controls.list_silences(url, token or None)

    write = _control(run)
    read = _control(listed, token_required=False)

    def handler(args: argparse.Namespace) -> int:
        if args.list:
            return read(args)
        if not args.end and not (args.name and args.reason and args.lasting):
            silence.error("silencing needs NAME, --reason and --for (or use --list or --end ID)")
        return write(args)

    silence.set_defaults(handler=handler)


def _add_pause(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pause = commands.add_parser(
        "pause",
        help="pause failover: no write to Traffic Manager at all (break-glass)",
        description="Stop every write to Traffic Manager at once, a decision already taken "
        "included, until `regionwatch resume` (or --for). The bearer token is read from "
        f"{TOKEN_VARIABLE}. Exit status: 0 when paused; 1 when the service refused or could "
        "not be reached; 2 when the command line is wrong or the token is not set.",
    )
    _reason_option(pause, required=True)
    pause.add_argument("--for", dest="lasting", help="how long, such as 1h (at most 7d)")
    _service_options(pause)

    async def run(args: argparse.Namespace, url: str, token: str) -> str:
        from regionwatch import controls

        return await controls.pause(
            url, token, reason=args.reason, lasting=args.lasting, by=args.by
        )

    pause.set_defaults(handler=_control(run))


def _add_resume(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    resume = commands.add_parser(
        "resume",
        help="end the pause: decisions due are taken on the evidence as it stands",
        description="End the failover pause; every region is judged again at once. Exit "
        "status: 0 when resumed; 1 when the service refused (not paused) or could not be "
        "reached; 2 when the command line is wrong or the token is not set.",
    )
    _reason_option(resume, required=False)
    _service_options(resume)

    async def run(args: argparse.Namespace, url: str, token: str) -> str:
        from regionwatch import controls

        return await controls.resume(url, token, reason=args.reason, by=args.by)

    resume.set_defaults(handler=_control(run))


def _reason_option(command: argparse.ArgumentParser, *, required: bool) -> None:
    command.add_argument("--reason", required=required, help="why, in words (recorded)")


def _service_options(command: argparse.ArgumentParser) -> None:
    """Where the service is and who asks: the options every operator command takes."""
    command.add_argument(
        "--url",
        type=_service_url,
        default=None,
        help=f"the service's base URL (default: the configuration's api.listen with --config, "
        f"else {DEFAULT_SERVICE_URL})",
    )
    command.add_argument(
        "--config", metavar="FILE", help="the service's configuration, for its api.listen"
    )
    command.add_argument(
        "--by",
        default=_actor(),
        metavar="NAME",
        help="who asks, recorded with it (default: $USER@hostname)",
    )


def _actor() -> str:
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "someone"
    return f"{user}@{socket.gethostname()}"


def _control(run: _Call, *, token_required: bool = True) -> Callable[[argparse.Namespace], int]:
    """The handler of an operator command: the service's URL, the token from the environment,
    one call, its record printed, and the exit codes of `deploy`."""

    def handler(args: argparse.Namespace) -> int:
        name = args.command if args.command != "region" else f"region {args.region_command}"
        token = os.environ.get(TOKEN_VARIABLE, "")
        if token_required and not token:
            print(
                f"regionwatch {name}: {TOKEN_VARIABLE} is not set: export the service's "
                "api.token as it (never on the command line, where ps would show it)",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        from regionwatch.client import ServiceRefused

        try:
            line = asyncio.run(run(args, _url_of(args), token))
        except ServiceRefused as e:
            print(f"regionwatch {name}: {e}", file=sys.stderr)
            return EXIT_FAILING
        print(line)
        return EXIT_OK

    return handler


def _url_of(args: argparse.Namespace) -> str:
    """--url, else the configuration's api.listen (a wildcard address as loopback), else the
    default."""
    if args.url is not None:
        return str(args.url)
    if args.config is None:
        return DEFAULT_SERVICE_URL
    from monitor.config import load_config

    api = load_config(args.config).api
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(api.host, api.host)  # noqa: S104 (read, not bound)
    return f"http://{f'[{host}]' if ':' in host else host}:{api.port}"


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


def _moment(text: str) -> timedelta | datetime:
    """A duration back from now (`7d`), or an ISO 8601 time (UTC when it names no zone)."""
    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 7d or 12h, or an ISO 8601 time, got {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _lab_interval(text: str) -> timedelta:
    interval = _duration(text)
    if interval < timedelta(seconds=1):
        raise argparse.ArgumentTypeError(
            f"expected at least 1s (the shortest interval), got {text}"
        )
    return interval


# The lab's own bound (lab.vantagepoints.MAX_VANTAGE_POINTS): `--help` must not import the lab.
_MAX_VANTAGE_POINTS = 5


def _vantage_points(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= _MAX_VANTAGE_POINTS:
        raise argparse.ArgumentTypeError(
            f"expected a number from 1 to {_MAX_VANTAGE_POINTS}, got {text!r}"
        )
    return int(text)


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
    from regionwatch.client import ServiceRefused
    from regionwatch.deploy import post_deploy

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
    except ServiceRefused as e:
        print(f"regionwatch deploy: {e}", file=sys.stderr)
        return EXIT_FAILING
    print(marker)
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from monitor.config import load_config
    from monitor.replay import replay
    from regionwatch.replay import in_words, render, report_document

    _configure_logging(args)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"regionwatch replay: {e}", file=sys.stderr)
        return EXIT_CONFIG
    now = datetime.now(UTC)
    since = now - args.since if isinstance(args.since, timedelta) else args.since
    until = now - args.until if isinstance(args.until, timedelta) else args.until
    if until is not None and until <= since:
        print("regionwatch replay: --until must be later than --since", file=sys.stderr)
        return EXIT_CONFIG
    store = Path(args.store) if args.store is not None else None
    try:
        report = asyncio.run(replay(config, since=since, until=until, store=store))
    except StoreError as e:
        raise StoreError(config.scrubbed(str(e))) from None
    if args.json:
        print(json.dumps(report_document(report), indent=2))
    else:
        period = (
            f"in the last {in_words(args.since)}"
            if isinstance(args.since, timedelta)
            else f"since {since:%Y-%m-%d %H:%M:%S} UTC"
        )
        print(render(report, period=period))
    return EXIT_OK


def _alert_test(args: argparse.Namespace) -> int:
    from monitor.alerts.channels import build_notifier
    from monitor.alerts.notifier import NotifyError
    from monitor.config import load_config
    from monitor.redaction import safe_url
    from regionwatch.alerttest import sample_alert

    _configure_logging(args)
    config = load_config(args.config)
    channel = next((c for c in config.alerts if c.name == args.channel), None)
    if channel is None:
        names = ", ".join(c.name for c in config.alerts) or "none: `alerts` is empty"
        print(
            f"regionwatch alert-test: no channel named {args.channel!r} in alerts "
            f"(channels: {names})",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    where = f"{channel.type} {channel.name} ({safe_url(channel.target)})"

    async def send() -> None:
        from monitor.clock import SystemClock

        notifier = build_notifier(channel, SystemClock())
        try:
            await notifier.send(sample_alert(config, channel.name))
        finally:
            await notifier.aclose()

    try:
        asyncio.run(send())
    except NotifyError as e:
        # A test is one attempt: what the service would retry is reported, not retried.
        then = "the service would try again" if e.retryable else "the service would not retry"
        print(f"regionwatch alert-test: not delivered: {e}; {then}", file=sys.stderr)
        return EXIT_FAILING
    print(f"{where}: delivered (the receiver accepted the test alert)")
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.doctor import diagnose, gather, is_problem
    from regionwatch.doctor import document, render

    _configure_logging(args)  # before anything can log: stdout is the report's alone
    config = load_config(args.config)
    findings = diagnose(asyncio.run(gather(config)))
    print(json.dumps(document(findings), indent=2) if args.json else render(findings))
    return EXIT_FAILING if any(is_problem(f) for f in findings) else EXIT_OK


def _check(args: argparse.Namespace) -> int:
    # Imported here: the probes, the Azure SDK and DNS take a second to load, which
    # `--help` and `--version` need not wait for.
    from monitor.config import load_config
    from monitor.report import check_passed
    from monitor.service import build_service

    _configure_logging(args)  # before anything can log: stdout is the report's alone
    config = load_config(args.config)
    if args.config_only:
        print(f"{args.config}: the configuration is valid (nothing was probed)")
        return EXIT_OK

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
    regions and DNS answers in the API's shapes, the round's Traffic Manager read (its
    error when it failed; the regions then have no `traffic_manager` view), and the warnings
    about the configuration as `/readyz` details them."""
    from api.models import dns_answer_out, region_out, traffic_manager_read_out, warning_out

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
        "warnings": [warning_out(w).model_dump(mode="json") for w in snapshot.warnings],
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
    settings = LabSettings(
        port=args.port, interval=args.interval, vantage_points=args.vantage_points
    )
    asyncio.run(run_lab(settings))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
