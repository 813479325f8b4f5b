"""The API's response shapes (pydantic), built from the engine's snapshot and the store.

They are kept apart from the internal dataclasses so the contract can stay still while the
engine changes. `check --json` prints the same region and DNS shapes
(docs/contract/check.schema.json).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.auditstore import ActionRecord
from monitor.audittrail import TrailEntry
from monitor.controls import Control, ControlKind
from monitor.deploys import Deploy, DeploySource, Window
from monitor.dnsmap import DnsFinding
from monitor.durations import format_duration, parse_duration
from monitor.events import EventType, Severity
from monitor.eventstore import StoredEvent
from monitor.guardrails import Guard
from monitor.policy import Action, Outcome_, PolicyState, RegionPolicy, Source, Stance, Tally
from monitor.results import CheckResult, DnsStatus, FailureClass, OnFailure, Outcome, RegionStatus
from monitor.snapshot import RegionView, Snapshot, TrafficManagerView
from monitor.snapshot import Streak as StreakState
from monitor.trafficmanager.compare import EndpointView
from monitor.trafficmanager.model import EndpointState, EndpointStatus, MonitorStatus
from monitor.trafficmanager.watch import AccessCheck, Reading
from monitor.warnings import Warning

__all__ = [
    "ActionOut",
    "ActionResult",
    "ActionsPage",
    "AdoptIn",
    "AuditEntryOut",
    "AuditPage",
    "CheckOut",
    "ChecksPage",
    "CommandAccepted",
    "CommandIn",
    "ConfigOut",
    "ControlOut",
    "ControlsOut",
    "DeployIn",
    "DeployOut",
    "DeploysOut",
    "DnsAnswerOut",
    "DnsOut",
    "EndpointOut",
    "ErrorOut",
    "EventOut",
    "EventsPage",
    "PauseIn",
    "PauseOut",
    "PinIn",
    "PolicyOut",
    "ReadinessOut",
    "RegionOut",
    "RegionsOut",
    "SilenceIn",
    "TrafficManagerOut",
    "TrafficManagerReadOut",
    "UnpinIn",
    "WarningOut",
    "action_out",
    "audit_entry_out",
    "check_out",
    "control_out",
    "deploy_out",
    "dns_answer_out",
    "event_out",
    "policy_out",
    "region_out",
    "traffic_manager_out",
    "traffic_manager_read_out",
    "warning_out",
]

Fact = str | int | float | bool | None


class ErrorOut(BaseModel):
    """Every error the API answers has this shape."""

    status: int = Field(examples=[404])
    error: str = Field(description="A short, stable code", examples=["not_found"])
    detail: str = Field(examples=["unknown region 'westeurop'"])


class CheckOut(BaseModel):
    """One check's result in one round (samples folded)."""

    check: str = Field(examples=["home"])
    kind: str = Field(examples=["https"])
    outcome: Outcome
    reason: str = Field(examples=["status 500, expected 200"])
    latency_ms: float | None
    on_failure: OnFailure | None = Field(description="What a `down` means; null unless down")
    failure_class: FailureClass | None = Field(
        description="content (seen the same from anywhere) or transport (path-dependent)"
    )
    started_at: datetime
    vantage: str = Field(description="The vantage point that saw it", examples=["local"])
    release: str | None = Field(description="The version header's value, when present")
    facts: dict[str, Fact]


class ChecksPage(BaseModel):
    checks: list[CheckOut]
    next: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page"
    )


class EndpointOut(BaseModel):
    """Traffic Manager's view of one endpoint."""

    endpoint: str = Field(examples=["westeurope"])
    endpoint_status: EndpointStatus
    monitor_status: MonitorStatus
    target: str | None
    geo_mapping: list[str]
    priority: int | None
    weight: int | None
    always_serve: bool


class StreakOut(BaseModel):
    """Consecutive rounds with the same status."""

    status: RegionStatus
    rounds: int
    since: datetime
    last_at: datetime


class TallyOut(BaseModel):
    """Consecutive rounds that count towards a decision: how many, since when, the last one."""

    rounds: int = Field(examples=[2])
    since: datetime
    last_at: datetime


