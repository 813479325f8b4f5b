"""Microsoft Teams: a Workflows webhook ("When a Teams webhook request is received") that posts
the Adaptive Card of each alert to a channel (docs/alerts.md, "Microsoft Teams").

Workflows take Adaptive Cards only (not the retired connectors' MessageCard), wrapped in a
`message` with one attachment; they answer 202 Accepted. Teams refuses messages over about
28 KB, so the evidence is cut short (wording.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.alerts.notifier import Alert
from monitor.alerts.wording import clip, evidence_lines, facts, headline, origin

__all__ = ["CARD_VERSION", "payload"]

CARD_VERSION = "1.4"
_TITLE = 500
_COLOURS = {"critical": "Attention", "warning": "Warning", "info": "Default"}


def payload(message: Alert) -> dict[str, Any]:
    """The JSON body a Workflows webhook takes for `message`: one Adaptive Card."""
    event = message.event
    resolved = bool(event.get("resolved"))
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": clip(("✅ " if resolved else "") + headline(event), _TITLE),
            "size": "Medium",
            "weight": "Bolder",
            "color": "Good" if resolved else _COLOURS.get(str(event.get("severity")), "Default"),
            "wrap": True,
        },
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(event)]},
    ]
    evidence = event.get("evidence")
    lines = evidence_lines(evidence if isinstance(evidence, Mapping) else {})
    if lines:
        body.append({"type": "TextBlock", "text": "\n\n".join(lines), "wrap": True})
    body.append(
        {
            "type": "TextBlock",
            "text": origin(event),
            "size": "Small",
            "isSubtle": True,
            "wrap": True,
        }
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if message.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open regionwatch", "url": message.link}
        ]
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return {"type": "message", "attachments": [attachment]}
