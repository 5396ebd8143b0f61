"""The engine protocol: chat requests in, generations out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Request:
    """One generation: the chat messages, and the bare payload they carry (the dry-run engine returns it)."""

    messages: list[dict[str, str]]
    payload: str = ""


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0

    def record(self) -> dict:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}


@dataclass
class Generation:
    text: str
    tokens: int = 0  # generated tokens, for tokens/s
    finished: bool = True  # False when cut off by max_tokens
    extra: dict = field(default_factory=dict)


class Engine(Protocol):
    name: str
    identity: bool  # True only for dry-run: outputs equal inputs, quality gates do not apply

    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generation]:
        """Generate one completion per request, in order."""

    def close(self) -> None:
        """Free the model (GPU memory, worker processes)."""


class Scorer(Protocol):
    """Engines that can read next-token probabilities (transformers, vLLM): what the judge needs."""

    tokenizer: object  # a transformers tokenizer, to map verdict words to token ids

    def next_token_probs(self, requests: list[Request], token_ids: list[int]) -> list[list[float]]:
        """For each request (assistant turn opened), P(token) for each of `token_ids`, renormalised over them."""
