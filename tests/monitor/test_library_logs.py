"""The libraries' log lines as `configure_logging` lets them through: azure-identity and MSAL,
whose failures regionwatch reports on its own line, stay quiet unless their detail is asked for."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from lab.trafficmanager import TrafficManagerEmulator
from monitor.config import TrafficManagerConfig
from monitor.errors import TrafficManagerError
from monitor.logs import LIBRARY_LOGGERS, configure_logging
from monitor.trafficmanager.azure import AzureTrafficManager, RetryPolicy

TOKEN = "/oauth2/v2.0/token"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    structlog.configure(**config)


@pytest.fixture
def client(tm: TrafficManagerEmulator, monkeypatch: pytest.MonkeyPatch) -> AzureTrafficManager:
    """The SDK client against the emulator, with a secret the emulator refuses."""
    monkeypatch.setenv("AZURE_TENANT_ID", tm.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", tm.contributor.client_id)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-the-secret")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    config = TrafficManagerConfig(
        subscription_id=tm.subscription_id,
        resource_group=tm.resource_group,
        profile="blog",
        resource_manager_url=tm.base_url,
        authority_host=tm.base_url,
        ca_file=tm.ca_file,
    )
    return AzureTrafficManager(config, retry=RetryPolicy(attempts=1))


async def failed_reads(client: AzureTrafficManager, tm: TrafficManagerEmulator) -> list[str]:
    """Two failed reads: a secret refused, then a token answer that is not JSON. Their errors."""
    errors = []
    try:
        for _ in range(2):
            with pytest.raises(TrafficManagerError) as raised:
                await client.profile()
            errors.append(str(raised.value))
            tm.faults.add(
                method="POST",
                path_contains=TOKEN,
                status=200,
                body="<html>Sign in</html>",
                headers={"Content-Type": "text/html"},
            )
    finally:
        await client.close()
    return errors


def loggers_of(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


async def test_azure_identity_and_msal_are_quiet_at_the_default_library_level(
    client: AzureTrafficManager,
    tm: TrafficManagerEmulator,
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    """With the libraries at WARNING (the default), a refused secret and a token answer that is
    not JSON log nothing from azure-identity (its many-line warning) or MSAL (a traceback):
    the errors regionwatch reports carry the causes."""
    configure_logging(json=True, library_level=logging.WARNING)
    errors = await failed_reads(client, tm)
    err = capsys.readouterr().err
    assert [e.split(":")[0] for e in errors] == ["authentication failed"] * 2
    assert "AADSTS7000215" in errors[0]
    assert not [
        line for line in loggers_of(err) if line["logger"].startswith(("azure.identity", "msal"))
    ], err
    assert "Traceback" not in err and "DefaultAzureCredential failed" not in err


async def test_azure_identity_and_msal_follow_the_flag_when_their_detail_is_asked_for(
    client: AzureTrafficManager,
    tm: TrafficManagerEmulator,
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    """With the libraries at INFO (`--log-libraries info`), azure-identity's and MSAL's own
    lines are back, MSAL's traceback for the answer that is not JSON included."""
    configure_logging(json=True, library_level=logging.INFO)
    await failed_reads(client, tm)
    lines = loggers_of(capsys.readouterr().err)
    identity = [e for e in lines if e["logger"].startswith("azure.identity")]
    msal = [e for e in lines if e["logger"].startswith("msal")]
    assert any("DefaultAzureCredential failed" in e["event"] for e in identity)
    assert any(e["level"] == "error" and "not in json format" in e["event"] for e in msal)
    assert logging.getLogger("azure.identity").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("msal").getEffectiveLevel() == logging.INFO
