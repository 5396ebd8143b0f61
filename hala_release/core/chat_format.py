"""Chat turns in one shape: `{role, content}` messages, whatever layout a dataset stored them in.

Training and the chat SFT mix both read ShareGPT turns (`{from, value}`, as in Hermes 3 and HALA's own SFT set)
and chat messages (`{role, content}`, as in Tulu 3); this is the one place that knows how they map.
"""

from __future__ import annotations

from typing import Any

# ShareGPT speaker names -> chat roles.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "tool": "tool"}


class TurnError(ValueError):
    """A turn that cannot become a chat message (the message says which and why)."""


def turn_layout(turn: Any) -> str | None:
    """'messages' for {role, content} turns, 'sharegpt' for {from, value}, None for anything else."""
    if not isinstance(turn, dict):
        return None
    if {"role", "content"} <= set(turn):
        return "messages"
    if {"from", "value"} <= set(turn):
        return "sharegpt"
    return None


def to_messages(turns: list[dict]) -> list[dict[str, str]]:
    """Turns in either layout as `{role, content}` messages (other keys dropped)."""
    messages = []
    for turn in turns or []:
        layout = turn_layout(turn)
        if layout == "messages":
            role, content = turn["role"], turn["content"]
        elif layout == "sharegpt":
            role = SHAREGPT_ROLES.get(str(turn["from"]).lower())
            if role is None:
                raise TurnError(f"a turn from {turn['from']!r}: expected one of {', '.join(SHAREGPT_ROLES)}")
            content = turn["value"]
        else:
            raise TurnError(f"a turn with keys {sorted(turn) if isinstance(turn, dict) else type(turn).__name__}: "
                            f"expected role/content (chat messages) or from/value (ShareGPT)")
        messages.append({"role": str(role), "content": content or ""})
    return messages
