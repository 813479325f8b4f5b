"""The lab's one fault vocabulary: every fault of every target, its parameters, and which
answers it hits.

A target is a kind of lab server (a regional origin, a resolver, the Traffic Manager emulator,
the Ghost stand-in); each takes a subset of `Fault`, all with the same shape:
`target.inject(fault, **params)`, `target.heal(fault)`, `target.heal()`, `target.faults()`.

Faults that hit individual answers share one queue semantics, through two parameters:
`every=N` hits the Nth, 2Nth, ... answer the fault could change after its injection ("one bad
pod out of N"), and `count=N` heals the fault after it has hit N answers ("the next N answers");
without `count` it stays until healed. The other faults (certificates, refusing connections)
are states, on until healed.

Parameters arrive from Python callers and from the lab's fault panel (HTTP, so often as text):
both are validated here, once, with messages that name the fault and the parameter.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from lab.certs import CertKind

__all__ = [
    "CERT_FAULTS",
    "Fault",
    "FaultBoard",
    "ParamValue",
    "Schedule",
    "Target",
    "fault_catalogue",
    "faults_of",
    "parse_fault",
    "show_param",
]

ParamValue = float | int | str | bool | None


class Fault(enum.StrEnum):
    # HTTP servers: the origins, the emulator, Ghost.
    ERROR = "error"  # answers `status`
    ORIGIN_DOWN = "origin-down"  # Ghost is down: cached pages go STALE, bypass requests get 502
    REFUSE = "refuse"  # the listener is closed
    HANG = "hang"  # no response is ever sent
    SLOW = "slow"  # the response is sent after `delay` seconds
    RESET = "reset"  # part of the response, then a TCP reset
    WRONG_CERT = "wrong-cert"  # a certificate for another name
    EXPIRED_CERT = "expired-cert"
    UNTRUSTED_CERT = "untrusted-cert"
    EXPIRING_CERT = "expiring-cert"  # expires in `days` days (default 5)
    EXPOSE_ADMIN = "expose-admin"  # /ghost answers 200 with the editor
    NO_HSTS = "no-hsts"  # Strict-Transport-Security missing
    MALFORMED = "malformed"  # bytes that are not HTTP, then close
    # Resolvers.
    SERVFAIL = "servfail"  # every query answered SERVFAIL
    SILENCE = "silence"  # never answer: UDP dropped, streams accepted and left hanging
    WRONG_ANSWER = "wrong-answer"  # the site's name answered with a fixed address, no CNAME
    IGNORE_ECS = "ignore-ecs"  # the client subnet is not forwarded; echoed with scope 0 or dropped
    TRUNCATE = "truncate"  # UDP answers carry TC=1 and no records; TCP, DoT and DoH are whole
    NXDOMAIN = "nxdomain"  # the site's name answered NXDOMAIN
    ENDLESS_BODY = "endless-body"  # DoH answers 200 with a body that never ends


class Target(enum.StrEnum):
    ORIGIN = "region"
    RESOLVER = "resolver"
    EMULATOR = "traffic-manager"
    GHOST = "ghost"


CERT_FAULTS: Mapping[Fault, CertKind] = {
    Fault.WRONG_CERT: CertKind.WRONG_NAME,
    Fault.EXPIRED_CERT: CertKind.EXPIRED,
    Fault.UNTRUSTED_CERT: CertKind.UNTRUSTED,
    Fault.EXPIRING_CERT: CertKind.EXPIRING,
}


def _integer(value: ParamValue) -> int:
    if isinstance(value, bool | float) or value is None:
        raise ValueError
    return int(value)


def _number(value: ParamValue) -> float:
    if isinstance(value, bool) or value is None:
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _address(value: ParamValue) -> str:
    if not isinstance(value, str):
        raise ValueError
    return str(ipaddress.ip_address(value))


def _flag(value: ParamValue) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _text(value: ParamValue) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return value


def _optional_count(value: ParamValue) -> int | None:
    return None if value is None else _integer(value)


def _show_number(value: ParamValue) -> str:
    return f"{value:g}" if isinstance(value, int | float) else json.dumps(value)


@dataclass(frozen=True, slots=True)
class _Param:
    default: ParamValue
    parse: Callable[[ParamValue], ParamValue]
    expects: str
    meaning: str = ""
    low: float = -math.inf
    high: float = math.inf
    show: Callable[[ParamValue], str] = _show_number

    def check(self, raw: ParamValue) -> ParamValue:
        value = self.parse(raw)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not self.low <= value <= self.high
        ):
            raise ValueError
        return value


_EVERY = _Param(
    1, _integer, "an integer >= 1", ": one answer in every `every` is hit (one bad pod out of N)", 1
)
_COUNT = _Param(
    None,
    _optional_count,
    "an integer >= 1, or null",
    ": the fault heals itself after hitting `count` answers (null: only when healed)",
    1,
)
_STATUS = _Param(503, _integer, "an HTTP status 400-599", "", 400, 599)
_DELAY = _Param(3.0, _number, "a number of seconds >= 0", "", 0)
_DAYS = _Param(5, _integer, "an integer >= 1", "", 1)
_JSON = json.dumps
_ADDRESS = _Param("127.0.0.99", _address, "an IP address", "", show=_JSON)
_TTL = _Param(300, _integer, "its TTL in seconds, 0 to 2**31-1", "", 0, 2**31 - 1, _JSON)
_DROP = _Param(
    False,
    _flag,
    "a bool",
    ": true drops the ECS option from the answer instead of echoing it with scope 0",
    show=_JSON,
)
_METHOD = _Param(None, _text, "an HTTP method, or null", ": only requests with this method")
_PATH = _Param(None, _text, "text, or null", ": only requests whose path contains it")
_HANG_DELAY = _Param(3600.0, _number, "a number of seconds >= 0", "", 0)

_Spec = Mapping[str, _Param]
_QUEUED: _Spec = {"every": _EVERY, "count": _COUNT}
_ARM: _Spec = {"method": _METHOD, "path_contains": _PATH, **_QUEUED}

# Each target's faults, in the order the panel lists them, with their parameters.
_SPECS: Mapping[Target, Mapping[Fault, _Spec]] = {
    Target.ORIGIN: {
        Fault.ERROR: {"status": _STATUS, **_QUEUED},
        Fault.ORIGIN_DOWN: _QUEUED,
        Fault.REFUSE: {},
        Fault.HANG: _QUEUED,
        Fault.SLOW: {"delay": _DELAY, **_QUEUED},
        Fault.RESET: _QUEUED,
        Fault.WRONG_CERT: {},
        Fault.EXPIRED_CERT: {},
        Fault.UNTRUSTED_CERT: {},
        Fault.EXPIRING_CERT: {"days": _DAYS},
        Fault.EXPOSE_ADMIN: {},
        Fault.NO_HSTS: {},
        Fault.MALFORMED: _QUEUED,
    },
    Target.RESOLVER: {
        Fault.SERVFAIL: _QUEUED,
        Fault.SILENCE: _QUEUED,
        Fault.WRONG_ANSWER: {"address": _ADDRESS, "ttl": _TTL, **_QUEUED},
        Fault.IGNORE_ECS: {"drop": _DROP, **_QUEUED},
        Fault.TRUNCATE: _QUEUED,
        Fault.NXDOMAIN: _QUEUED,
        Fault.ENDLESS_BODY: _QUEUED,
    },
    Target.EMULATOR: {
        Fault.ERROR: {"status": _STATUS, **_ARM},
        Fault.HANG: {"delay": _HANG_DELAY, **_ARM},
        Fault.SLOW: {"delay": _DELAY, **_ARM},
        Fault.RESET: _ARM,
        Fault.MALFORMED: _ARM,
    },
    Target.GHOST: {Fault.ERROR: {}, Fault.REFUSE: {}},
}

# What each fault stands for, per target where it differs, as the fault panel documents it.
_MEANINGS: Mapping[Fault, str] = {
    Fault.ERROR: "every path except /ghost answers `status`",
    Fault.ORIGIN_DOWN: "Ghost is down behind Nginx: cached pages go STALE, bypass requests get 502",
    Fault.REFUSE: "the HTTPS listener is closed: connections are refused",
    Fault.HANG: "TLS completes, then no response is ever sent",
    Fault.SLOW: "the response is sent after `delay` seconds",
    Fault.RESET: "part of the response, then a TCP reset",
    Fault.WRONG_CERT: "a certificate for another name",
    Fault.EXPIRED_CERT: "an expired certificate",
    Fault.UNTRUSTED_CERT: "a certificate from a CA nobody trusts",
    Fault.EXPIRING_CERT: "a valid certificate that expires in `days` days",
    Fault.EXPOSE_ADMIN: "/ghost answers 200 with the editor instead of 404",
    Fault.NO_HSTS: "Strict-Transport-Security is missing",
    Fault.MALFORMED: "bytes that are not HTTP, then the connection closes",
    Fault.SERVFAIL: "every query is answered SERVFAIL",
    Fault.SILENCE: "no answer at all: UDP is dropped, streams are accepted and left hanging",
    Fault.WRONG_ANSWER: "the site's name is answered with `address`, without the CNAME",
    Fault.IGNORE_ECS: "the client subnet is not forwarded: echoed with scope 0, or dropped",
    Fault.TRUNCATE: "UDP answers carry TC=1 and no records; TCP, DoT and DoH stay whole",
    Fault.NXDOMAIN: "the site's name is answered NXDOMAIN",
    Fault.ENDLESS_BODY: (
        "DNS over HTTPS answers 200 with a body that never ends; UDP, TCP and DoT as usual"
    ),
}
_TARGET_MEANINGS: Mapping[tuple[Target, Fault], str] = {
    (Target.EMULATOR, Fault.ERROR): "matching requests are answered `status` (ARM's envelope)",
    (Target.EMULATOR, Fault.HANG): "matching requests get no answer for `delay` seconds",
    (Target.GHOST, Fault.ERROR): "every request is answered 500",
    (Target.GHOST, Fault.REFUSE): "the listener is closed: Nginx's connections are refused",
}


def faults_of(target: Target) -> list[Fault]:
    """The faults `target` takes, in the panel's order."""
    return list(_SPECS[target])