class WindowOut(BaseModel):
    """A region's latest deploy window: failures inside it are a bad deploy's."""

    deploy: str = Field(
        description="The deploy's id (`GET /api/v1/deploys/{id}`)",
        examples=["5f0c2a9e41d7b3c8a6e2"],
    )
    version: str = Field(examples=["2026.11.2"])
    source: DeploySource = Field(description="`marker` (posted) or `detected` (a new release)")
    start: datetime = Field(description="`deploys.lead` before the deploy")
    end: datetime = Field(description="`failover.deploy_window` after the deploy")


class PendingOut(BaseModel):
    """A decision awaiting its outcome (its record in `GET /api/v1/actions`)."""

    id: str = Field(examples=["9b1e0c7d2f4a6b8c0d1e"])
    action: Action
    decided_at: datetime | None


CONTROL_EXAMPLE: dict[str, Any] = {
    "id": "3c1f9a7e5b2d4c6a8e0f",
    "kind": "pin",
    "region": "westeurope",
    "reason": "investigating the cache; keep it in",
    "by": "alice@ops-1",
    "since": "2026-11-02T14:00:00Z",
    "until": "2026-11-02T16:00:00Z",
    "ended_at": None,
    "ended_by": None,
    "end_reason": None,
}


class ControlOut(BaseModel):
    """A pin, a silence or the pause, in force or over (docs/failover.md)."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONTROL_EXAMPLE]})

    id: str = Field(description="Stable: name it to end this control")
    kind: ControlKind
    region: str | None = Field(description="The region it holds; null for the pause")
    reason: str = Field(description="Why, as given")
    by: str = Field(description="Who asked for it")
    since: datetime
    until: datetime | None = Field(
        description="When it ends by itself; null: until someone ends it (a pause; a pin held "
        "for a person who enabled again an endpoint regionwatch had disabled, until the region "
        "has recovered)"
    )
    ended_at: datetime | None = Field(description="When it ended; null while in force")
    ended_by: str | None = Field(description="Who ended it (`regionwatch` when it expired)")
    end_reason: str | None = Field(description="Why it ended")


class ControlsOut(BaseModel):
    controls: list[ControlOut] = Field(description="Newest first")


class PauseOut(BaseModel):
    """Whether failover is paused, why, by whom and until when."""

    paused: bool
    pause: ControlOut | None = Field(description="The pause in force; null when not paused")


# The longest a pin, silence or pause may be asked for: a forgotten one must end by itself.
MAX_CONTROL = timedelta(days=7)


def _lasting(value: object) -> timedelta:
    lasting = parse_duration(value)
    if lasting <= timedelta(0):
        raise ValueError("expected a duration longer than 0, such as 30m or 2h")
    if lasting > MAX_CONTROL:
        raise ValueError(f"expected at most {format_duration(MAX_CONTROL)}, got {value}")
    return lasting


def _reason(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a reason, got only spaces")
    return _one_line(value)


class _Asked(BaseModel):
    """Who asks and why: every operator command carries both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    reason: str = Field(
        min_length=1, max_length=500, description="Why, in words: 1–500 printable characters"
    )
    by: str = Field(
        default="api", min_length=1, max_length=100, description="Who asks: up to 100 characters"
    )

    @field_validator("reason")
    @classmethod
    def _check_reason(cls, value: str) -> str:
        return _reason(value)

    @field_validator("by")
    @classmethod
    def _check_by(cls, value: str) -> str:
        return _one_line(value)


class UnpinIn(_Asked):
    """Ending a pin before its time."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "cache fixed", "by": "alice@ops-1"}]}
    )


class PinIn(_Asked):
    """A pin: the region held where it is, no automatic decision, for a while."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "investigating; keep it in", "by": "alice@ops-1", "for": "2h"}]
        }
    )

    lasting: timedelta = Field(
        alias="for", description="How long: a duration such as 30m or 2h, at most 7d"
    )

    @field_validator("lasting", mode="before")
    @classmethod
    def _check_lasting(cls, value: object) -> timedelta:
        return _lasting(value)


