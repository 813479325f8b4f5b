"""Events that are facts in themselves, not a condition opening or closing: what the actuator
did with a decision (`endpoint.disabled`, `action.refused`, ...), deploys recorded, pins,
silences and pauses started or ended (`pin.started`, `silence.ended`, ...), and the monitor
itself starting and stopping (`monitor.started`, `monitor.stopping`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from monitor.config import Config
from monitor.controls import Control, ControlKind
from monitor.deploys import Deploy, DeploySource
from monitor.events import Event, EventType, Severity, fact
from monitor.evidence import ActionFinished, DeployMarked, Evidence, SchedulerChanged
from monitor.policy import Action, Outcome_, Source
from monitor.release import RELEASE

__all__ = ["fact_events"]


def fact_events(
    evidence: Evidence,
    detected: Sequence[Deploy],
    *,
    at: datetime,
    instance: str,
    controls: Sequence[Control] = (),
    config: Config | None = None,
) -> list[Event]:
    """The fact events of one step: its evidence's, those of the deploys it detected, and one
    per control started or ended in it. The monitor's start and stop are told only with
    `config` (the engine's)."""
    events = []
    match evidence:
        case ActionFinished() as finished:
            events.append(_action(finished, at, instance))
        case DeployMarked(deploy=deploy):
            events.append(_deploy(deploy, at, instance))
        case SchedulerChanged(running=running, stopping=stopping) if config is not None:
            if running or stopping:  # not the end of `check`'s one round
                events.append(_lifecycle(config, running, at, instance))
    events += [_deploy(deploy, at, instance) for deploy in detected]
    events += [_control(control, at, instance) for control in controls]
    return events


def _lifecycle(config: Config, started: bool, at: datetime, instance: str) -> Event:
    kind = EventType.MONITOR_STARTED if started else EventType.MONITOR_STOPPING
    verb = "started" if started else "stopping"
    mode = config.failover.mode
    regions = list(config.regions)
    return fact(
        kind,
        key=f"monitor/{instance}/{verb}",
        severity=Severity.INFO,
        region=None,
        at=at,
        summary=f"regionwatch {RELEASE} on {instance} {verb} (failover {mode}, "
        f"regions {', '.join(regions)})",
        evidence={"version": RELEASE, "instance": instance, "mode": mode, "regions": regions},
        instance=instance,
    )


_CONTROL_EVENTS = {
    (ControlKind.PIN, False): (EventType.PIN_STARTED, Severity.WARNING),
    (ControlKind.PIN, True): (EventType.PIN_ENDED, Severity.INFO),
    (ControlKind.SILENCE, False): (EventType.SILENCE_STARTED, Severity.INFO),
    (ControlKind.SILENCE, True): (EventType.SILENCE_ENDED, Severity.INFO),
    (ControlKind.PAUSE, False): (EventType.PAUSE_STARTED, Severity.CRITICAL),
    (ControlKind.PAUSE, True): (EventType.PAUSE_ENDED, Severity.WARNING),
}


def _control(control: Control, at: datetime, instance: str) -> Event:
    over = control.ended_at is not None
    kind, severity = _CONTROL_EVENTS[(control.kind, over)]
    what = f"{control.region} {control.kind.value}" if control.region else "failover pause"
    if over:
        summary = f"{what} ended by {control.ended_by}: {control.end_reason} (it was {control.describe()})"
    else:
        summary = f"{what} started: {control.describe()}"
    return fact(
        kind,
        key=f"control/{control.id}",
        severity=severity,
        region=control.region,
        at=at,
        summary=summary,
        evidence={
            "id": control.id,
            "kind": control.kind.value,
            "reason": control.reason,
            "by": control.by,
            "since": control.since.isoformat(),
            "until": control.until.isoformat() if control.until is not None else None,
            "ended_at": control.ended_at.isoformat() if control.ended_at is not None else None,
            "ended_by": control.ended_by,
            "end_reason": control.end_reason,
        },
        instance=instance,
    )


def _action(finished: ActionFinished, at: datetime, instance: str) -> Event:
    disable = finished.action is Action.DISABLE
    region = finished.region
    verb = finished.action.value
    match finished.outcome:
        case Outcome_.DONE if finished.action is Action.ADOPT:
            kind, severity = EventType.ENDPOINT_ADOPTED, Severity.WARNING
            summary = f"{region}'s Disabled endpoint adopted by regionwatch"
        case Outcome_.DONE:
            kind = EventType.ENDPOINT_DISABLED if disable else EventType.ENDPOINT_ENABLED
            severity = Severity.CRITICAL if disable or finished.urgent else Severity.WARNING
            summary = f"{region} {'disabled' if disable else 'enabled'} in Traffic Manager"
        case Outcome_.DRY_RUN:
            kind = EventType.ENDPOINT_WOULD_DISABLE if disable else EventType.ENDPOINT_WOULD_ENABLE
            severity = Severity.WARNING if disable else Severity.INFO
            summary = f"{region} would be {'disabled' if disable else 'enabled'} (dry-run)"
        case Outcome_.REFUSED:
            kind, severity = EventType.ACTION_REFUSED, Severity.WARNING
            summary = f"{verb} of {region} refused: {finished.detail}"
        case Outcome_.FAILED:
            kind, severity = EventType.ACTION_FAILED, Severity.CRITICAL
            summary = f"{verb} of {region} failed: {finished.detail}"
        case _:  # superseded: decided again on fresh evidence, recorded in the audit trail
            kind, severity = EventType.ACTION_FAILED, Severity.INFO
            summary = f"{verb} of {region} not carried out: {finished.detail}"
    manual = finished.source is not Source.POLICY
    if manual and finished.outcome in (Outcome_.DONE, Outcome_.DRY_RUN):
        summary += f" by {finished.by}" + (" (forced)" if finished.forced else "")
    elif manual:
        summary = f"{finished.by}'s {summary}"
    if finished.outcome in (Outcome_.DONE, Outcome_.DRY_RUN) and finished.reason:
        summary += f": {finished.reason}"
    return fact(
        kind,
        key=f"action/{finished.decision_id}",
        severity=severity,
        region=region,
        at=at,
        summary=summary,
        evidence={
            "decision": finished.decision_id,
            "action": finished.action.value,
            "result": finished.outcome.value,
            "detail": finished.detail,
            "reason": finished.reason,
            "guard": finished.guard.value if finished.guard else None,
            "uncovered": list(finished.uncovered),
            "urgent": finished.urgent,
            "source": finished.source.value,
            "by": finished.by,
            "forced": finished.forced,
        },
        instance=instance,
    )


def _deploy(deploy: Deploy, at: datetime, instance: str) -> Event:
    how = "marked" if deploy.source is DeploySource.MARKER else "detected"
    note = f": {deploy.note}" if deploy.note else ""
    return fact(
        EventType.DEPLOY_RECORDED,
        key=f"deploy/{deploy.id}",
        severity=Severity.INFO,
        region=deploy.region,
        at=at,
        summary=f"deploy of {deploy.version} to {deploy.region} {how}{note}",
        evidence={
            "id": deploy.id,
            "version": deploy.version,
            "at": deploy.at.isoformat(),
            "source": deploy.source.value,
            "note": deploy.note,
            "by": deploy.by,
        },
        instance=instance,
    )
