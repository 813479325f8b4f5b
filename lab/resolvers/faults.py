"""The faults a lab resolver can be switched into at runtime, with their parameters.

Each fault stands for something a real user's resolver does when it, or the path to it, breaks;
`FaultPanel` validates names and parameters and holds what is active.
"""

from __future__ import annotations

import enum
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["Fault", "FaultPanel", "fault_catalogue"]


class Fault(enum.StrEnum):
    SERVFAIL = "servfail"  # every query answered SERVFAIL
    SILENCE = "silence"  # never answer: UDP dropped, streams accepted and left hanging
    WRONG_ANSWER = "wrong-answer"  # the site's name answered with a fixed address, no CNAME
    IGNORE_ECS = "ignore-ecs"  # the client subnet is not forwarded; echoed with scope 0 or dropped
    TRUNCATE = "truncate"  # UDP answers carry TC=1 and no records; TCP, DoT and DoH are whole
    NXDOMAIN = "nxdomain"  # the site's name answered NXDOMAIN
    ENDLESS_BODY = "endless-body"  # DoH answers 200 with a body that never ends; others as usual


# Each fault's parameters and their defaults.
_DEFAULTS: Mapping[Fault, Mapping[str, Any]] = {
    Fault.SERVFAIL: {},
    Fault.SILENCE: {},
    Fault.WRONG_ANSWER: {"address": "127.0.0.99", "ttl": 300},
    Fault.IGNORE_ECS: {"drop": False},
    Fault.TRUNCATE: {},
    Fault.NXDOMAIN: {},
    Fault.ENDLESS_BODY: {},
}


# What each fault stands for and what its parameters mean, as the fault panel documents them.
_MEANINGS: Mapping[Fault, str] = {
    Fault.SERVFAIL: "every query is answered SERVFAIL",
    Fault.SILENCE: "no answer at all: UDP is dropped, streams are accepted and left hanging",
    Fault.WRONG_ANSWER: "the site's name is answered with `address`, without the CNAME",
    Fault.IGNORE_ECS: "the client subnet is not forwarded: echoed with scope 0, or dropped",
    Fault.TRUNCATE: "UDP answers carry TC=1 and no records; TCP, DoT and DoH stay whole",
    Fault.NXDOMAIN: "the site's name is answered NXDOMAIN",
    Fault.ENDLESS_BODY: "DNS over HTTPS answers 200 with a body that never ends; UDP, TCP and DoT as usual",
}
_PARAM_MEANINGS: Mapping[str, str] = {
    "address": "the IP address answered",
    "ttl": "its TTL in seconds, 0 to 2**31-1",
    "drop": "true: drop the ECS option from the answer instead of echoing it with scope 0",
}


def fault_catalogue() -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    """Every fault by name: what it does, and each parameter's meaning and default (as JSON)."""
    return {
        fault.value: (
            _MEANINGS[fault],
            {
                name: (_PARAM_MEANINGS[name], json.dumps(default))
                for name, default in _DEFAULTS[fault].items()
            },
        )
        for fault in Fault
    }


def _fault(name: str | Fault) -> Fault:
    try:
        return Fault(name)
    except ValueError:
        known = ", ".join(f.value for f in Fault)
        raise ValueError(f"unknown fault {name!r} (known: {known})") from None


def _check(fault: Fault, params: Mapping[str, Any]) -> dict[str, Any]:
    defaults = _DEFAULTS[fault]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        known = ", ".join(defaults) or "none"
        names = ", ".join(repr(name) for name in unknown)
        raise ValueError(f"unknown parameter {names} for fault {fault.value!r} (known: {known})")
    values = {**defaults, **params}
    if fault is Fault.WRONG_ANSWER:
        try:
            values["address"] = str(ipaddress.ip_address(values["address"]))
        except ValueError:
            raise ValueError(
                f"parameter 'address' of fault 'wrong-answer' must be an IP address, "
                f"not {values['address']!r}"
            ) from None
        ttl = values["ttl"]
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl < 2**31:
            raise ValueError(
                f"parameter 'ttl' of fault 'wrong-answer' must be 0..2**31-1, not {ttl!r}"
            )
    if fault is Fault.IGNORE_ECS and not isinstance(values["drop"], bool):
        raise ValueError(
            f"parameter 'drop' of fault 'ignore-ecs' must be a bool, not {values['drop']!r}"
        )
    return values


class FaultPanel:
    """The active faults of one resolver. When several are active, the first of silence,
    servfail, nxdomain and wrong-answer decides the answer; ignore-ecs and truncate combine
    with the others."""

    def __init__(self) -> None:
        self._active: dict[Fault, dict[str, Any]] = {}

    def inject(self, fault: str | Fault, **params: Any) -> None:
        """Switch `fault` on (again, with these parameters if it already was)."""
        key = _fault(fault)
        self._active[key] = _check(key, params)

    def heal(self, fault: str | Fault | None = None) -> None:
        """Switch `fault` off, or every fault when None; healing an inactive fault is a no-op."""
        if fault is None:
            self._active.clear()
        else:
            self._active.pop(_fault(fault), None)

    def active(self) -> dict[str, dict[str, Any]]:
        """The active faults by name, each with its parameters (defaults filled in)."""
        return {fault.value: dict(params) for fault, params in self._active.items()}

    def get(self, fault: Fault) -> Mapping[str, Any] | None:
        """The parameters of `fault` when it is active, else None."""
        return self._active.get(fault)