class SilenceIn(PinIn):
    """A silence (a maintenance window): the region neither acted on nor alerted on, and
    `/healthz` answering 200 for it, for a while."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "region": "westeurope",
                    "reason": "cluster upgrade",
                    "by": "alice@ops-1",
                    "for": "2h",
                }
            ]
        }
    )

    region: str = Field(min_length=1, max_length=100, description="A configured region")


class PauseIn(_Asked):
    """The pause (break-glass): no write to Traffic Manager at all."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "Azure incident", "by": "alice@ops-1", "for": "1h"}]
        }
    )

    lasting: timedelta | None = Field(
        default=None,
        alias="for",
        description="How long: a duration such as 1h, at most 7d; without it, until resumed",
    )

    @field_validator("lasting", mode="before")
    @classmethod
    def _check_lasting(cls, value: object) -> timedelta | None:
        return None if value is None else _lasting(value)


POLICY_EXAMPLE: dict[str, Any] = {
    "state": "counting",
    "reason": "westeurope failed 2 rounds in a row over 10 s, within 1 minutes of deploy "
    "2026.11.2: status 500, expected 200 on home",
    "next": "disable after 1 more failing round",
    "failing": {
        "rounds": 2,
        "since": "2026-11-02T14:01:00Z",
        "last_at": "2026-11-02T14:01:10Z",
    },
    "healthy": None,
    "out_since": None,
    "operator": None,
    "window": {
        "deploy": "5f0c2a9e41d7b3c8a6e2",
        "version": "2026.11.2",
        "source": "marker",
        "start": "2026-11-02T13:58:00Z",
        "end": "2026-11-02T14:30:00Z",
    },
    "pending": None,
}


class PolicyOut(BaseModel):
    """What the failover policy holds about a region, apart from this round's verdict
    (docs/failover.md)."""

    model_config = ConfigDict(json_schema_extra={"examples": [POLICY_EXAMPLE]})

    state: Stance = Field(
        description="`serving` (in rotation, nothing counting), `counting` (failover-level "
        "failures counting towards a disable), `alert_only` (failing outside a deploy window, "
        "where nothing acts), `inconclusive` (the evidence cannot decide), `withheld` (it "
        "should be out and a guard rail refuses), `out` (out of rotation by regionwatch's "
        "decision; in dry-run, would be), `recovering` (out, healthy rounds counting towards "
        "putting it back), `operator` (a person's decision stands), `pinned` (held where it "
        "is by a pin: no automatic decision), `silenced` (in a maintenance window: neither "
        "acted on nor alerted on), `paused` (a decision is due and failover is paused: taken "
        "once resumed, if still due)"
    )
    reason: str = Field(description="Why, in words; empty while serving")
    next: str = Field(description="What the policy would do next, in words")
    failing: TallyOut | None = Field(description="The failing rounds in a row that count")
    healthy: TallyOut | None = Field(description="The healthy rounds in a row")
    out_since: datetime | None = Field(
        description="Held out of rotation by regionwatch since (in dry-run: would be)"
    )
    operator: str | None = Field(description="Why a person's decision stands; null otherwise")
    window: WindowOut | None = Field(description="The latest deploy window (open or past)")
    pending: PendingOut | None = Field(description="A decision awaiting its outcome")


class RegionOut(BaseModel):
    name: str = Field(examples=["westeurope"])
    status: RegionStatus = Field(description="The verdict of the region's latest round alone")
    decided_at: datetime
    reasons: list[str]
    checks: list[CheckOut]
    traffic_manager: EndpointOut | None = Field(
        description="Traffic Manager's view of the region's endpoint (null before a read)"
    )
    findings: list[str] = Field(
        description="Drift from the configuration and disagreements with Traffic Manager"
    )
    streak: StreakOut | None = Field(description="The run of rounds with this status")
    policy: PolicyOut = Field(description="What the failover policy holds about the region")


class RegionsOut(BaseModel):
    regions: list[RegionOut]
    pause: ControlOut | None = Field(
        default=None,
        description="Failover paused: no write to Traffic Manager until it ends (`GET "
        "/api/v1/pause`); null when not paused",
    )


class HistoryItemOut(BaseModel):
    status: RegionStatus
    decided_at: datetime
    reasons: list[str]


class RegionDetailOut(RegionOut):
    history: list[HistoryItemOut] = Field(description="Earlier rounds' verdicts, newest first")
    recent_checks: list[CheckOut] = Field(description="Their checks, newest first")


class HopOut(BaseModel):
    name: str
    target: str
    ttl: int


