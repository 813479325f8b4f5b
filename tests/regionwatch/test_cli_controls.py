"""`regionwatch region pin|unpin`, `silence`, `pause` and `resume` as a user runs them: real
processes posting to the real app served on loopback, the token from REGIONWATCH_TOKEN."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from processes import run_operator_cli
from servers import service_with_token
from verdicts import START

from lab.origin import RegionalOrigin
from monitor.controls import ControlKind

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"


async def test_region_pin_and_unpin_record_the_actor_and_print_the_record(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """`region pin` exits 0 printing the stored pin on one line, `by` defaulting to
    $USER@hostname; `region unpin --by` ends it, recorded with its actor and reason."""
    async with service_with_token(write_config, two_regions, TOKEN) as (url, service):
        code, out, err = await regionwatch(
            "region", "pin", "westeurope", "--reason", "investigating", "--for", "2h",
            "--url", url, token=TOKEN,
        )  # fmt: skip
        assert code == 0, err
        (pin,) = await service.store.controls()
        actor = f"tester@{socket.gethostname()}"
        assert (pin.kind, pin.region, pin.by, pin.reason) == (
            ControlKind.PIN, "westeurope", actor, "investigating",
        )  # fmt: skip
        assert out == (
            f"pin {pin.id}: westeurope by {actor} since 2026-11-02T14:00:00Z until "
            "2026-11-02T16:00:00Z: investigating\n"
        )
        code, out, err = await regionwatch(
            "region", "unpin", "westeurope", "--reason", "fixed", "--by", "bob",
            "--url", url, token=TOKEN,
        )  # fmt: skip
        assert code == 0, err
        assert out.endswith("; ended at 2026-11-02T14:00:00Z by bob: fixed\n")
        (ended,) = await service.store.controls()
        assert (ended.ended_by, ended.end_reason) == ("bob", "fixed")


async def test_silence_lists_and_ends_and_pause_resume_find_the_service_from_its_config(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """`silence NAME` starts one, `silence --list` prints it, `silence --end ID` ends it;
    `pause --config FILE` reaches the service at the configuration's api.listen and
    `resume` ends the pause, both recorded with their actor."""
    async with service_with_token(write_config, two_regions, TOKEN) as (url, service):
        code, out, err = await regionwatch(
            "silence", "centralus", "--reason", "upgrade", "--for", "1h", "--by", "al",
            "--url", url, token=TOKEN,
        )  # fmt: skip
        assert code == 0, err
        (silence,) = await service.store.controls()
        code, listed, err = await regionwatch("silence", "--list", "--url", url, token=None)
        assert code == 0, err
        assert listed == out
        code, out, err = await regionwatch(
            "silence", "--end", silence.id, "--by", "al", "--url", url, token=TOKEN
        )
        assert code == 0, err
        assert "ended at 2026-11-02T14:00:00Z by al: ended by hand" in out
        code, listed, _ = await regionwatch("silence", "--list", "--url", url, token=None)
        assert listed == "no silence in force\n"

        port = urlsplit(url).port
        config = write_config(two_regions, api={"listen": f"127.0.0.1:{port}", "token": "x"})
        code, out, err = await regionwatch(
            "pause", "--reason", "Azure incident", "--for", "1h", "--by", "al",
            "--config", str(config), token=TOKEN,
        )  # fmt: skip
        assert code == 0, err
        assert out.startswith("pause ")
        assert "by al since 2026-11-02T14:00:00Z until 2026-11-02T15:00:00Z" in out
        assert service.snapshot.controls.paused(START)
        code, out, err = await regionwatch(
            "resume", "--by", "bob", "--config", str(config), token=TOKEN
        )
        assert code == 0, err
        assert out.endswith("by bob: resumed\n")
        assert not service.snapshot.controls.paused(START)


async def test_a_refused_or_tokenless_control_exits_1_or_2_with_one_line(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """A wrong token exits 1 with one line naming what the service answered (403), never the
    token; resuming when not paused exits 1 (409); no token exits 2; a pin without --reason
    is argparse's exit 2. Nothing is stored."""
    async with service_with_token(write_config, two_regions, TOKEN) as (url, service):
        code, out, err = await regionwatch(
            "pause", "--reason", "r", "--url", url, token="not-the-token"
        )
        assert (code, out) == (1, "")
        assert err == (
            f"regionwatch pause: the service at {url} answered 403: the bearer token is not "
            "accepted\n"
        )
        code, _, err = await regionwatch("resume", "--url", url, token=TOKEN)
        assert code == 1
        assert (
            err
            == f"regionwatch resume: the service at {url} answered 409: failover is not paused\n"
        )
        code, _, err = await regionwatch(
            "region", "pin", "westeurope", "--reason", "r", "--for", "1h", "--url", url,
            token=None,
        )  # fmt: skip
        assert code == 2
        assert err.startswith("regionwatch region pin: REGIONWATCH_TOKEN is not set")
        code, _, err = await regionwatch(
            "region", "pin", "westeurope", "--for", "1h", "--url", url, token=TOKEN
        )
        assert code == 2
        assert "the following arguments are required: --reason" in err
        assert await service.store.controls() == []


async def regionwatch(*args: str, token: str | None) -> tuple[int, str, str]:
    return await run_operator_cli(*args, token=token, user="tester")
