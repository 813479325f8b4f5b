"""A wrong configuration through real `regionwatch check` and `regionwatch run` processes: exit 2,
the file and the key (or line) named, no traceback, and `run` stops before binding its port.

Each case is a configuration that once escaped as a traceback and exit 1 (or passed silently);
the value rules share a file per section, as one process reports all of a stage's problems.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from processes import run_cli

SECRET = "hunter2-Zx9"
SITE = "site: {hostname: blog.example.com}\n"


def held(port: int) -> str:
    return f"api: {{listen: '127.0.0.1:{port}'}}\n"


def string_bomb() -> str:
    """480 KB: a string of `$$` under 90 times 90 aliases, as found (minutes, 1.8 GB)."""
    refs, lists = ", ".join(["*s"] * 90), ", ".join(["*l"] * 90)
    return f"vantage:\n  s: &s '{'x$$' * 160_000}'\n  l: &l [{refs}]\n  m: [{lists}]\n"


def shared_long_path(requests: int, length: int) -> str:
    """`requests` requests sharing one wrong path of `length` characters through an alias."""
    others = ", ".join(f"{{name: r{i}, path: *p}}" for i in range(1, requests))
    first = f"{{name: r0, path: &p '{'x' * length}'}}"
    return f"checks: {{https: {{requests: [{first}, {others}]}}}}\n"


def alias_bomb() -> str:
    lines = ["  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "vantage:\n" + "\n".join(lines) + "\n"


BASE = SITE + "regions: {westeurope: {address: 127.0.0.2}}\n"

# name → (the file's bytes for a held port, the lines stderr must hold, FILE standing for the path)
CASES: dict[str, tuple[Callable[[int], bytes], list[str]]] = {
    "duplicate-key": (
        lambda port: (
            BASE
            + f"api:\n  token: t0ken\n  listen: '127.0.0.1:{port}'\n"
            + "api: {listen: '0.0.0.0:1'}\n"
        ).encode(),
        ["FILE: api: duplicate key: first at line 3, again at line 6"],
    ),
    "not-utf8": (
        lambda port: (BASE + held(port)).encode() + "# café\n".encode("latin-1"),
        ["FILE: line 4, column 6: not UTF-8 text (byte 0xe9); save the file as UTF-8"],
    ),
    "deep-nesting": (
        lambda port: (BASE + held(port) + "vantage: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
        ["FILE: line 4, column 41: nested deeper than 32 levels"],
    ),
    "alias-bomb": (
        lambda port: (BASE + held(port) + alias_bomb()).encode(),
        [
            "FILE: line 9, column 7: its YAML aliases (*name) expand to more than 10,000 values; "
            "write the shared values out, or share smaller blocks"
        ],
    ),
    "string-alias-bomb": (
        lambda port: (BASE + held(port) + string_bomb()).encode(),
        [
            "FILE: line 6, column 6: its YAML aliases (*name) expand to more than 1 MiB of text; "
            "write the shared values out, or share smaller blocks"
        ],
    ),
    "long-values": (
        lambda port: (
            f"site: {{hostname: {'x' * 480_000}}}\n"
            + "regions: {westeurope: {address: 127.0.0.2}}\n"
            + held(port)
            + shared_long_path(200, 2000)
        ).encode(),
        [
            "FILE: site.hostname: expected a DNS hostname such as blog.example.com, got "
            f"'{'x' * 80}…' (480,000 characters)",
            *(
                f"FILE: checks.https.requests[{i}].path: expected a path starting with / and "
                f"without spaces, got '{'x' * 80}…' (2,000 characters)"
                for i in range(49)
            ),
            "FILE: and 151 more problems",
        ],
    ),
    "utf16-without-bom": (
        lambda port: (BASE + held(port)).encode("utf-16-le"),
        ["FILE: the file looks like UTF-16 text without a byte-order mark; save it as UTF-8"],
    ),
    "values-refused-at-load": (
        lambda port: (
            SITE
            + "regions: {westeurope: {address: 0.0.0.0}}\n"
            + held(port)
            + "checks:\n  https: {max_body: 100000000000000}\n  dns: {interval: 1ms, timeout: 1ms}\n"
            + "traffic_manager: {subscription_id: '', resource_group: g, profile: p, "
            "resource_manager_url: 'https://127.0.0.1/?sig=ARMSIG77'}\n"
            + "deploys: {version_header: 'bad header'}\n"
        ).encode(),
        [
            "FILE: regions.westeurope.address: expected the address of one host, got '0.0.0.0' "
            "(the unspecified address means any address of this machine, not a host)",
            "FILE: checks.https.max_body: expected less than or equal to 16777216, got "
            "100000000000000",
            "FILE: checks.dns.interval: expected a duration of at least 1s, got 1ms",
            "FILE: traffic_manager.subscription_id: expected a name that is not empty and has no "
            "/ and no spaces (it goes into the Azure Resource Manager path), got ''",
            "FILE: traffic_manager.resource_manager_url: expected an https URL such as "
            "https://management.azure.com (it has a query string (?...); give the scheme, host, "
            "port and path only)",
            "FILE: deploys.version_header: expected an HTTP header name (letters, digits and "
            "!#$%&'*+-.^_`|~, no spaces or colons), got 'bad header'",
        ],
    ),
    "duration-overflow": (
        lambda port: (
            BASE + held(port) + "checks:\n  https:\n    interval: 9999999999d\n"
            "    requests: [{name: home, expect: {min_cert_days: -30}}]\n"
        ).encode(),
        [
            "FILE: checks.https.interval: expected a duration of at most 3650d, got '9999999999d'",
            "FILE: checks.https.requests[0].expect.min_cert_days: "
            "expected greater than or equal to 0, got -30",
        ],
    ),
    "values-late-failures": (
        lambda port: (
            SITE
            + "regions: {westeurope: {address: 999.1.1.1, port: '${AZURE_CLIENT_SECRET}'}}\n"
            + held(port)
            + "checks:\n  https: {jitter: 20s}\n  dns:\n    resolvers:\n"
            "      - {name: cf, protocol: doh, url: 'http://1.1.1.1/dns-query'}\n"
            "      - {name: lo, protocol: doh, url: 'https://[::1/dns-query'}\n"
            "traffic_manager: {subscription_id: s, resource_group: g, profile: p, "
            "resource_manager_url: management.azure.com}\n"
            "peers: [{name: eu, url: observer}]\n"
        ).encode(),
        [
            "FILE: regions.westeurope.address: expected an IP address or a hostname, got "
            "'999.1.1.1' (an IPv4 address is four numbers from 0 to 255, and a name cannot end "
            "in a number)",
            "FILE: regions.westeurope.port: expected a whole number, got the value of "
            "${AZURE_CLIENT_SECRET}",
            "FILE: checks.https.jitter: expected less than the interval (10s, the default; set "
            "checks.https.interval), got 20s",
            "FILE: checks.dns.resolvers[0].url: expected an https URL such as "
            "https://1.1.1.1/dns-query (its scheme is http)",
            "FILE: checks.dns.resolvers[1].url: expected an https URL such as "
            "https://1.1.1.1/dns-query (it is malformed: Invalid IPv6 URL)",
            "FILE: traffic_manager.resource_manager_url: expected an https URL such as "
            "https://management.azure.com (it has no scheme)",
            "FILE: peers[0].url: expected an http or https URL such as "
            "https://observer.example.com:8000 (it has no scheme)",
            "FILE: peers[0].token: required key is missing",
        ],
    ),
    "defaults-and-listen": (
        lambda port: (
            BASE + "checks: {https: {interval: 2s}}\nstorage: {retention: .inf}\n"
            "api: {listen: 18510}\n"
        ).encode(),
        [
            "FILE: checks.https.timeout: expected at most the interval (2s), got 5s (the default; "
            "set checks.https.timeout)",
            "FILE: api.listen: expected host:port such as 127.0.0.1:8000, got 18510",
            "FILE: storage.retention: expected a duration of at most 3650d, got inf",
        ],
    ),
}


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port this test listens on: a `run` that got as far as binding would fail
    with its own error (and exit code), not the configuration's."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


async def regionwatch(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI with a secret in its environment. Held to the environment credential: a file
    that got through by mistake must not set azure-identity trying a managed-identity endpoint
    off this machine."""
    secret = {"AZURE_CLIENT_SECRET": SECRET, "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential"}
    return await run_cli(*args, env={**secret, **(env or {})})


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize("case", sorted(CASES))
async def test_check_and_run_exit_2_naming_the_file_and_key(
    tmp_path: Path, held_port: int, case: str
) -> None:
    """`check` and `run` alike: exit 2, each problem on its own line with the file and the key
    or line, nothing on stdout, no traceback, no secret; `run` exits before binding (a bind
    would fail on the port the file names, which this test holds)."""
    content, expected = CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(content(held_port))
    cpu_before = children_cpu()
    commands = ("check", "run")
    # Both at once: two cores, half the wall-clock time of this parametrised test.
    results = await asyncio.gather(*(regionwatch(c, "--config", str(path)) for c in commands))
    for command, (code, out, err) in zip(commands, results, strict=True):
        assert (code, out) == (2, ""), f"{command}: {err}"
        assert "Traceback" not in err, command
        assert SECRET not in err, command
        lines = err.splitlines()
        assert lines[0] == "configuration error:", command
        assert [line.replace(str(path), "FILE") for line in lines[1:]] == expected, command
    if case in ("alias-bomb", "string-alias-bomb"):
        # Both interpreters' start-up included; expanding the aliases once took 80 s of CPU,
        # and interpolating the string bomb's copies more than 300 s.
        assert children_cpu() - cpu_before < 20


