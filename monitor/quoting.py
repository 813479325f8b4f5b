"""How an error message shows a value it quotes: as Python writes it, cut when it is long.

A configuration value may be a megabyte of text; a message shows at most SHOWN characters of
it, an ellipsis and how long it was, so that one wrong value is one readable line.
"""

from __future__ import annotations

__all__ = ["ELLIPSIS", "SHOWN", "cut_forms", "quoted", "shortened"]

SHOWN = 80
ELLIPSIS = "…"


def quoted(value: object) -> str:
    """`repr(value)`; for a longer one, its first SHOWN characters, `…` and its length:
    `'xxxx…' (480,000 characters)`."""
    if isinstance(value, str):
        if len(value) <= SHOWN:
            return repr(value)
        head = repr(value[:SHOWN])
        return f"{head[:-1]}{ELLIPSIS}{head[-1]} ({len(value):,} characters)"
    return shortened(repr(value))


def shortened(text: str, limit: int = SHOWN) -> str:
    """`text` itself, or its first `limit` characters, `…` and its length, unquoted."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{ELLIPSIS} ({len(text):,} characters)"


def cut_forms(value: str) -> list[str]:
    """How `quoted` and `shortened` show a long `value` (none for a short one): what must be
    scrubbed, besides the value itself, to keep it out of a message."""
    if len(value) <= SHOWN:
        return []
    return [quoted(value), shortened(value), value[:SHOWN]]
