"""The emulator's one HTTPS handler: scripted faults first, then Entra ID or ARM, every answer
logged and stamped with ARM's request-id headers."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import parse_qs, unquote

from lab.httpserver import HttpRequest, HttpResponse, StreamedBody
from lab.trafficmanager.arm import Arm
from lab.trafficmanager.entra import Directory, entra_response
from lab.trafficmanager.faults import FaultQueue, FaultRule, LoggedRequest, RequestLog
from lab.trafficmanager.state import TrafficManagerState

__all__ = ["EmulatorApp", "split_path"]

_SECRET_FIELDS = frozenset({"client_secret", "client_assertion"})


def split_path(path: str) -> list[str]:
    """Split on `/` first, then percent-decode each segment (docs/traffic-manager.md): `ep%2F1` is one
    segment named `ep/1`, not two."""
    return [unquote(segment) for segment in path.split("/") if segment]


class EmulatorApp:
    def __init__(self, state: TrafficManagerState, directory: Directory) -> None:
        self.directory = directory
        self.arm = Arm(state, directory)
        self.faults = FaultQueue()
        self.log = RequestLog()
        self._reads = 12000  # ARM's hourly budgets, counted down for the ratelimit headers
        self._writes = 1200

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        segments = split_path(request.path)
        decoded = "/" + "/".join(segments)
        client_id: str | None = None
        rule = self.faults.take(request, decoded)
        landed = self._serve(request, segments) if rule is not None and rule.lands else None
        if rule is not None and rule.delay > 0:
            await asyncio.sleep(rule.delay)
        if rule is not None and rule.status is not None:
            response = _fault_response(rule)
        else:
            response, client_id = landed or self._serve(request, segments)
            # A wire fault breaks the answer of a request that was carried out.
            response.misbehave = rule.misbehave if rule is not None else None
        request_id = str(uuid.uuid4())
        response.headers += [
            ("x-ms-request-id", request_id),
            ("x-ms-correlation-request-id", request_id),
        ]
        if "x-ms-client-request-id" in request.headers:
            response.headers.append(
                ("x-ms-client-request-id", request.headers["x-ms-client-request-id"])
            )
        self.log.append(
            LoggedRequest(
                method=request.method,
                path=decoded,
                query={k: v[-1] for k, v in request.query.items()},
                status=response.status,
                body=_logged_body(request),
                client_id=client_id,
                faulted=rule is not None and (rule.status is not None or bool(rule.misbehave)),
                headers={k: v for k, v in request.headers.items() if k != "authorization"},
            )
        )
        return response

    def _serve(self, request: HttpRequest, segments: list[str]) -> tuple[HttpResponse, str | None]:
        """Entra ID's or ARM's answer (ARM's with the caller it accepted)."""
        entra = entra_response(self.directory, request, segments)
        if entra is not None:
            return entra, None
        answer = self.arm.answer(request, segments)
        self._stamp_budget(request, answer.response)
        return answer.response, answer.client_id

    def _stamp_budget(self, request: HttpRequest, response: HttpResponse) -> None:
        if request.method.upper() == "GET":
            self._reads = max(self._reads - 1, 0)
            response.headers.append(
                ("x-ms-ratelimit-remaining-subscription-reads", str(self._reads))
            )
        else:
            self._writes = max(self._writes - 1, 0)
            response.headers.append(
                ("x-ms-ratelimit-remaining-subscription-writes", str(self._writes))
            )


def _fault_response(rule: FaultRule) -> HttpResponse:
    assert rule.status is not None
    headers = list(rule.headers.items())
    if isinstance(rule.body, StreamedBody):
        return HttpResponse(rule.status, headers=headers, stream=rule.body)
    if isinstance(rule.body, bytes | str):
        body = rule.body.encode() if isinstance(rule.body, str) else rule.body
        return HttpResponse(rule.status, body, headers)
    payload = rule.error_body() if rule.body is None else rule.body
    if rule.status == 401 and not any(k.lower() == "www-authenticate" for k, _ in headers):
        headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
    return HttpResponse.of_json(rule.status, payload, headers)


def _logged_body(request: HttpRequest) -> object:
    if not request.body:
        return None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(request.body.decode("utf-8", "replace"))
        return {k: "***" if k in _SECRET_FIELDS else v[-1] for k, v in form.items()}
    try:
        return json.loads(request.body)
    except ValueError:
        return request.body