async def test_check_and_run_refuse_a_named_pipe_without_waiting(tmp_path: Path) -> None:
    """`--config` naming a named pipe once blocked forever, waiting for a writer: exit 2 at
    once, naming what the path is."""
    pipe = tmp_path / "config.yaml"
    os.mkfifo(pipe)
    commands = ("check", "run")
    results = await asyncio.gather(*(regionwatch(c, "--config", str(pipe)) for c in commands))
    for command, (code, out, err) in zip(commands, results, strict=True):
        assert (code, out) == (2, ""), f"{command}: {err}"
        assert err.splitlines() == [
            "configuration error:",
            f"{pipe}: expected a regular file, got a named pipe; give the path of the YAML file",
        ], command


async def test_run_names_the_variable_when_the_store_cannot_be_created(tmp_path: Path) -> None:
    """`storage.path: /proc/${AZURE_CLIENT_SECRET}/x.db` once printed the secret in the store
    error: exit 3, with `${AZURE_CLIENT_SECRET}` where the value was."""
    path = tmp_path / "config.yaml"
    path.write_text(
        BASE
        + "api: {listen: '127.0.0.1:0'}\nstorage: {path: '/proc/${AZURE_CLIENT_SECRET}/x.db'}\n",
        encoding="utf-8",
    )
    code, out, err = await regionwatch("run", "--config", str(path), "--log-level", "error")
    assert (code, out) == (3, ""), err
    assert SECRET not in err
    assert "Traceback" not in err
    assert err.splitlines() == [
        "store error: the store at /proc/${AZURE_CLIENT_SECRET}/x.db cannot be created, nor its "
        "folder (No such file or directory): create /proc/${AZURE_CLIENT_SECRET}, writable by "
        "regionwatch's user, or set storage.path to another file"
    ]


async def test_run_names_the_variable_when_it_cannot_listen(tmp_path: Path, held_port: int) -> None:
    """`api.listen: ${REGIONWATCH_LISTEN}` on a port in use: exit 4, naming the variable, not
    the address it held."""
    path = tmp_path / "config.yaml"
    path.write_text(BASE + "api: {listen: '${REGIONWATCH_LISTEN}'}\n", encoding="utf-8")
    address = f"127.0.0.1:{held_port}"
    code, out, err = await regionwatch(
        "run", "--config", str(path), env={"REGIONWATCH_LISTEN": address}
    )
    assert (code, out) == (4, ""), err
    assert address not in err
    assert err.splitlines() == [
        "regionwatch run: cannot listen on ${REGIONWATCH_LISTEN}: the address is already in use "
        "(another process listens there): stop it, or choose another port with --port"
    ]