def fault_catalogue(
    target: Target = Target.ORIGIN,
) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    """Every fault of `target` by name: what it does, and each parameter's meaning and default
    (as the panel shows it)."""
    return {
        fault.value: (
            _TARGET_MEANINGS.get((target, fault), _MEANINGS[fault]),
            {
                name: (param.expects + param.meaning, param.show(param.default))
                for name, param in spec.items()
            },
        )
        for fault, spec in _SPECS[target].items()
    }


def show_param(target: Target, fault: Fault, name: str, value: ParamValue) -> str:
    """A parameter's value as the catalogue shows defaults."""
    return _SPECS[target][fault][name].show(value)


def parse_fault(fault: Fault | str, target: Target = Target.ORIGIN) -> Fault:
    """The Fault named `fault`, or ValueError listing the names `target` takes."""
    try:
        parsed = Fault(fault)
    except ValueError:
        parsed = None
    if parsed is None or parsed not in _SPECS[target]:
        known = ", ".join(f.value for f in _SPECS[target])
        raise ValueError(f"unknown fault {str(fault)!r}; known faults: {known}")
    return parsed


def _validate(
    target: Target, fault: Fault, params: Mapping[str, ParamValue]
) -> dict[str, ParamValue]:
    spec = _SPECS[target][fault]
    unknown = sorted(set(params) - set(spec))
    if unknown:
        takes = ", ".join(sorted(spec)) or "no parameters"
        raise ValueError(
            f"fault {fault.value!r} has no parameter {unknown[0]!r}; it takes: {takes}"
        )
    values = {name: param.default for name, param in spec.items()}
    for name, raw in params.items():
        param = spec[name]
        try:
            values[name] = param.check(raw)
        except ValueError:
            raise ValueError(
                f"fault {fault.value!r}: {name} must be {param.expects}, got {raw!r}"
            ) from None
    return values


