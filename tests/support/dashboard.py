"""The supervisor dashboard as a client keeps it: each `dashboard` frame carries the parts that
changed, merged into what came before (docs/protocol.md, 5.5)."""

from __future__ import annotations

from typing import Any


def merged(view: dict[str, Any], frame: dict[str, Any]) -> dict[str, Any]:
    """`view` with a `dashboard` frame's parts put in; a queue's waiting list of count 0 goes."""
    out = {**view, "waiting": dict(view.get("waiting", {}))}
    for name, value in frame.items():
        if name in ("v", "type"):
            continue
        if name == "waiting":
            for queue, listed in value.items():
                if listed["count"]:
                    out["waiting"][queue] = listed
                else:
                    out["waiting"].pop(queue, None)
        else:
            out[name] = value
    return out
