"""Asking Traffic Manager's name server: UDP first, TCP when the UDP answer is truncated."""

from __future__ import annotations

import dns.asyncquery
import dns.flags
import dns.message

from lab.resolvers.log import Transport

__all__ = ["ask"]


async def ask(
    query: dns.message.Message, host: str, port: int
) -> tuple[dns.message.Message, Transport]:
    """Traffic Manager's answer to `query`, and the transport that carried it. It waits as long
    as it takes (the caller bounds it); raises `dns.exception.DNSException` and `OSError`."""
    response = await dns.asyncquery.udp(query, host, port=port)
    if not response.flags & dns.flags.TC:
        return response, Transport.UDP
    return await dns.asyncquery.tcp(query, host, port=port), Transport.TCP
