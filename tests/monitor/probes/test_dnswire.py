"""The lean DNS reader agrees with dnspython on every message the probe can meet."""

from __future__ import annotations

import contextlib

import dns.edns
import dns.flags
import dns.message
import dns.rrset
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.probes.dnswire import WireError, parse_reply, reply_from_message

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
names = st.lists(labels, min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ttls = st.integers(min_value=0, max_value=2**31 - 1)


@st.composite
def answers(draw: st.DrawFn) -> dns.message.Message:
    """An answer as a resolver sends it: a CNAME chain, addresses, maybe ECS, any rcode."""
    qname = draw(names) + "."
    rdtype = draw(st.sampled_from(["A", "AAAA"]))
    query = dns.message.make_query(qname, rdtype, use_edns=0, id=draw(st.integers(0, 65535)))
    response = dns.message.make_response(query)
    response.set_rcode(draw(st.sampled_from([0, 2, 3, 5])))
    owner = qname
    chain = draw(st.lists(names, max_size=3, unique=True).filter(lambda c: qname[:-1] not in c))
    for target in chain:
        response.answer.append(dns.rrset.from_text(owner, draw(ttls), "IN", "CNAME", target + "."))
        owner = target + "."
    # One RRset per type, with one TTL, as a resolver sends it (RFC 2181 §5.2).
    for rdtype, addresses in (
        ("A", st.lists(ipv4, max_size=3, unique=True)),
        ("AAAA", st.lists(ipv6, max_size=2, unique=True)),
    ):
        found = draw(addresses)
        if found:
            response.answer.append(dns.rrset.from_text_list(owner, draw(ttls), "IN", rdtype, found))
    if draw(st.booleans()):
        scope = draw(st.integers(min_value=0, max_value=24))
        response.use_edns(0, options=[dns.edns.ECSOption("81.2.69.0", 24, scope)])
    if draw(st.booleans()):
        response.flags |= dns.flags.TC
    return response


@given(answers())
def test_the_lean_reader_reads_what_dnspython_reads(response: dns.message.Message) -> None:
    """Records, rcode, truncation and ECS scope are the same as dnspython's parse."""
    wire = response.to_wire()  # here, not in the strategy: dnspython shuffles with `random`
    lean = parse_reply(wire)
    full = reply_from_message(dns.message.from_wire(wire))
    assert (lean.rcode, lean.truncated, lean.ecs_scope) == (
        full.rcode,
        full.truncated,
        full.ecs_scope,
    )
    assert sorted(lean.records, key=repr) == sorted(full.records, key=repr)


@given(st.binary(max_size=300))
def test_garbage_is_a_wire_error_never_a_crash(wire: bytes) -> None:
    """Whatever comes back, the reader returns a reply or raises WireError."""
    with contextlib.suppress(WireError):
        parse_reply(wire)


def test_a_compression_loop_is_refused() -> None:
    """A name that points at itself must not spin."""
    header = bytes([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(WireError, match="compression"):
        parse_reply(header + b"\xc0\x0c" + b"\x00\x01\x00\x01")
