"""The traps the running service also reports: the doctor's findings for them are the service's
own warnings (`monitor.warnings`), judged from what the doctor gathered, so that each trap is
one piece of code with one text.

`Known` is built from `Facts`: the profile read, the write-permission check split into an
answer or a failure as the service keeps them, and whether the store holds a deploy marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from monitor.doctor.facts import Facts
from monitor.doctor.findings import Finding
from monitor.events import Severity
from monitor.warnings import Known, Warning, WarningSource, compute_warnings

__all__ = ["DOCTOR_SEVERITY", "known_from", "service_warnings"]

# Where the doctor, judging before going live, weighs a trap differently from the running
# service. The model deployment maps WORLD to centralus alone by design: a problem there would
# fail every doctor run of the documented setup, while the service still shows it as a warning
# to whoever reads /readyz, since it means that region is never failed over.
DOCTOR_SEVERITY: dict[str, Severity] = {"only_world_holder": Severity.INFO}


def known_from(facts: Facts) -> Known:
    """What the service would know, from what the doctor read: a permissions check that failed
    is an unknown answer (`access_failure`), not a "cannot write"; a store that does not exist
    yet holds no marker; one that cannot be read cannot say."""
    check, store = facts.access, facts.store
    answered = check is not None and check.access is not None
    marked: bool | None = None
    if store is not None and store.error is None:
        marked = store.marker_posted if store.exists else False
    return Known(
        profile=facts.profile,
        access=check if answered else None,
        access_failure=check if not answered else None,
        deploy_marked=marked,
    )


def service_warnings(*sources: WarningSource) -> Callable[[Facts], Iterator[Finding]]:
    """A check yielding the findings of the service's warning `sources`, in their order."""

    def check(facts: Facts) -> Iterator[Finding]:
        for warning in compute_warnings(facts.config, known_from(facts), sources):
            yield _finding(warning, facts)

    check.__name__ = "+".join(source.__name__ for source in sources)
    return check


def _finding(warning: Warning, facts: Facts) -> Finding:
    message = warning.message
    store = facts.store
    if warning.code == "no_deploy_marker" and store is not None and not store.exists:
        # What only the doctor sees: the service creates its store at start.
        path = facts.config.scrubbed(str(store.path))
        message = f"the store at {path} does not exist yet, so {message}"
    return Finding(
        warning.code,
        DOCTOR_SEVERITY.get(warning.code, warning.severity),
        warning.subject or warning.code,
        message,
        warning.fix or "see docs/configuration.md#warnings",
    )
