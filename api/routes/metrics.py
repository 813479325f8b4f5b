"""`/metrics`: the app's Prometheus registry in the text exposition format (docs/metrics.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import require_read
from api.metrics import Metrics

__all__ = ["router"]

router = APIRouter(tags=["probes"])


@router.get(
    "/metrics",
    dependencies=[Depends(require_read)],
    summary="Prometheus metrics",
    description="Every family is prefixed `regionwatch_`; docs/metrics.md lists each with its "
    "labels. The current state is read from the engine's snapshot at scrape time; counters "
    "count from the service's start. A read: it needs `api.read_token` when one is set.",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"example": "regionwatch_probe_success{...} 1.0\n"}},
            "description": "The metrics in Prometheus' text format",
        }
    },
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
