"""The echo engine: for benchmarks and tests only. It takes every path a real engine takes and generates nothing.

Unlike dry-run (which returns before prompts, dedup, cache, batching and gates), a run with `--engine echo` builds
each prompt from the template, dedups segments, looks them up in and writes them to the translation cache, sends
length-sorted batches here, and checks every answer with the quality gates (retrying failures). What the toolkit
itself costs per row is then the time of such a run.

The answer is the segment read back out of the prompt, with ASCII letters mapped one for one onto Arabic letters.
A plain copy would fail the gates (untranslated, target script) on every segment: each would be retried, none
cached and every row rejected, which measures a failure path rather than the normal one. The mapping keeps length,
digits, punctuation and the ⟦n⟧ markers, so the gates pass as they do for a good translation into Arabic script.
"""

from __future__ import annotations

import string

from hala_release.core.errors import HalaError
from hala_release.engines.base import Generation, Request, Sampling

# 26 letters of the Arabic alphabet, in order; upper and lower case map alike.
_ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنه"
_TO_ARABIC = str.maketrans(string.ascii_lowercase + string.ascii_uppercase, _ARABIC * 2)


def echo_text(text: str) -> str:
    """The echo engine's "translation" of `text` (exposed so tests can state the expected output)."""
    return text.translate(_TO_ARABIC)


class EchoEngine:
    name = "echo"
    identity = False  # not dry-run's shortcut: the caller runs cache, dedup and gates as for a real engine

    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generation]:
        return [Generation(echo_text(self._segment(request)), 0) for request in requests]

    @staticmethod
    def _segment(request: Request) -> str:
        """The segment as the prompt carries it: read from the last message, where the templates put `{text}`."""
        prompt = request.messages[-1]["content"]
        start = prompt.rfind(request.payload)
        if start < 0:
            raise HalaError("the echo engine could not find the segment in the prompt: the prompt template must "
                            "contain {text} in its `user:` message")
        return prompt[start:start + len(request.payload)]

    def close(self) -> None:
        pass
