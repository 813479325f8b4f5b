"""Slack: an incoming webhook, one Block Kit message per alert (docs/alerts.md, "Slack").

The top-level `text` is the plain fallback Slack shows in notifications and where blocks are
not rendered; the blocks carry the headline, the facts, the evidence in short, a button to
regionwatch when `api.public_url` is set, and where the event came from. Slack answers 200
`ok`; 429 (with `Retry-After`) and 5xx are tried again; 400 `invalid_payload`, 403, 404
`no_service` and 410 are final (delivery.py classifies them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.alerts.notifier import Alert
from monitor.alerts.wording import clip, evidence_lines, facts, headline, origin

__all__ = ["payload"]

# Block Kit's limits: a header's text, a section's text, a field's text, the fallback we keep.
_HEADER = 150
_SECTION = 3000
_FIELD = 2000
_TEXT = 3000
_MARKS = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
_RESOLVED = ":white_check_mark:"


def payload(message: Alert) -> dict[str, Any]:
    """The JSON body Slack's incoming webhook takes for `message`."""
    event = message.event
    mark = _RESOLVED if event.get("resolved") else _MARKS.get(str(event.get("severity")), "")
    title = f"{mark} {headline(event)}".strip()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(clip(title, _HEADER))},
        {
            "type": "section",
            "fields": [_mrkdwn(clip(f"*{k}*\n{_escape(v)}", _FIELD)) for k, v in facts(event)],
        },
    ]
    evidence = evidence_lines(_mapping(event.get("evidence")))
    if evidence:
        text = "\n".join(f"• {_escape(line)}" for line in evidence)
        blocks.append({"type": "section", "text": _mrkdwn(clip(text, _SECTION))})
    if message.link:
        button = {"type": "button", "text": _plain("Open regionwatch"), "url": message.link}
        blocks.append({"type": "actions", "elements": [button]})
    blocks.append({"type": "context", "elements": [_mrkdwn(_escape(origin(event)))]})
    return {"text": clip(_escape(title), _TEXT), "blocks": blocks}


def _escape(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel> pages everyone): what the watched
    # site answered must be shown, never acted on.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
