"""The banner's walk through a person's controls, as a newcomer runs it: the real `regionwatch
lab` process, and every command a real `regionwatch` process with the banner's token and
address; the audit trail holds each with who and why, and replay runs over the lab's store."""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Any

import httpx
import pytest
from processes import read_banner, run_cli, start_lab
from servers import eventually


@pytest.mark.slow
async def test_the_banners_controls_walk_is_in_the_audit_trail_with_who_and_why() -> None:
    """Against the running lab, as the banner shows them: pin and unpin, a silence and its
    end, pause and resume, a forced disable, an enable, a disable adopted and then enabled by
    regionwatch once healthy; each command exits 0, `GET /api/v1/audit` holds every one with
    who asked and why, and `replay --config <the lab's configuration> --since 1h` exits 0
    beside the running lab, reporting the decisions it found."""
    process = await start_lab("--port", "0", "--interval", "1s", stderr=asyncio.subprocess.DEVNULL)
    try:
        banner = await read_banner(process)
        base = _found(r"regions \(JSON\) (http://127\.0\.0\.1:\d+)/", banner)
        token = _found(r"^  export REGIONWATCH_TOKEN=(\S+)$", banner)
        config = _found(r"^  configuration +(\S+)$", banner)
        env = {"REGIONWATCH_TOKEN": token}

        async def cli(*args: str, by: str) -> str:
            code, out, err = await run_cli(*args, "--by", by, "--url", base, env=env)
            assert code == 0, (args, out, err)
            assert token not in out + err
            return out

        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            await eventually(lambda: _healthy(client), timeout=20, interval=0.2)
            pinned = await cli(
                "region",
                "pin",
                "westeurope",
                "--reason",
                "investigating",
                "--for",
                "1h",
                by="alice",
            )
            assert "westeurope by alice" in pinned
            await cli("region", "unpin", "westeurope", "--reason", "found it", by="alice")
            silenced = await cli(
                "silence", "westeurope", "--reason", "cluster upgrade", "--for", "1h", by="bob"
            )
            silence = _found(r"^silence (\w+): westeurope by bob", silenced)
            await cli("silence", "--end", silence, "--reason", "upgrade done", by="bob")
            await cli("pause", "--reason", "Azure incident", by="carol")
            assert (await client.get("/api/v1/pause")).json()["pause"]["by"] == "carol"
            await cli("resume", "--reason", "incident over", by="carol")
            disabled = await cli(
                "region",
                "disable",
                "westeurope",
                "--reason",
                "database migration",
                "--force",
                by="dave",
            )
            assert "done by dave (forced)" in disabled
            await cli("region", "enable", "westeurope", "--reason", "migration done", by="erin")
            await cli("region", "disable", "westeurope", "--reason", "second try", by="dave")
            adopted = await cli("adopt", "westeurope", "--reason", "hand it back", by="frank")
            assert "adopt of westeurope done by frank" in adopted

            async def enabled_by_regionwatch() -> bool:
                entries = await _trail(client)
                return any(
                    e["kind"] == "action" and e["change"] == "enable" and e["by"] == "regionwatch"
                    for e in entries
                )

            await eventually(enabled_by_regionwatch, timeout=30, interval=0.3)
            entries = await _trail(client)

        by_hand = [
            (e["kind"], e["change"], e["by"], e["reason"])
            for e in reversed(entries)
            if e["by"] != "regionwatch" and not e["by"].startswith("Traffic Manager")
        ]
        assert by_hand == [
            ("pin", "started", "alice", "investigating"),
            ("pin", "ended", "alice", "found it"),
            ("silence", "started", "bob", "cluster upgrade"),
            ("silence", "ended", "bob", "upgrade done"),
            ("pause", "started", "carol", "Azure incident"),
            ("pause", "ended", "carol", "incident over"),
            ("action", "disable", "dave", "database migration"),
            ("action", "enable", "erin", "migration done"),
            # erin's enable holds the region in until it recovers: a pin in her name
            (
                "pin",
                "started",
                "erin",
                "enabled by erin via regionwatch: migration done; regionwatch will not disable "
                "it again until the region has recovered",
            ),
            ("action", "disable", "dave", "second try"),
            ("action", "adopt", "frank", "hand it back"),
        ], entries
        actions = {(e["change"], e["by"]): e for e in entries if e["kind"] == "action"}
        assert actions["disable", "dave"]["result"] == "done"
        forced = [e["forced"] for e in entries if e["change"] == "disable"]
        assert sorted(forced) == [False, True]
        assert actions["adopt", "frank"]["source"] == "adopt"
        assert actions["enable", "regionwatch"]["source"] == "policy"

        code, out, err = await run_cli("replay", "--config", config, "--since", "1h")
        assert code == 0, err
        assert f"replayed {config.rsplit('/', 1)[0]}/regionwatch.db from " in out, out
        assert "rounds" in out, out
        # The lab's own configuration over its own history: what people did is given by hand,
        # and regionwatch's own decisions are reproduced.
        assert "by hand (a person's commands" in out, out
        assert "no difference" in out, out
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    assert code == 0


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"no {pattern!r} in:\n{text}"
    return match.group(1)


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        body = (await client.get("/api/v1/regions")).json()
    except httpx.HTTPError:
        return False
    return {r["status"] for r in body["regions"]} == {"healthy"}


async def _trail(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The whole audit trail, newest first."""
    entries: list[dict[str, Any]] = (await client.get("/api/v1/audit")).json()["entries"]
    return entries