class DnsAnswerOut(BaseModel):
    """One resolver × vantage point, judged."""

    resolver: str = Field(examples=["eu"])
    vantage: str | None = Field(examples=["europe"])
    addresses: list[str]
    region: str | None
    expected_region: str | None
    status: DnsStatus
    reason: str
    ttl: int | None
    cname_chain: list[HopOut]
    ecs_sent: str | None
    ecs_scope: int | None
    tcp: bool
    latency_ms: float | None


class DnsOut(BaseModel):
    configured: bool
    checked_at: datetime | None
    site_nxdomain: bool = Field(description="Every resolver says the site's name does not exist")
    dns: list[DnsAnswerOut]


class TrafficManagerReadOut(BaseModel):
    """The latest read of the profile: when, and its error (null when it worked)."""

    read_at: datetime
    error: str | None


class EventOut(BaseModel):
    id: str = Field(description="Stable: the same change always has the same id")
    type: EventType
    severity: Severity
    region: str | None
    at: datetime = Field(description="When the change was seen")
    since: datetime = Field(description="When the condition it opens or closes began")
    summary: str
    evidence: dict[str, Any]
    instance: str = Field(description="The instance that saw it")
    problem: str = Field(description="The condition it is about, e.g. region/westeurope")
    resolved: bool = Field(description="True when it closes that condition")


class EventsPage(BaseModel):
    events: list[EventOut]
    next: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page"
    )


def _one_line(value: str) -> str:
    if not value.isprintable():
        raise ValueError("expected printable characters, without control characters or line breaks")
    return value


class DeployIn(BaseModel):
    """A deploy marker: post it after each region's rollout."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "region": "westeurope",
                    "version": "2026.11.2",
                    "note": "new theme",
                    "by": "ci",
                }
            ]
        },
    )

    region: str = Field(
        min_length=1, max_length=100, description="A configured region", examples=["westeurope"]
    )
    version: str = Field(
        min_length=1,
        max_length=100,
        description="The release deployed: 1–100 printable characters",
        examples=["2026.11.2"],
    )
    note: str = Field(default="", max_length=500, description="Up to 500 characters")
    by: str = Field(default="api", max_length=100, description="Who deployed: up to 100 characters")

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a version, got only spaces")
        return _one_line(value)

    @field_validator("note", "by")
    @classmethod
    def _text(cls, value: str) -> str:
        return _one_line(value)


DEPLOY_EXAMPLE: dict[str, Any] = {
    "id": "5f0c2a9e41d7b3c8a6e2",
    "region": "westeurope",
    "version": "2026.11.2",
    "at": "2026-11-02T14:00:00Z",
    "source": "marker",
    "note": "new theme",
    "by": "ci",
}


class DeployOut(BaseModel):
    """One deploy of one region: marked (posted) or detected (a new release seen)."""

    model_config = ConfigDict(json_schema_extra={"examples": [DEPLOY_EXAMPLE]})

    id: str = Field(description="Stable: the same deploy always has the same id")
    region: str
    version: str
    at: datetime = Field(description="When it was marked, or when the new release was seen")
    source: DeploySource
    note: str
    by: str


class DeploysOut(BaseModel):
    deploys: list[DeployOut] = Field(description="Newest first")


class ActionResult(enum.StrEnum):
    """What became of a decision: `intended` until it is carried out, then one of the policy's
    outcomes."""

    INTENDED = "intended"
    DONE = Outcome_.DONE.value
    DRY_RUN = Outcome_.DRY_RUN.value
    REFUSED = Outcome_.REFUSED.value
    FAILED = Outcome_.FAILED.value
    SUPERSEDED = Outcome_.SUPERSEDED.value


ACTION_EXAMPLE: dict[str, Any] = {
    "id": "9b1e0c7d2f4a6b8c0d1e",
    "region": "westeurope",
    "endpoint": "westeurope",
    "action": "disable",
    "decided_at": "2026-11-02T14:01:20Z",
    "reason": "westeurope failed 3 rounds in a row over 20 s, within 1 minutes of deploy "
    "2026.11.2: status 500, expected 200 on home; centralus is healthy and covers WORLD",
    "evidence": {
        "failing_rounds": 3,
        "since": "2026-11-02T14:01:00+00:00",
        "content_rounds": 3,
        "deploy": {"version": "2026.11.2", "at": "2026-11-02T14:00:00+00:00", "source": "marker"},
        "results": [
            {
                "check": "home",
                "reason": "status 500, expected 200",
                "class": "content",
                "vantage": "local",
            }
        ],
        "witness": None,
    },
    "mode": "enforce",
    "urgent": False,
    "result": "done",
    "guard": None,
    "detail": "westeurope disabled in Traffic Manager",
    "uncovered": [],
    "attempts": 1,
    "finished_at": "2026-11-02T14:01:21Z",
    "instance": "regionwatch-0",
    "by": "regionwatch",
    "forced": False,
    "source": "policy",
}


ActionMode = Literal["dry-run", "enforce"]


class ActionOut(BaseModel):
    """One decision of the failover policy in the audit trail, and what became of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [ACTION_EXAMPLE]})

    id: str = Field(description="The decision's id")
    region: str
    endpoint: str = Field(description="The Traffic Manager endpoint")
    action: Action
    decided_at: datetime
    reason: str = Field(description="Why, in words")
    evidence: dict[str, Any] = Field(
        description="The rounds, the failing checks and their vantage points, the deploy, "
        "Traffic Manager's witness"
    )
    mode: ActionMode = Field(description="dry-run: recorded, Traffic Manager not written")
    urgent: bool = Field(description="Never strand users: no back-off, no wait")
    result: ActionResult
    guard: Guard | None = Field(description="The guard rail that refused it")
    detail: str = Field(description="What was done, or why not, in one line")
    uncovered: list[str] = Field(
        description="The geographies a refused disable would have left without an answer"
    )
    attempts: int = Field(description="Writes attempted")
    finished_at: datetime | None = Field(description="Null while intended")
    instance: str = Field(description="The instance that decided")
    by: str = Field(description="Who decided: `regionwatch`, or the person who asked")
    forced: bool = Field(description="A person's disable forced past the guard rails")
    source: Source = Field(
        description="`policy` (regionwatch's own), `manual` (a person's disable or enable), "
        "`adopt` (a person handing a Disabled endpoint to regionwatch)"
    )


