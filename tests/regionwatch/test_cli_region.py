"""`regionwatch region disable|enable` and `regionwatch adopt` as a person runs them: a real
process posting to the real app served on loopback, the token from REGIONWATCH_TOKEN."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from processes import run_operator_cli
from servers import service_with_token
from verdicts import START, verdict

from lab.origin import RegionalOrigin
from monitor.clock import ManualClock
from monitor.evidence import RoundFinished
from monitor.results import RegionStatus
from monitor.service import Service

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"
# Who asks, by default: $USER@hostname, as every operator command records it.
CAROL = f"carol@{socket.gethostname()}"


@asynccontextmanager
async def enforcing(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> AsyncIterator[tuple[str, Service]]:
    """The app in enforce mode with api.token, both regions healthy once; no schedule."""
    clock = ManualClock(START)
    failover = {"mode": "enforce"}
    async with service_with_token(
        write_config, two_regions, TOKEN, clock=clock, failover=failover
    ) as served:
        url, service = served
        for region in ("westeurope", "centralus"):
            clock.advance(1)
            await service.engine.apply(
                RoundFinished(verdict(region, RegionStatus.HEALTHY, clock.now()))
            )
        yield url, service


async def test_region_disable_then_enable_exit_0_and_record_who_asked(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """`region disable` with --by: exit 0, one line saying it is done by whom, recorded with
    the reason; `region enable` without --by records the user name from the environment."""
    async with enforcing(two_regions, write_config) as (url, service):
        code, out, err = await regionwatch(
            "region", "disable", "westeurope", "--reason", "db migration", "--by", "alice",
            "--url", url, token=TOKEN,
        )  # fmt: skip
        assert code == 0, err
        (record,) = await service.store.actions()
        assert out == (
            "disable of westeurope done by alice: no traffic_manager section: /healthz answers "
            f"503 for westeurope (action {record.id})\n"
        )
        assert err == ""
        assert (record.by, record.reason, record.source) == ("alice", "db migration", "manual")
        code, out, err = await regionwatch(
            "region", "enable", "westeurope", "--reason", "rolled back", "--url", url, token=TOKEN
        )
        assert code == 0, err
        assert out.startswith(f"enable of westeurope done by {CAROL}: ")
        enabled = (await service.store.actions())[0]
        assert (enabled.action, enabled.by) == ("enable", CAROL)


async def test_a_refused_disable_exits_1_and_force_exits_0_recorded_as_forced(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """Taking out the only region left in rotation: exit 1, one line on stderr naming the guard
    rail; with --force exit 0, `(forced)` in the line and in the record."""
    async with enforcing(two_regions, write_config) as (url, service):
        args = ("--reason", "maintenance", "--url", url)
        assert (await regionwatch("region", "disable", "centralus", *args, token=TOKEN))[0] == 0
        code, out, err = await regionwatch("region", "disable", "westeurope", *args, token=TOKEN)
        assert code == 1
        assert out == ""
        assert err.startswith("regionwatch region disable: disable of westeurope refused by ")
        assert "min_enabled" in err and err.count("\n") == 1
        code, out, err = await regionwatch(
            "region", "disable", "westeurope", *args, "--force", token=TOKEN
        )
        assert code == 0, err
        assert out.startswith(f"disable of westeurope done by {CAROL} (forced): ")
        assert (await service.store.actions())[0].forced is True


@pytest.mark.parametrize(
    ("token", "code", "said"),
    [
        ("not-the-token", 1, "answered 403: the bearer token is not accepted"),
        (None, 2, "REGIONWATCH_TOKEN is not set"),
    ],
)
async def test_a_command_without_the_right_token_records_nothing(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    token: str | None,
    code: int,
    said: str,
) -> None:
    """A wrong token: exit 1 with the service's answer; none: exit 2 saying to set it. One
    line, no token in it, nothing recorded."""
    async with enforcing(two_regions, write_config) as (url, service):
        got, out, err = await regionwatch(
            "region", "disable", "westeurope", "--reason", "x", "--url", url, token=token
        )
        assert (got, out) == (code, "")
        assert said in err and err.count("\n") == 1
        assert "not-the-token" not in err
        assert await service.store.actions() == []


async def test_adopt_says_per_region_what_became_of_it_and_exits_1_when_one_is_refused(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """`adopt` of two regions with no Traffic Manager configured: both refused as conflicts,
    one stderr line each, exit 1; each recorded with who asked."""
    async with enforcing(two_regions, write_config) as (url, service):
        code, out, err = await regionwatch(
            "adopt", "westeurope", "centralus", "--reason", "store lost", "--url", url,
            token=TOKEN,
        )  # fmt: skip
        assert code == 1
        assert out == ""
        lines = err.splitlines()
        assert [line.split(" refused by ")[0] for line in lines] == [
            "regionwatch adopt: adopt of westeurope",
            "regionwatch adopt: adopt of centralus",
        ]
        assert all("conflict: no traffic_manager section" in line for line in lines)
        stored = await service.store.actions()
        assert [(a.action, a.source, a.by) for a in stored] == [("adopt", "adopt", CAROL)] * 2


async def regionwatch(*args: str, token: str | None, user: str = "carol") -> tuple[int, str, str]:
    return await run_operator_cli(*args, token=token, user=user)
