"""schemathesis against the app's OpenAPI document: for every operation (the live stream and
the lab's state-changing routes excluded), generated requests never get a 5xx, and every answer
conforms to the document (status code documented, content type, body schema, headers).

The document comes from the app itself; the requests go to the real app served by uvicorn on
loopback, watching two lab origins, in a thread of its own (schemathesis' client is
synchronous). Bounded and deterministic: a few derandomized examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from servers import Hold, eventually, served_in_thread, serving_service

from api.app import create_app
from lab.certs import LabCA
from lab.origin import RegionalOrigin
from lab.sandbox import MODEL_REQUESTS
from monitor.config import load_config, parse_config

TOKEN = "conformance-token-0123"
# What the API promises: no 5xx, and answers as documented. (Whether it accepts every value
# the schema allows, or rejects every value it forbids, is the request models' business.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
HOSTNAME = "blog.example.com"
# A configuration only to build the document: it does not depend on the configuration.
_DOCUMENT = create_app(
    parse_config(
        {"site": {"hostname": HOSTNAME}, "regions": {"westeurope": {"address": "192.0.2.1"}}}
    )
).openapi()

# The documented examples, then a few generated requests per operation; the coverage phase
# (every boundary of every parameter) would take the suite's budget many times over.
_PHASES = schemathesis.config.SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}}}
)
schema = schemathesis.openapi.from_dict(_DOCUMENT, config=_PHASES).exclude(
    # The live stream never ends by itself; the lab's routes change the lab, not the service.
    path_regex=r"/stream$|^/lab/"
)


@pytest.fixture(scope="module")
def base_url(lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on loopback, with `api.token` set, in a thread with its own event loop."""
    workdir = tmp_path_factory.mktemp("conformance")
    ca_file = lab_ca.write_ca_pem(workdir / "lab-ca.pem")

    async def serve(hold: Hold) -> None:
        async with (
            RegionalOrigin(region="westeurope", hostname=HOSTNAME, ca=lab_ca) as west,
            RegionalOrigin(region="centralus", hostname=HOSTNAME, ca=lab_ca) as central,
        ):
            config: dict[str, Any] = {
                "site": {"hostname": HOSTNAME},
                "regions": {
                    o.region: {"address": o.address, "port": o.https_port, "http_port": o.http_port}
                    for o in (west, central)
                },
                "tls": {"ca_file": str(ca_file)},
                "checks": {
                    "https": {"interval": "1s", "timeout": "1s", "requests": MODEL_REQUESTS}
                },
                "api": {"listen": "127.0.0.1:0", "token": TOKEN},
                "storage": {"path": str(workdir / "regionwatch.db")},
            }
            path = workdir / "regionwatch.yaml"
            path.write_text(yaml.safe_dump(config), encoding="utf-8")
            async with serving_service(load_config(path)) as (url, service):
                # Ready first: before the first rounds /readyz rightly answers 503, which the
                # "no server error" check would take for a fault.
                await eventually(lambda: not service.snapshot.readiness, timeout=20)
                await hold(url)

    with served_in_thread(serve, name="conformance-server") as url:
        yield url


@schema.parametrize()
@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_answers_conform_to_the_openapi_document_and_are_never_5xx(
    case: schemathesis.Case, base_url: str
) -> None:
    """Every generated request, with the write token, gets an answer that is not a 5xx and
    that conforms to the document."""
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=CHECKS,
        timeout=15,
    )
