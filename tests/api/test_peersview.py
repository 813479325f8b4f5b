"""The peers' view (api/peersview.py), built from snapshots folded from real evidence: what
`GET /api/v1/peers`, the dashboard's "Vantage points" panel and `/metrics` all show."""

from __future__ import annotations

from datetime import datetime, timedelta

from verdicts import REGIONS, START, config_with, peer_document, verdict

from api.dashboardview import vantage_panel
from api.peersview import PeersOut, peers_out
from monitor.config import Config
from monitor.evidence import PeersPulled, RoundFinished
from monitor.fold import first_snapshot, fold
from monitor.quorum import PeerProblem, PeerPull
from monitor.results import RegionStatus
from monitor.snapshot import Snapshot

INTERVAL = timedelta(seconds=10)


def topology(role: str = "decider", peers: tuple[str, ...] = ("vp2", "vp3")) -> Config:
    """Two regions watched from vp1, with `peers` (each on a loopback URL)."""
    api = {"read_token": "observer-read-token"} if role == "observer" else {}
    return config_with(
        checks={"https": {"interval": "10s", "timeout": "5s"}},
        vantage="vp1",
        role=role,
        api=api,
        peers=[
            {"name": name, "url": f"http://127.0.0.1:{9100 + i}", "token": f"{name}-token"}
            for i, name in enumerate(peers)
        ],
    )


def pulled(config: Config, snapshot: Snapshot, at: datetime, *pulls: PeerPull) -> Snapshot:
    return fold(snapshot, PeersPulled(pulls), config=config, now=at)


def rounds(config: Config, snapshot: Snapshot, at: datetime, **statuses: RegionStatus) -> Snapshot:
    for region, status in statuses.items():
        snapshot = fold(snapshot, RoundFinished(verdict(region, status, at)), config=config, now=at)
    return snapshot


def cells(view: PeersOut) -> dict[tuple[str, str], tuple[str, float | None, bool]]:
    return {(c.vantage, c.region): (c.status, c.age_s, c.counted) for c in view.matrix}


def test_the_matrix_lists_this_instance_first_then_each_peer_with_ages_as_of_now() -> None:
    """This instance's cells come first, aged from its own verdicts; a peer's cells are aged
    by what it reported plus the time since its document arrived; a peer never pulled is
    waiting, with no cells."""
    config = topology()
    snapshot = first_snapshot(config, instance="test", now=START)
    snapshot = rounds(
        config, snapshot, START, westeurope=RegionStatus.HEALTHY, centralus=RegionStatus.HEALTHY
    )
    seen = {"westeurope": RegionStatus.HEALTHY, "centralus": RegionStatus.DEGRADED}
    at = START + timedelta(seconds=1)
    snapshot = pulled(
        config, snapshot, at, PeerPull("vp2", at, peer_document("vp2", seen, age=2.0))
    )
    view = peers_out(snapshot, config, START + timedelta(seconds=5))
    assert view.vantage_points == ["vp1", "vp2", "vp3"]
    assert [c.vantage for c in view.matrix] == ["vp1", "vp1", "vp2", "vp2"]
    assert cells(view) == {
        ("vp1", "westeurope"): ("healthy", 5.0, True),
        ("vp1", "centralus"): ("healthy", 5.0, True),
        ("vp2", "westeurope"): ("healthy", 6.0, True),
        ("vp2", "centralus"): ("degraded", 6.0, True),
    }
    states = {p.name: (p.state, p.counted, p.role, p.detail) for p in view.peers}
    assert states == {
        "vp2": ("fresh", True, "observer", ""),
        "vp3": ("waiting", False, None, "waiting: not pulled yet"),
    }
    assert view.decider is None


def test_a_peer_unanswering_for_two_intervals_is_unreachable_and_its_cells_not_counted() -> None:
    """A peer whose last usable document is older than two intervals, and whose latest pull
    failed, is unreachable: its last cells stay shown, not counted, with when they came."""
    config = topology(peers=("vp2",))
    snapshot = first_snapshot(config, instance="test", now=START)
    seen = {"westeurope": RegionStatus.FAILING, "centralus": RegionStatus.HEALTHY}
    snapshot = pulled(
        config, snapshot, START, PeerPull("vp2", START, peer_document("vp2", seen, age=2.0))
    )
    later = START + 3 * INTERVAL
    gone = PeerPull("vp2", later, problem=PeerProblem.UNREACHABLE, detail="HTTP 503")
    snapshot = pulled(config, snapshot, later, gone)
    view = peers_out(snapshot, config, later)
    (peer,) = view.peers
    assert (peer.state, peer.counted) == ("unreachable", False)
    assert peer.detail.startswith("unreachable: HTTP 503; last observations received")
    assert (peer.last_pull_at, peer.received_at) == (later, START)
    assert cells(view)[("vp2", "westeurope")] == ("failing", 32.0, False)
    assert [c.failure for c in view.matrix if c.vantage == "vp2"] == ["transport", None]