class ActionsPage(BaseModel):
    actions: list[ActionOut]
    next: int | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page"
    )


AUDIT_EXAMPLE: dict[str, Any] = {
    "at": "2026-11-02T14:05:00Z",
    "kind": "action",
    "change": "disable",
    "id": "9b1e0c7d2f4a6b8c0d1e",
    "region": "westeurope",
    "by": "alice@ops-1",
    "reason": "database migration gone wrong",
    "result": "done",
    "forced": True,
    "source": "manual",
    "until": None,
    "detail": "westeurope set Disabled in Traffic Manager",
    "summary": "disable of westeurope done by alice@ops-1 (forced): database migration gone wrong",
}


class AuditEntryOut(BaseModel):
    """One entry of the whole audit trail: a decision about an endpoint, or a pin, silence or
    pause that started or ended; always with who and why."""

    model_config = ConfigDict(json_schema_extra={"examples": [AUDIT_EXAMPLE]})

    at: datetime = Field(description="When it was decided, started or ended")
    kind: Literal["action", "pin", "silence", "pause"]
    change: str = Field(
        description="An action's verb (`disable`, `enable`, `adopt`); `started` or `ended` for "
        "a pin, silence or pause",
        examples=["disable", "started", "ended"],
    )
    id: str = Field(
        description="The action's id (`GET /api/v1/actions/{id}`), or the control's (its "
        "started and ended entries share it)"
    )
    region: str | None = Field(description="Null for the pause, which holds every region")
    by: str = Field(
        description="Who decided, asked, or ended it: a person, or `regionwatch` (its own "
        "decisions; a control that expired or a pin whose region recovered)"
    )
    reason: str = Field(description="Why, in words (for `ended`: why it ended)")
    result: ActionResult | None = Field(description="What became of an action; null otherwise")
    forced: bool = Field(description="An action forced past the guard rails by a person")
    source: Source | None = Field(
        description="An action's origin (`policy`, `manual`, `adopt`); null otherwise"
    )
    until: datetime | None = Field(
        description="A control's end as it was set; null for an action or until ended"
    )
    detail: str | None = Field(description="What an action did, or why not; null otherwise")
    summary: str = Field(description="The entry in one line")


