"""A faithful Azure Traffic Manager emulator for the lab and the tests: Entra ID's token
endpoint and Traffic Manager's ARM routes over HTTPS, its endpoint probing and its DNS answers,
all on loopback (docs/architecture.md, "The lab"; docs/traffic-manager.md)."""

from lab.httpserver import StreamedBody
from lab.trafficmanager.dnsserver import TrafficManagerDns
from lab.trafficmanager.entra import CONTRIBUTOR_ACTIONS, READER_ACTIONS, ServicePrincipal
from lab.trafficmanager.faults import FaultQueue, FaultRule, LoggedRequest, RequestLog
from lab.trafficmanager.geo import GeoLocator
from lab.trafficmanager.model import MonitorStatus, Profile, ProfileMonitorStatus
from lab.trafficmanager.prober import Prober, ProbeResult
from lab.trafficmanager.routing import Client, Decision, route
from lab.trafficmanager.server import TrafficManagerEmulator
from lab.trafficmanager.state import TrafficManagerState

__all__ = [
    "CONTRIBUTOR_ACTIONS",
    "READER_ACTIONS",
    "Client",
    "Decision",
    "FaultQueue",
    "FaultRule",
    "GeoLocator",
    "LoggedRequest",
    "MonitorStatus",
    "ProbeResult",
    "Prober",
    "Profile",
    "ProfileMonitorStatus",
    "RequestLog",
    "ServicePrincipal",
    "StreamedBody",
    "TrafficManagerDns",
    "TrafficManagerEmulator",
    "TrafficManagerState",
    "route",
]