def test_a_fresh_peer_seeing_every_region_failing_is_not_counted() -> None:
    """A peer that sees every region failing is fresh but suspect: neither it nor its cells
    count, and its detail says why."""
    config = topology(peers=("vp2",))
    snapshot = first_snapshot(config, instance="test", now=START)
    seen = dict.fromkeys(REGIONS, RegionStatus.FAILING)
    snapshot = pulled(
        config, snapshot, START, PeerPull("vp2", START, peer_document("vp2", seen, age=2.0))
    )
    view = peers_out(snapshot, config, START + timedelta(seconds=1))
    (peer,) = view.peers
    assert (peer.state, peer.counted) == ("fresh", False)
    assert "sees every region failing" in peer.detail
    assert all(not c.counted for c in view.matrix if c.vantage == "vp2")


def test_this_instances_cells_are_not_counted_while_every_region_fails_from_here() -> None:
    """While every region failed from this instance within the suspicion window, its own
    cells are shown not counted, as the policy does not count them; one passing region for
    the whole window counts them again."""
    config = topology(peers=("vp2",))
    snapshot = first_snapshot(config, instance="test", now=START)
    snapshot = rounds(
        config, snapshot, START, westeurope=RegionStatus.FAILING, centralus=RegionStatus.FAILING
    )
    view = peers_out(snapshot, config, START + timedelta(seconds=1))
    assert [c.counted for c in view.matrix if c.vantage == "vp1"] == [False, False]
    later = START + 4 * INTERVAL
    snapshot = rounds(config, snapshot, later, centralus=RegionStatus.HEALTHY)
    view = peers_out(snapshot, config, later)
    assert [c.counted for c in view.matrix if c.vantage == "vp1"] == [True, True]


def test_an_observer_names_the_decider_whose_decisions_its_healthz_repeats() -> None:
    """On an observer, the view names the decider's vantage point once a fresh decider
    document arrived, and `unreachable` before (when /healthz answers 200)."""
    config = topology(role="observer", peers=("vp9",))
    snapshot = first_snapshot(config, instance="test", now=START)
    snapshot = rounds(config, snapshot, START, westeurope=RegionStatus.HEALTHY)
    assert peers_out(snapshot, config, START).decider == "unreachable"
    decider = peer_document(
        "vp9",
        dict.fromkeys(REGIONS, RegionStatus.HEALTHY),
        age=2.0,
        role="decider",
        serve={"westeurope": False, "centralus": True},
    )
    snapshot = pulled(config, snapshot, START, PeerPull("vp9", START, decider))
    assert peers_out(snapshot, config, START).decider == "vp9"
    assert snapshot.health_for("westeurope").status_code == 503  # what it repeats


def test_the_panel_has_one_row_per_vantage_point_with_a_gap_where_none_was_reported() -> None:
    """The dashboard's panel lays the view out: this instance's row first (no peer health),
    then each peer's row with its health, one column per region in configuration order, and
    an empty cell where the vantage point reported nothing."""
    config = topology()
    snapshot = first_snapshot(config, instance="test", now=START)
    snapshot = rounds(config, snapshot, START, centralus=RegionStatus.FAILING)
    seen = {"centralus": RegionStatus.HEALTHY}
    snapshot = pulled(
        config, snapshot, START, PeerPull("vp2", START, peer_document("vp2", seen, age=2.0))
    )
    panel = vantage_panel(peers_out(snapshot, config, START), list(config.regions))
    assert panel.regions == REGIONS
    assert [(r.vantage, r.peer.state if r.peer else None) for r in panel.rows] == [
        ("vp1", None),
        ("vp2", "fresh"),
        ("vp3", "waiting"),
    ]
    here, fresh, waiting = panel.rows
    assert [(c.status, c.age_s) if c else None for c in here.cells] == [
        ("unknown", None),
        ("failing", 0.0),
    ]
    assert [c.status if c else None for c in fresh.cells] == [None, "healthy"]
    assert waiting.cells == (None, None)
    assert (panel.decider, panel.decider_unreachable) == (None, False)
