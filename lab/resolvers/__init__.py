"""The lab's DNS resolvers, each standing for a geography: they answer the site's name through
the emulated Traffic Manager over UDP, TCP, DoT and DoH on loopback, and break on demand
(docs/architecture.md, "The lab")."""

from lab.faults import Fault
from lab.resolvers.certs import DEFAULT_TLS_NAME, client_context, server_context
from lab.resolvers.doh import DOH_PATH, MEDIA_TYPE
from lab.resolvers.log import QueryRecord, RequestLog, Transport
from lab.resolvers.resolver import LAB_SUBNETS, LabResolver

__all__ = [
    "DEFAULT_TLS_NAME",
    "DOH_PATH",
    "LAB_SUBNETS",
    "MEDIA_TYPE",
    "Fault",
    "LabResolver",
    "QueryRecord",
    "RequestLog",
    "Transport",
    "client_context",
    "server_context",
]