class AuditPage(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first")
    next: str | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page"
    )


class WarningOut(BaseModel):
    """One warning about regionwatch itself (docs/configuration.md#warnings)."""

    code: str = Field(description="Stable: match on it", examples=["only_world_holder"])
    severity: Severity
    message: str = Field(
        examples=["endpoint centralus is the only one mapping WORLD: failover can never disable it"]
    )
    subject: str | None = Field(
        description="The endpoint, region or key it is about; null: the whole service",
        examples=["centralus"],
    )


class AdoptIn(BaseModel):
    """A person handing a Disabled endpoint to regionwatch: why, and who."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "disabled by hand during the outage", "by": "alice"}]
        },
    )

    reason: str = Field(
        min_length=1, max_length=500, description="Why, in words: 1–500 printable characters"
    )
    by: str = Field(
        min_length=1, max_length=100, description="Who asks: 1–100 printable characters"
    )

    @field_validator("reason", "by")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected words, got only spaces")
        return _one_line(value)


class CommandIn(AdoptIn):
    """A person's disable or enable of a region's endpoint: why, who, and whether past the
    guard rails (and, outside enforce mode, written all the same)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "database migration gone wrong", "by": "alice", "force": False}]
        },
    )

    force: bool = Field(
        default=False,
        description="A disable past the guard rails; outside enforce mode, written all the "
        "same. Recorded as forced",
    )


class CommandAccepted(BaseModel):
    """A command still being carried out: its record at `GET /api/v1/actions/{id}`."""

    id: str = Field(description="The decision's id")
    region: str
    action: Action
    result: ActionResult = Field(description="`intended`: not finished yet")
    detail: str


CONFIG_EXAMPLE: dict[str, Any] = {
    "release": "0.1.0",
    "hidden": ["api.token", "alerts[].url"],
    "configuration": {
        "site": {"hostname": "blog.example.com"},
        "regions": {"westeurope": {"address": "192.0.2.10", "port": 443, "http_port": 80}},
        "failover": {"mode": "dry-run", "failing_rounds": 3, "deploy_window": "30m"},
        "alerts": [{"name": "ops", "type": "slack", "url": "https://hooks.slack.com/***"}],
        "api": {"listen": "127.0.0.1:8000", "token": "***", "read_token": None},
    },
}


