"""A content failure only a peer sees is probed again from the decider at once: it counts on
the decider's own word, never on an observer's alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from alertreceiver import Answer, receiving
from servers import eventually, serving_service
from verdicts import START, config_with, verdict

from lab.origin import RegionalOrigin
from monitor.config import load_config
from monitor.evidence import RoundFinished
from monitor.fold import first_snapshot, step
from monitor.observations import DOCUMENT_VERSION, Observation, PeerDocument
from monitor.quorum import PeerPull
from monitor.results import FailureClass, RegionStatus
from monitor.service import _to_probe_again


def document(failure: FailureClass) -> PeerDocument:
    seen = {
        "westeurope": Observation("westeurope", RegionStatus.FAILING, 1.0, failure),
        "centralus": Observation("centralus", RegionStatus.HEALTHY, 1.0),
    }
    return PeerDocument("monitor-vp2", "vp2", "observer", seen, {})


def test_only_content_failures_we_do_not_see_are_probed_again() -> None:
    """A peer's content failure of a region we see serving: probed again; its transport
    failure (a path of its own) or a region we already see failing: not."""
    cfg = config_with()
    snapshot = first_snapshot(cfg, instance="vp1", now=START)
    for region in ("westeurope", "centralus"):
        snapshot = step(
            snapshot,
            RoundFinished(verdict(region, RegionStatus.HEALTHY, START)),
            config=cfg,
            now=START,
        ).snapshot
    content = (PeerPull("vp2", START, document(FailureClass.CONTENT)),)
    transport = (PeerPull("vp2", START, document(FailureClass.TRANSPORT)),)
    assert _to_probe_again(snapshot, content) == ["westeurope"]
    assert _to_probe_again(snapshot, transport) == []
    failing = step(
        snapshot,
        RoundFinished(verdict("westeurope", RegionStatus.FAILING, START + timedelta(seconds=1))),
        config=cfg,
        now=START + timedelta(seconds=1),
    ).snapshot
    assert _to_probe_again(failing, content) == []


async def test_a_peers_content_failure_brings_the_next_round_forward(
    write_config: Callable[..., Path], two_regions: dict[str, RegionalOrigin]
) -> None:
    """With 30 s between rounds, a peer reporting westeurope answering 500 makes the decider
    probe westeurope again within moments; centralus keeps its turn."""
    body = {
        "version": DOCUMENT_VERSION,
        "instance": "monitor-vp2",
        "vantage": "vp2",
        "role": "observer",
        "observations": [
            {"region": "westeurope", "status": "failing", "age_s": 1, "failure": "content"},
            {"region": "centralus", "status": "healthy", "age_s": 1, "failure": None},
        ],
    }
    async with receiving() as peer:
        peer.script.extend(Answer(body=json.dumps(body).encode()) for _ in range(50))
        base = peer.url.rsplit("/hooks/", 1)[0]
        path = write_config(
            two_regions,
            checks={
                "https": {
                    "interval": "30s",
                    "timeout": "1s",
                    "requests": [{"name": "home", "path": "/", "expect": {"status": [200]}}],
                }
            },
            vantage="vp1",
            peers=[{"name": "vp2", "url": base, "token": "t"}],
        )
        config = load_config(path)
        async with serving_service(config) as (_, service):
            regions = service.snapshot.regions
            await eventually(lambda: all(v.rounds_done for v in service.snapshot.regions.values()))
            await service.pull_peers()  # the scheduled pull's next turn is 30 s away
            await eventually(lambda: service.snapshot.regions["westeurope"].rounds_done >= 2)
            assert service.snapshot.regions["centralus"].rounds_done == 1
            assert regions is not service.snapshot.regions
            assert peer.received  # pulled over the wire
