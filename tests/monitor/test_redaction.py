"""URLs made safe to show: userinfo and query values hidden, the rest kept."""

from __future__ import annotations

import pytest

from monitor.redaction import redact_url, redact_urls


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:p%40ss@dns.example:8443/dns-query?apikey=sk-1&region=eu#frag",
            "https://***@dns.example:8443/dns-query?apikey=***&region=***#***",
        ),
        ("https://token@127.0.0.1/dns-query", "https://***@127.0.0.1/dns-query"),
        ("https://[::1]:443/q?bare-secret", "https://[::1]:443/q?***"),
        ("https://dns.example/dns-query", "https://dns.example/dns-query"),
        ("https://u:p@host:99999/x?k=v", "https://***@host:99999/***"),
        ("not a url", "not a url"),
    ],
)
def test_a_url_keeps_scheme_host_port_and_path_only(url: str, shown: str) -> None:
    """Userinfo and every query value (and a fragment) become ***; a URL too broken to parse
    keeps no more than its host."""
    assert redact_url(url) == shown


def test_urls_inside_text_are_redacted_and_the_text_kept() -> None:
    """Library messages quote URLs amid other words and punctuation."""
    text = 'HTTP Request: POST https://u:pw@127.0.0.1:4443/dns-query?apikey=k1 "HTTP/1.1 200 OK"'
    assert redact_urls(text) == (
        'HTTP Request: POST https://***@127.0.0.1:4443/dns-query?apikey=*** "HTTP/1.1 200 OK"'
    )
    assert redact_urls("(see https://x.example/a?b=c).") == "(see https://x.example/a?b=***)."
