"""An observer's observations document, as the API serves it, read back by the decider."""

from __future__ import annotations

from api.routes.observations import ObservationOut, ObservationsOut
from monitor.observations import parse
from monitor.results import RegionStatus


def test_an_observers_document_with_null_decisions_is_read_as_no_decisions() -> None:
    """An observer serves `"decisions": null` (it decides nothing); the decider's parser takes
    that as no decisions, not as a malformed document that would make the observer absent."""
    served = ObservationsOut(
        version=1,
        instance="observer-1",
        vantage="vp2",
        role="observer",
        observations=[
            ObservationOut(
                region="westeurope", status="healthy", age_s=0.4, failure=None, reason=""
            )
        ],
    ).model_dump(mode="json")
    assert served["decisions"] is None

    document = parse(served)

    assert (document.vantage, document.role, dict(document.serve)) == ("vp2", "observer", {})
    assert document.observations["westeurope"].status is RegionStatus.HEALTHY
