"""The faults a lab origin can be switched into, their parameters, and which request they hit.

Parameters arrive from Python callers and from the lab's fault panel (HTTP, so often as text):
both are validated here, once, with messages that name the fault and the parameter.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from lab.certs import CertKind

__all__ = [
    "CERT_FAULTS",
    "REQUEST_FAULTS",
    "Fault",
    "FaultBoard",
    "ParamValue",
    "fault_catalogue",
    "parse_fault",
]

ParamValue = float | int | str


class Fault(enum.StrEnum):
    ERROR = "error"  # every path except /ghost answers `status` (default 503)
    ORIGIN_DOWN = "origin-down"  # Ghost is down: cached pages go STALE, bypass requests get 502
    REFUSE = "refuse"  # the HTTPS listener is closed
    HANG = "hang"  # TLS completes, no response is ever sent
    SLOW = "slow"  # the response is sent after `delay` seconds
    RESET = "reset"  # part of the response, then a TCP reset
    WRONG_CERT = "wrong-cert"  # a certificate for another name
    EXPIRED_CERT = "expired-cert"
    UNTRUSTED_CERT = "untrusted-cert"
    EXPIRING_CERT = "expiring-cert"  # expires in `days` days (default 5)
    EXPOSE_ADMIN = "expose-admin"  # /ghost answers 200 with the editor
    NO_HSTS = "no-hsts"  # Strict-Transport-Security missing
    MALFORMED = "malformed"  # bytes that are not HTTP, then close


CERT_FAULTS: Mapping[Fault, CertKind] = {
    Fault.WRONG_CERT: CertKind.WRONG_NAME,
    Fault.EXPIRED_CERT: CertKind.EXPIRED,
    Fault.UNTRUSTED_CERT: CertKind.UNTRUSTED,
    Fault.EXPIRING_CERT: CertKind.EXPIRING,
}

# Faults that hit individual requests and so take `every`: "one bad pod out of N".
REQUEST_FAULTS = frozenset(
    {Fault.ERROR, Fault.ORIGIN_DOWN, Fault.SLOW, Fault.RESET, Fault.HANG, Fault.MALFORMED}
)

# Nginx answers /ghost itself (`location /ghost { return 404; }`), so faults of the proxied
# Ghost never reach that path.
_PROXIED_ONLY = frozenset({Fault.ERROR, Fault.ORIGIN_DOWN})


def _integer(value: ParamValue) -> int:
    if isinstance(value, bool | float):
        raise ValueError
    return int(value)


def _number(value: ParamValue) -> float:
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


@dataclass(frozen=True, slots=True)
class _Param:
    default: int | float
    parse: Callable[[ParamValue], int | float]
    low: float
    high: float
    expects: str


_EVERY = _Param(1, _integer, 1, math.inf, "an integer >= 1")
_SPECS: Mapping[Fault, Mapping[str, _Param]] = {
    Fault.ERROR: {"status": _Param(503, _integer, 400, 599, "an HTTP status 400-599")},
    Fault.SLOW: {"delay": _Param(3.0, _number, 0, math.inf, "a number of seconds >= 0")},
    Fault.EXPIRING_CERT: {"days": _Param(5, _integer, 1, math.inf, "an integer >= 1")},
}


# What each fault stands for, as the fault panel documents it.
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
}
_EVERY_MEANING = ": one request in every `every` is hit (one bad pod out of N)"


def fault_catalogue() -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    """Every fault by name: what it does, and each parameter's meaning and default (as JSON)."""
    return {
        fault.value: (
            _MEANINGS[fault],
            {
                name: (
                    param.expects + (_EVERY_MEANING if name == "every" else ""),
                    f"{param.default:g}",
                )
                for name, param in _spec(fault).items()
            },
        )
        for fault in Fault
    }


def _spec(fault: Fault) -> Mapping[str, _Param]:
    spec = dict(_SPECS.get(fault, {}))
    if fault in REQUEST_FAULTS:
        spec["every"] = _EVERY
    return spec


def parse_fault(fault: Fault | str) -> Fault:
    """The Fault named `fault`, or ValueError listing the known names."""
    try:
        return Fault(fault)
    except ValueError:
        known = ", ".join(f.value for f in Fault)
        raise ValueError(f"unknown fault {fault!r}; known faults: {known}") from None


def _validate(fault: Fault, params: Mapping[str, ParamValue]) -> dict[str, int | float]:
    spec = _spec(fault)
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
            value = param.parse(raw)
            if not param.low <= value <= param.high:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"fault {fault.value!r}: {name} must be {param.expects}, got {raw!r}"
            ) from None
        values[name] = value
    return values


@dataclass(slots=True)
class _Active:
    params: dict[str, int | float]
    seen: int = 0  # requests this fault was eligible for since it was injected


@dataclass(slots=True)
class FaultBoard:
    """The active faults of one origin, in injection order, with their request counters."""

    _active: dict[Fault, _Active] = field(default_factory=dict)

    def inject(self, fault: Fault | str, params: Mapping[str, ParamValue]) -> Fault:
        """Activate (or re-activate, with fresh params and counter) a fault; returns it parsed."""
        parsed = parse_fault(fault)
        values = _validate(parsed, params)
        # Re-inserting moves the fault to the end: the last injected certificate fault wins.
        self._active.pop(parsed, None)
        self._active[parsed] = _Active(values)
        return parsed

    def heal(self, fault: Fault | str | None = None) -> list[Fault]:
        """Deactivate one fault, or all of them; returns those that were active."""
        if fault is None:
            healed = list(self._active)
            self._active.clear()
            return healed
        parsed = parse_fault(fault)
        return [parsed] if self._active.pop(parsed, None) is not None else []

    def active(self, fault: Fault) -> bool:
        return fault in self._active

    def param(self, fault: Fault, name: str) -> int | float:
        """A parameter of an active fault (its default when the fault is not active)."""
        entry = self._active.get(fault)
        return entry.params[name] if entry is not None else _spec(fault)[name].default

    def snapshot(self) -> dict[str, dict[str, ParamValue]]:
        return {fault.value: dict(entry.params) for fault, entry in self._active.items()}

    def certificate(self) -> tuple[CertKind, int]:
        """The certificate kind to present now, and the `days` of an expiring one."""
        for fault in reversed(self._active):
            kind = CERT_FAULTS.get(fault)
            if kind is not None:
                return kind, int(self.param(fault, "days")) if kind is CertKind.EXPIRING else 5
        return CertKind.GOOD, 5

    def draw(self, *, admin_path: bool) -> frozenset[Fault]:
        """Count one request against every eligible request fault; return those that fire.

        With `every=N` a fault fires on the Nth, 2Nth, ... eligible request after its injection,
        so exactly one request in each run of N is hit, deterministically.
        """
        fired = set()
        for fault, entry in self._active.items():
            if fault not in REQUEST_FAULTS or (admin_path and fault in _PROXIED_ONLY):
                continue
            entry.seen += 1
            if entry.seen % int(entry.params["every"]) == 0:
                fired.add(fault)
        return frozenset(fired)