@dataclass(slots=True)
class Schedule:
    """Which answers a fault hits: every `every`th one it could change, `count` of them in all
    (None: until healed)."""

    every: int = 1
    count: int | None = None
    seen: int = 0  # answers the fault could have changed since it was injected
    hits: int = 0  # answers it changed

    def due(self) -> bool:
        """Count one answer the fault could change; True when it hits this one."""
        self.seen += 1
        if self.spent or self.seen % self.every:
            return False
        self.hits += 1
        return True

    @property
    def spent(self) -> bool:
        return self.count is not None and self.hits >= self.count

    @property
    def remaining(self) -> int | None:
        return None if self.count is None else self.count - self.hits


@dataclass(slots=True)
class _Active:
    params: dict[str, ParamValue]
    schedule: Schedule | None  # None: a state, not a fault of individual answers


@dataclass(slots=True)
class FaultBoard:
    """The active faults of one target, in injection order, with their schedules."""

    target: Target = Target.ORIGIN
    _active: dict[Fault, _Active] = field(default_factory=dict)

    def inject(self, fault: Fault | str, params: Mapping[str, ParamValue]) -> Fault:
        """Activate (or re-activate, with fresh params and schedule) a fault; returns it parsed.

        Raises ValueError naming the problem for an unknown fault, parameter or value."""
        parsed = parse_fault(fault, self.target)
        values = _validate(self.target, parsed, params)
        schedule = None
        if "every" in values:
            every, count = values.pop("every"), values.pop("count")
            assert isinstance(every, int) and (count is None or isinstance(count, int))
            schedule = Schedule(every, count)
        # Re-inserting moves the fault to the end: the last injected certificate fault wins.
        self._active.pop(parsed, None)
        self._active[parsed] = _Active(values, schedule)
        return parsed

    def heal(self, fault: Fault | str | None = None) -> list[Fault]:
        """Deactivate one fault, or all of them; returns those that were active."""
        if fault is None:
            healed = list(self._active)
            self._active.clear()
            return healed
        parsed = parse_fault(fault, self.target)
        return [parsed] if self._active.pop(parsed, None) is not None else []

    def active(self, fault: Fault) -> bool:
        return fault in self._active

    def param(self, fault: Fault, name: str) -> ParamValue:
        """A parameter of an active fault (its default when the fault is not active)."""
        entry = self._active.get(fault)
        if entry is not None:
            return entry.params[name]
        return _SPECS[self.target][fault][name].default

    def number(self, fault: Fault, name: str) -> float:
        value = self.param(fault, name)
        assert isinstance(value, int | float)
        return value

    def snapshot(self) -> dict[str, dict[str, ParamValue]]:
        """The active faults with their parameters (defaults filled in; `count` only when the
        fault heals itself)."""
        snapshot = {}
        for fault, entry in self._active.items():
            params = dict(entry.params)
            if entry.schedule is not None:
                params["every"] = entry.schedule.every
                if entry.schedule.count is not None:
                    params["count"] = entry.schedule.count
            snapshot[fault.value] = params
        return snapshot

    def certificate(self) -> tuple[CertKind, int]:
        """The certificate kind to present now, and the `days` of an expiring one."""
        for fault in reversed(self._active):
            kind = CERT_FAULTS.get(fault)
            if kind is not None:
                days = int(self.number(fault, "days")) if kind is CertKind.EXPIRING else 5
                return kind, days
        return CertKind.GOOD, 5

    def draw(self, eligible: Collection[Fault] | None = None) -> dict[Fault, dict[str, ParamValue]]:
        """Count one answer against every active answer fault in `eligible` (None: all of them);
        return those that hit it, with their parameters. A fault that has hit `count` answers
        heals itself.

        With `every=N` a fault hits the Nth, 2Nth, ... eligible answer after its injection,
        so exactly one answer in each run of N is hit, deterministically.
        """
        fired = {}
        for fault, entry in list(self._active.items()):
            if entry.schedule is None or (eligible is not None and fault not in eligible):
                continue
            if entry.schedule.due():
                fired[fault] = entry.params
            if entry.schedule.spent:
                del self._active[fault]
        return fired
