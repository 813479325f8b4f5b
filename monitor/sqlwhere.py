"""The WHERE clause of a filtered read: each filter given counts, each left out (None) does
not, and every value is bound, never formatted into the SQL."""

from __future__ import annotations

from typing import Any

__all__ = ["where"]


def where(*filters: tuple[str, Any]) -> tuple[str, list[Any]]:
    """`" WHERE a AND b"` (or `""`) and the values to bind, from `(clause, value)` pairs: a
    pair whose value is None is left out; a tuple value binds each of its items in order (a
    clause with several `?`, or none for `()`); any other value binds itself."""
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in filters:
        if value is None:
            continue
        clauses.append(clause)
        if isinstance(value, tuple):
            args.extend(value)
        else:
            args.append(value)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args
