"""The DNS probe's fast path: UDP queries encoded once, answers read by a lean parser.

A round asks every resolver from every vantage point at once, so the check's CPU per query
decides how long a round takes (docs/benchmarks.md, "DNS round"). dnspython spends most of a
query building and hashing objects it does not need here; this module reads only what the
probe uses — the header, the answer section's CNAME, A and AAAA records, and the EDNS Client
Subnet scope — and leaves every other path (TCP, DoT, DoH, a truncated answer) to dnspython.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
from dataclasses import dataclass

import dns.edns
import dns.message
import dns.rdatatype

__all__ = [
    "Record",
    "Reply",
    "WireError",
    "parse_reply",
    "reply_from_message",
    "udp_exchange",
    "with_new_id",
]

TYPE_A, TYPE_CNAME, TYPE_AAAA, TYPE_OPT = 1, 5, 28, 41
_ECS = 8
_TC = 0x0200
_QR = 0x8000
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_MAX_POINTERS = 64


class WireError(ValueError):
    """The bytes are not a DNS message this parser can read."""


@dataclass(frozen=True, slots=True)
class Record:
    name: str  # lower case, no final dot
    rdtype: int
    ttl: int
    value: str  # the address, or the CNAME's target (lower case, no final dot); "" otherwise


@dataclass(frozen=True, slots=True)
class Reply:
    rcode: int
    truncated: bool
    records: tuple[Record, ...]
    ecs_scope: int | None  # None: no ECS option in the answer


def with_new_id(base: bytes) -> bytes:
    """A query encoded once, with a fresh random id for this attempt."""
    return secrets.randbelow(65536).to_bytes(2, "big") + base[2:]


async def udp_exchange(wire: bytes, address: str, port: int) -> bytes:
    """Send one query over UDP and return the answer with its id. A connected socket only
    hears the resolver it asked; the caller's timeout bounds the wait."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET  # config holds IP literals
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((address, port))
        await loop.sock_sendall(sock, wire)
        while True:
            data = await loop.sock_recv(sock, 65535)
            if len(data) >= _HEADER.size and data[:2] == wire[:2]:
                (flags,) = struct.unpack_from("!H", data, 2)
                if flags & _QR:
                    return data


def parse_reply(wire: bytes) -> Reply:
    """Header, answer records and the ECS scope of an answer; WireError if it is malformed."""
    try:
        _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire, 0)
        offset = _HEADER.size
        for _ in range(qdcount):
            _, offset = _name(wire, offset)
            offset += 4
        records = []
        for _ in range(ancount):
            record, offset = _record(wire, offset)
            if record is not None:
                records.append(record)
        for _ in range(nscount):
            _, offset = _record(wire, offset)
        rcode, scope = flags & 0x000F, None
        for _ in range(arcount):
            name_end = _name(wire, offset)[1]
            rdtype, _, ttl, length = _RR.unpack_from(wire, name_end)
            start = name_end + _RR.size
            if rdtype == TYPE_OPT:
                rcode |= (ttl >> 24) << 4  # extended rcode
                scope = _ecs_scope(wire[start : start + length])
            offset = start + length
        if offset > len(wire):
            raise WireError("message ends inside a record")
    except (struct.error, IndexError) as e:
        raise WireError(f"malformed DNS message: {e}") from None
    return Reply(rcode, bool(flags & _TC), tuple(records), scope)


def reply_from_message(message: dns.message.Message) -> Reply:
    """The same view of a message dnspython parsed (TCP, DoT, DoH and truncation fallback)."""
    records = []
    for rrset in message.answer:
        if rrset.rdtype not in (TYPE_A, TYPE_AAAA, TYPE_CNAME):
            continue
        name = rrset.name.to_text(omit_final_dot=True).lower()
        for rdata in rrset:
            if rrset.rdtype == dns.rdatatype.CNAME:
                value = rdata.target.to_text(omit_final_dot=True).lower()
            else:
                value = rdata.to_text()
            records.append(Record(name, int(rrset.rdtype), rrset.ttl, value))
    scope = next(
        (int(o.scopelen) for o in message.options if isinstance(o, dns.edns.ECSOption)), None
    )
    return Reply(message.rcode(), bool(message.flags & _TC), tuple(records), scope)


def _record(wire: bytes, offset: int) -> tuple[Record | None, int]:
    name, offset = _name(wire, offset)
    rdtype, _, ttl, length = _RR.unpack_from(wire, offset)
    start = offset + _RR.size
    end = start + length
    if end > len(wire):
        raise WireError("record data runs past the message")
    if rdtype == TYPE_A and length == 4:
        return Record(name, rdtype, ttl, socket.inet_ntop(socket.AF_INET, wire[start:end])), end
    if rdtype == TYPE_AAAA and length == 16:
        return Record(name, rdtype, ttl, socket.inet_ntop(socket.AF_INET6, wire[start:end])), end
    if rdtype == TYPE_CNAME:
        return Record(name, rdtype, ttl, _name(wire, start)[0]), end
    return None, end


def _name(wire: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) name at `offset`, and the offset just after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        length = wire[offset]
        if length & 0xC0 == 0xC0:
            jumps += 1
            if jumps > _MAX_POINTERS:
                raise WireError("too many compression pointers")
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            continue
        if length & 0xC0:
            raise WireError(f"unknown label type at {offset}")
        if length == 0:
            return ".".join(labels).lower(), end if end >= 0 else offset + 1
        if offset + 1 + length > len(wire):
            raise WireError("a label runs past the message")
        labels.append(wire[offset + 1 : offset + 1 + length].decode("latin-1"))
        offset += 1 + length


def _ecs_scope(options: bytes) -> int | None:
    offset = 0
    while offset + 4 <= len(options):
        code, length = struct.unpack_from("!HH", options, offset)
        data = options[offset + 4 : offset + 4 + length]
        if code == _ECS and len(data) >= 4:
            return data[3]
        offset += 4 + length
    return None