class ConfigOut(BaseModel):
    """The effective configuration: every key with its default filled in, secrets hidden."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONFIG_EXAMPLE]})

    release: str = Field(description="The running release")
    configuration: dict[str, Any] = Field(
        description="Every section and key as docs/configuration.md names them, durations "
        "spelled as in the file (`30s`, `1h`); a hidden value is `***`, a value taken from the "
        "environment is shown as its `${NAME}`"
    )
    hidden: list[str] = Field(
        description="The key paths whose values are hidden (`***`): tokens, secrets, "
        "credential headers, the path of an alert's webhook URL"
    )


class ReadinessOut(BaseModel):
    ready: bool
    problems: list[str] = Field(description="Why the service is not ready (then 503)")
    warnings: list[str] = Field(
        description="What is wrong while it stays ready, one line each; `info` ones left out"
    )
    details: list[WarningOut] = Field(
        description="Every warning with its code and severity, `info` ones included"
    )


class TrafficManagerOut(BaseModel):
    configured: bool
    mode: str | None = None
    read_at: datetime | None = None
    error: str | None = None
    failing_since: datetime | None = None
    profile_read_at: datetime | None = None
    profile: dict[str, Any] | None = None
    write_access: dict[str, Any] | None = None
    regions: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def check_out(result: CheckResult) -> CheckOut:
    return CheckOut(
        check=result.check,
        kind=result.kind,
        outcome=result.outcome,
        reason=result.reason,
        latency_ms=result.latency_ms,
        on_failure=result.on_failure if result.outcome is Outcome.DOWN else None,
        failure_class=result.failure_class,
        started_at=result.started_at,
        vantage=result.vantage,
        release=result.release,
        facts=dict(result.facts),
    )


def endpoint_out(view: EndpointView | None) -> EndpointOut | None:
    """A region's `traffic_manager` object; None when Traffic Manager was not read, lacks the
    endpoint, or reports no monitor status this release knows (the contract's enum)."""
    if view is None or view.state is None or view.state.monitor_status is None:
        return None
    state = view.state
    return EndpointOut(endpoint=view.endpoint, **_endpoint_fields(state))


def _endpoint_fields(state: EndpointState) -> dict[str, Any]:
    return {
        "endpoint_status": state.endpoint_status,
        "monitor_status": state.monitor_status,
        "target": state.target,
        "geo_mapping": list(state.geo_mapping),
        "priority": state.priority,
        "weight": state.weight,
        "always_serve": state.always_serve,
    }


def _streak_out(streak: StreakState | None) -> StreakOut | None:
    if streak is None:
        return None
    return StreakOut(
        status=streak.status, rounds=streak.rounds, since=streak.since, last_at=streak.last_at
    )


def _tally_out(tally: Tally | None) -> TallyOut | None:
    if tally is None:
        return None
    return TallyOut(rounds=tally.rounds, since=tally.since, last_at=tally.last_at)


def _window_out(window: Window | None) -> WindowOut | None:
    if window is None:
        return None
    deploy = window.deploy
    return WindowOut(
        deploy=deploy.id,
        version=deploy.version,
        source=deploy.source,
        start=window.start,
        end=window.end,
    )


def policy_out(held: RegionPolicy) -> PolicyOut:
    """A region's `policy` object, from the policy's state for it."""
    pending = None
    if held.pending is not None and held.pending_action is not None:
        pending = PendingOut(
            id=held.pending, action=held.pending_action, decided_at=held.pending_at
        )
    return PolicyOut(
        state=held.stance,
        reason=held.reason,
        next=held.next,
        failing=_tally_out(held.failing),
        healthy=_tally_out(held.healthy),
        out_since=held.out_since,
        operator=held.operator,
        window=_window_out(held.window),
        pending=pending,
    )


def region_out(view: RegionView, policy: PolicyState | None) -> RegionOut:
    """A region in the API's shape: this round's verdict and, apart, what the failover policy
    (`policy`, the snapshot's) holds about it."""
    verdict = view.verdict
    return RegionOut(
        name=view.name,
        status=verdict.status,
        decided_at=verdict.decided_at,
        reasons=list(verdict.reasons),
        checks=[check_out(r) for r in verdict.results],
        traffic_manager=endpoint_out(view.endpoint),
        findings=list(view.endpoint.findings) if view.endpoint is not None else [],
        streak=_streak_out(view.streak),
        policy=policy_out(policy.region(view.name) if policy is not None else RegionPolicy()),
    )


def dns_answer_out(finding: DnsFinding) -> DnsAnswerOut:
    answer = finding.answer
    return DnsAnswerOut(
        resolver=answer.resolver,
        vantage=answer.vantage,
        addresses=list(answer.addresses),
        region=finding.region,
        expected_region=finding.expected_region,
        status=finding.status,
        reason=finding.reason,
        ttl=answer.address_ttl,
        cname_chain=[HopOut(name=h.name, target=h.target, ttl=h.ttl) for h in answer.hops],
        ecs_sent=answer.ecs_sent,
        ecs_scope=answer.ecs_scope,
        tcp=answer.used_tcp,
        latency_ms=answer.latency_ms,
    )


def traffic_manager_read_out(reading: Reading | None) -> TrafficManagerReadOut | None:
    if reading is None:
        return None
    return TrafficManagerReadOut(read_at=_time(reading.read_at), error=reading.error)


def warning_out(warning: Warning) -> WarningOut:
    return WarningOut(
        code=warning.code,
        severity=warning.severity,
        message=warning.text,
        subject=warning.subject,
    )


def event_out(stored: StoredEvent) -> EventOut:
    e = stored.event
    return EventOut(
        id=e.id,
        type=e.type,
        severity=e.severity,
        region=e.region,
        at=e.at,
        since=e.since,
        summary=e.summary,
        evidence=dict(e.evidence),
        instance=e.instance,
        problem=e.problem,
        resolved=e.resolved,
    )


def deploy_out(deploy: Deploy) -> DeployOut:
    return DeployOut(
        id=deploy.id,
        region=deploy.region,
        version=deploy.version,
        at=deploy.at,
        source=deploy.source,
        note=deploy.note,
        by=deploy.by,
    )


def control_out(control: Control) -> ControlOut:
    return ControlOut(
        id=control.id,
        kind=control.kind,
        region=control.region,
        reason=control.reason,
        by=control.by,
        since=control.since,
        until=control.until,
        ended_at=control.ended_at,
        ended_by=control.ended_by,
        end_reason=control.end_reason,
    )


def action_out(record: ActionRecord) -> ActionOut:
    return ActionOut(
        id=record.id,
        region=record.region,
        endpoint=record.endpoint,
        action=Action(record.action),
        decided_at=record.decided_at,
        reason=record.reason,
        evidence=record.evidence,
        mode=cast(ActionMode, record.mode),  # validated by the model
        urgent=record.urgent,
        result=ActionResult(record.status),
        guard=Guard(record.guard) if record.guard is not None else None,
        detail=record.detail,
        uncovered=list(record.uncovered),
        attempts=record.attempts,
        finished_at=record.finished_at,
        instance=record.instance,
        by=record.by,
        forced=record.forced,
        source=Source(record.source),
    )


def audit_entry_out(entry: TrailEntry) -> AuditEntryOut:
    return AuditEntryOut(
        at=entry.at,
        kind=cast(Literal["action", "pin", "silence", "pause"], entry.kind),  # validated
        change=entry.change,
        id=entry.id,
        region=entry.region,
        by=entry.by,
        reason=entry.reason,
        result=ActionResult(entry.result) if entry.result is not None else None,
        forced=entry.forced,
        source=Source(entry.source) if entry.source is not None else None,
        until=entry.until,
        detail=entry.detail,
        summary=entry.summary,
    )


def traffic_manager_out(snapshot: Snapshot, mode: str) -> TrafficManagerOut:
    """`GET /api/v1/traffic-manager`: the last read, the write-access check, the views."""
    tm: TrafficManagerView | None = snapshot.traffic_manager
    if tm is None:
        return TrafficManagerOut(configured=False)
    reading, access, good, profile = tm.latest, tm.access, tm.last_good, tm.profile
    return TrafficManagerOut(
        configured=True,
        mode=mode,
        read_at=_time(reading.read_at) if reading else None,
        error=reading.error if reading else None,
        failing_since=_time(tm.failing_since) if tm.failing_since is not None else None,
        profile_read_at=_time(good.read_at) if good else None,
        profile=None
        if profile is None
        else {
            "name": profile.name,
            "routing_method": profile.routing_method,
            "profile_status": profile.profile_status,
            "fqdn": profile.fqdn,
            "ttl": profile.ttl,
            "monitor": {
                "protocol": profile.monitor.protocol,
                "port": profile.monitor.port,
                "path": profile.monitor.path,
                "interval_s": profile.monitor.interval_s,
                "timeout_s": profile.monitor.timeout_s,
                "tolerated_failures": profile.monitor.tolerated_failures,
            },
            "endpoints": [
                {
                    "name": e.name,
                    "type": e.type_segment,
                    **_json_fields(e),
                    "geographies": [tm.geography.describe(code) for code in e.geo_mapping],
                }
                for e in profile.endpoints
            ],
        },
        write_access=_write_access(access, tm.access_known),
        regions={
            name: {"endpoint": view.endpoint.endpoint, "findings": list(view.endpoint.findings)}
            for name, view in snapshot.regions.items()
            if view.endpoint is not None
        },
    )


def _write_access(latest: AccessCheck | None, known: AccessCheck | None) -> dict[str, Any] | None:
    """The latest write-permission check: `can_write` null when it failed (unknown is not
    "cannot"), with the last check that answered as `last_known` then."""
    if latest is None:
        return None
    answered = latest.access is not None
    shown: dict[str, Any] = {
        "checked_at": _time(latest.checked_at),
        "can_write": latest.can_write if answered else None,
        "detail": latest.detail,
    }
    if not answered:
        shown["last_known"] = (
            None
            if known is None
            else {
                "checked_at": _time(known.checked_at),
                "can_write": known.can_write,
                "detail": known.detail,
            }
        )
    return shown


def _json_fields(state: EndpointState) -> dict[str, Any]:
    fields = _endpoint_fields(state)
    fields["endpoint_status"] = state.endpoint_status.value
    fields["monitor_status"] = state.monitor_status.value if state.monitor_status else None
    return fields
