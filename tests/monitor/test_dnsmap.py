"""Placing DNS answers in regions and judging them, with Traffic Manager's view."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config import Config, parse_config
from monitor.dnsmap import judge_answer, place
from monitor.probes.dns import DnsAnswer, Hop
from monitor.trafficmanager.model import parse_profile

CONFIG: Config = parse_config(
    {
        "site": {"hostname": "blog.example.com"},
        "regions": {
            "westeurope": {"address": "20.1.2.3"},
            "centralus": {"address": "52.165.160.200", "endpoint": "central"},
        },
    }
)


def profile(method: str = "Geographic", **endpoints: dict[str, Any]) -> Any:
    defaults = {
        "westeurope": {
            "target": "20.1.2.3",
            "endpointStatus": "Enabled",
            "endpointMonitorStatus": "Online",
        },
        "central": {
            "target": "blog-us.centralus.cloudapp.azure.com",
            "endpointStatus": "Enabled",
            "endpointMonitorStatus": "Online",
        },
    }
    for name, props in endpoints.items():
        defaults[name] = {**defaults[name], **props}
    return parse_profile(
        {
            "name": "blog",
            "properties": {
                "trafficRoutingMethod": method,
                "endpoints": [
                    {
                        "name": n,
                        "type": "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
                        "properties": p,
                    }
                    for n, p in defaults.items()
                ],
            },
        }
    )


def answer(
    *addresses: str,
    hops: tuple[Hop, ...] = (),
    vantage: str | None = None,
    scope: int | None = None,
) -> DnsAnswer:
    return DnsAnswer("eu", vantage, "NOERROR", addresses=addresses, hops=hops, ecs_scope=scope)


US_HOPS = (
    Hop("blog.example.com", "blog-tm.trafficmanager.net", 300),
    Hop("blog-tm.trafficmanager.net", "blog-us.centralus.cloudapp.azure.com", 60),
)


def test_an_address_is_placed_by_the_region_address() -> None:
    """The region's own LoadBalancer address places an answer."""
    assert place(("20.1.2.3",), (), CONFIG, None) == "westeurope"


def test_a_hostname_target_is_placed_by_its_cname_hop() -> None:
    """An endpoint whose target is a hostname is recognised by the CNAME hop to it."""
    assert place(("10.9.9.9",), US_HOPS, CONFIG, profile()) == "centralus"
    assert place(("10.9.9.9",), US_HOPS, CONFIG, None) is None


def test_an_ip_target_that_differs_from_the_address_still_places() -> None:
    """Traffic Manager's endpoint target is a second key for its region."""
    moved = profile(westeurope={"target": "20.1.2.99"})
    assert place(("20.1.2.99",), (), CONFIG, moved) == "westeurope"


@pytest.mark.parametrize(
    ("result", "expected", "tm", "status", "reason"),
    [
        (answer("20.1.2.3"), "westeurope", profile(), "ok", ""),
        (answer("20.1.2.3"), None, profile(), "ok", ""),
        (
            answer("10.9.9.9", hops=US_HOPS),
            "westeurope",
            profile(),
            "mismatch",
            "sent to centralus, expected westeurope",
        ),
        (
            answer("10.9.9.9", hops=US_HOPS),
            "westeurope",
            profile(westeurope={"endpointStatus": "Disabled"}),
            "failover",
            "sent to centralus: westeurope is Disabled in Traffic Manager",
        ),
        (
            answer("10.9.9.9", hops=US_HOPS),
            "westeurope",
            profile(westeurope={"endpointMonitorStatus": "Degraded"}),
            "mismatch",
            "sent to centralus, expected westeurope",
        ),
        (
            answer("10.9.9.9", hops=US_HOPS),
            "westeurope",
            profile("Priority", westeurope={"endpointMonitorStatus": "Degraded"}),
            "failover",
            "sent to centralus: westeurope is Degraded in Traffic Manager",
        ),
        (
            answer("192.0.2.7"),
            "westeurope",
            profile(),
            "unknown",
            "cannot place 192.0.2.7 in a region",
        ),
        (answer(), "westeurope", profile(), "nodata", "no address for blog.example.com"),
        (
            answer("20.1.2.3", vantage="europe", scope=0),
            "westeurope",
            profile(),
            "unknown",
            "ECS not honoured: the resolver ignored the client subnet",
        ),
        (
            answer("20.1.2.3", vantage="europe", scope=None),
            "westeurope",
            profile(),
            "unknown",
            "ECS not honoured: the resolver ignored the client subnet",
        ),
        (answer("20.1.2.3", vantage="europe", scope=24), "westeurope", profile(), "ok", ""),
    ],
)
def test_judging_an_answer(
    result: DnsAnswer, expected: str | None, tm: Any, status: str, reason: str
) -> None:
    """Each status of the contract, decided from the answer and Traffic Manager's view."""
    finding = judge_answer(result, expected=expected, config=CONFIG, profile=tm)
    assert (finding.status, finding.reason) == (status, reason)


def test_a_failed_query_keeps_its_failure_as_the_status() -> None:
    """timeout, servfail, nxdomain and error come through as the status, with the reason."""
    failed = DnsAnswer("eu", None, "", failure="servfail", reason="SERVFAIL")
    finding = judge_answer(failed, expected="westeurope", config=CONFIG, profile=None)
    assert (finding.status, finding.region, finding.reason) == ("servfail", None, "SERVFAIL")
