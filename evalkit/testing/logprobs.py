"""OpenAI-shaped ``logprobs`` for the loopback server's answers."""

from __future__ import annotations

from typing import Any


def logprob_content(text: str, top: int) -> list[dict[str, Any]]:
    """OpenAI-shaped logprobs for ``text``: each character a token, the chosen one at log(0.9)."""
    content = []
    for char in text or " ":
        entry: dict[str, Any] = {"token": char, "logprob": -0.105, "bytes": list(char.encode())}
        if top:
            entry["top_logprobs"] = [{"token": char, "logprob": -0.105, "bytes": list(char.encode())}]
        content.append(entry)
    return content


def scripted_logprob_content(tokens: list[dict[str, float]]) -> list[dict[str, Any]]:
    """OpenAI-shaped logprobs from scripted alternatives: each token is its most likely alternative."""
    content = []
    for alternatives in tokens:
        ranked = sorted(alternatives.items(), key=lambda kv: -kv[1])
        top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in ranked]
        content.append({**top[0], "top_logprobs": top})
    return content
