"""Traffic Manager: its view of every endpoint, and the one write we make (an endpoint's status)."""

from monitor.trafficmanager.model import EndpointState, MonitorConfig, ProfileState, WriteAccess
from monitor.trafficmanager.port import TrafficManager

__all__ = ["EndpointState", "MonitorConfig", "ProfileState", "TrafficManager", "WriteAccess"]
