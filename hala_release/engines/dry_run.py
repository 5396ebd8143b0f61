"""The dry-run engine: returns each payload unchanged, to measure toolkit overhead and check formatting."""

from __future__ import annotations

from hala_release.engines.base import Generation, Request, Sampling


class DryRunEngine:
    name = "dry-run"
    identity = True

    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generation]:
        return [Generation(request.payload, 0) for request in requests]

    def close(self) -> None:
        pass
