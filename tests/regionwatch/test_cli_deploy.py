"""`regionwatch deploy` as a user runs it: a real process posting to the real app served on
loopback, the token from REGIONWATCH_TOKEN."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from processes import run_operator_cli
from servers import service_with_token

from lab.origin import RegionalOrigin

ConfigWriter = Callable[..., Path]
TOKEN = "w-token-0123456789"


async def test_deploy_posts_the_marker_and_prints_it_in_one_line(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """With the right token: exit 0, the stored marker on one line (id, region, version,
    time), stored with its note and `by`, and the region's deploy window open."""
    async with service_with_token(write_config, two_regions, TOKEN) as (url, service):
        code, out, err = await regionwatch(
            "deploy",
            "--url",
            url,
            "--region",
            "westeurope",
            "--version",
            "2026.11.2",
            "--note",
            "new theme",
            "--by",
            "ci",
            token=TOKEN,
        )
        assert code == 0, err
        (stored,) = await service.store.deploys()
        policy = service.snapshot.policy
        assert policy is not None
        window = policy.region("westeurope").window
    assert out == f"deploy {stored.id}: 2026.11.2 to westeurope at 2026-11-02T14:00:00Z\n"
    assert err == ""
    assert (stored.region, stored.version, stored.note, stored.by) == (
        "westeurope",
        "2026.11.2",
        "new theme",
        "ci",
    )
    assert window is not None and window.deploy.id == stored.id


@pytest.mark.parametrize(
    ("token", "region", "said"),
    [
        ("not-the-token", "westeurope", "answered 403: the bearer token is not accepted"),
        (TOKEN, "westeurop", "answered 404: unknown region 'westeurop'"),
    ],
)
async def test_deploy_refused_by_the_service_exits_1_with_one_line(
    two_regions: dict[str, RegionalOrigin],
    write_config: ConfigWriter,
    token: str,
    region: str,
    said: str,
) -> None:
    """A wrong token or an unknown region: exit 1, one line on stderr naming the service and
    what it answered, no traceback, no token; nothing stored."""
    async with service_with_token(write_config, two_regions, TOKEN) as (url, service):
        code, out, err = await regionwatch(
            "deploy", "--url", url, "--region", region, "--version", "2.0.0", token=token
        )
        stored = await service.store.deploys()
    assert code == 1
    assert out == ""
    assert err.startswith(f"regionwatch deploy: the service at {url} {said}")
    assert err.count("\n") == 1
    assert token not in err
    assert stored == []


async def test_deploy_without_a_token_in_the_environment_exits_2_and_posts_nothing(
    two_regions: dict[str, RegionalOrigin], write_config: ConfigWriter
) -> None:
    """REGIONWATCH_TOKEN unset (or empty): exit 2, one line saying to set it, nothing sent."""
    async with service_with_token(write_config, two_regions, TOKEN) as (url, service):
        for token in (None, ""):
            code, out, err = await regionwatch(
                "deploy", "--url", url, "--region", "westeurope", "--version", "2", token=token
            )
            assert code == 2
            assert out == ""
            assert err.count("\n") == 1
            assert "REGIONWATCH_TOKEN is not set" in err
        assert await service.store.deploys() == []


async def test_deploy_to_a_service_that_is_down_exits_1_with_one_line() -> None:
    """Nothing listening at --url: exit 1, one line saying the service could not be reached
    and why, no traceback."""
    with socket.socket() as probe:  # a port that was free a moment ago, and now is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    code, out, err = await regionwatch(
        "deploy", "--url", url, "--region", "westeurope", "--version", "2", token=TOKEN
    )
    assert code == 1
    assert out == ""
    assert err == f"regionwatch deploy: could not reach the service at {url}: Connection refused\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--region", "westeurope"], "the following arguments are required: --version"),
        (["--version", "2"], "the following arguments are required: --region"),
        (
            ["--region", "westeurope", "--version", "2", "--url", "ftp://127.0.0.1"],
            "argument --url: expected an http or https URL with a host",
        ),
        (
            ["--region", "westeurope", "--version", "2", "--url", "http://u:p@127.0.0.1"],
            "argument --url: expected a URL without a user name, password, query or fragment",
        ),
        (
            ["--region", "westeurope", "--version", "2", "--token", "typed"],
            "unrecognized arguments: --token typed",
        ),
    ],
)
async def test_a_wrong_deploy_command_line_exits_2(args: list[str], said: str) -> None:
    """A missing --region or --version, a URL that is not http(s) or carries credentials (not
    echoed), or a token on the command line (there is no such option): argparse's exit 2,
    saying what is wrong, nothing posted."""
    code, out, err = await regionwatch("deploy", *args, token=TOKEN)
    assert code == 2
    assert out == ""
    assert said in err
    assert "u:p@" not in err


async def test_deploy_help_says_where_the_token_and_the_service_come_from() -> None:
    """--help names REGIONWATCH_TOKEN, the default URL and the exit codes."""
    code, out, _ = await regionwatch("deploy", "--help", token=None)
    text = " ".join(out.split())
    assert code == 0
    assert "REGIONWATCH_TOKEN" in text
    assert "default http://127.0.0.1:8000" in text
    assert "0 when the marker is stored; 1 when the service refused it" in text


async def regionwatch(*args: str, token: str | None) -> tuple[int, str, str]:
    return await run_operator_cli(*args, token=token)
