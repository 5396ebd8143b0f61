"""Translate a batch of segments: dedup, cache, length-sorted batches, quality gates and bounded retries."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from hala_release.engines import Engine, Request, Sampling
from hala_release.core.languages import display_name
from hala_release.core.prompts import PromptTemplate
from hala_release.engines.quality import GateConfig, check
from hala_release.core.segment import Segment
from hala_release.engines.translation_cache import TranslationCache


class Outcome(NamedTuple):
    text: str | None  # None when the segment failed every attempt
    reasons: tuple[str, ...] = ()


class SegmentTranslator:
    """Turns segments into translations with the engine; counts what it did for the summary and the card."""

    def __init__(self, engine: Engine, template: PromptTemplate, sampling: Sampling, gates: GateConfig,
                 source_lang: str, target_lang: str, *, cache: TranslationCache | None = None, batch_size: int = 64,
                 max_retries: int = 2, dedup: bool = True):
        self.engine, self.template, self.sampling, self.gates = engine, template, sampling, gates
        self.source_lang, self.target_lang = source_lang, target_lang
        self.cache, self.batch_size, self.max_retries, self.dedup = cache, batch_size, max_retries, dedup
        self.stats: Counter = Counter()
        self.failures: Counter = Counter()

    def run(self, segments: list[Segment]) -> list[Outcome]:
        """One outcome per input segment, in order."""
        self.stats["segments"] += len(segments)
        if self.engine.identity:
            self.stats["unique_segments"] += len({s.text for s in segments})
            return [Outcome(s.text) for s in segments]
        units = list({s.text: s for s in segments}.values()) if self.dedup else list(segments)
        self.stats["unique_segments"] += len({u.text for u in units})
        results: list[Outcome | None] = [None] * len(units)
        if self.cache is not None:
            hits = self.cache.get_many([u.text for u in units])
            for index, unit in enumerate(units):
                if unit.text in hits:
                    results[index] = Outcome(hits[unit.text][0])
                    self.stats["cache_hits"] += 1
        todo = [i for i, outcome in enumerate(results) if outcome is None]
        for index, outcome in zip(todo, self._generate_with_retries([units[i] for i in todo])):
            results[index] = outcome
        if not self.dedup:
            return results  # type: ignore[return-value]
        by_text = {unit.text: outcome for unit, outcome in zip(units, results)}
        return [by_text[s.text] for s in segments]

    def retry(self, segments: list[Segment], attempt: int) -> list[Outcome]:
        """Fresh translations for segments whose text failed a check over the whole text (its structure): sampled
        as gate retry `attempt` is, never read from the cache; those passing the segment gates replace the cached
        ones. One outcome per input segment, in order."""
        if self.engine.identity:
            return [Outcome(s.text) for s in segments]
        units = list({s.text: s for s in segments}.values())
        self.stats["retries"] += len(units)
        results: dict[str, Outcome] = {}
        passed: dict[str, tuple[str, int]] = {}
        for unit, (text, tokens) in zip(units, self._generate(units, self._sampling_for(attempt))):
            reasons = check(unit, text, self.source_lang, self.target_lang, self.gates)
            results[unit.text] = Outcome(None, tuple(reasons)) if reasons else Outcome(text)
            if not reasons:
                passed[unit.text] = (text, tokens)
        if self.cache is not None and passed:
            self.cache.put_many(passed)
        return [results[s.text] for s in segments]

    def _generate_with_retries(self, units: list[Segment]) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(units)
        pending = list(range(len(units)))
        last_reasons: dict[int, list[str]] = {}
        for attempt in range(self.max_retries + 1):
            if not pending:
                break
            if attempt:
                self.stats["retries"] += len(pending)
            sampling = self._sampling_for(attempt)
            texts = self._generate([units[i] for i in pending], sampling)
            passed: dict[str, tuple[str, int]] = {}
            still = []
            for index, (text, tokens) in zip(pending, texts):
                reasons = check(units[index], text, self.source_lang, self.target_lang, self.gates)
                if reasons:
                    last_reasons[index] = reasons
                    still.append(index)
                else:
                    results[index] = Outcome(text)
                    passed[units[index].text] = (text, tokens)
            if self.cache is not None and passed:
                self.cache.put_many(passed)
            pending = still
        for index in pending:
            self.failures.update(last_reasons[index])
            self.stats["failed_segments"] += 1
            results[index] = Outcome(None, tuple(last_reasons[index]))
        return results  # type: ignore[return-value]

    def _sampling_for(self, attempt: int) -> Sampling:
        """Retries change the sampling, or they would repeat the same failure."""
        if attempt == 0:
            return self.sampling
        base = self.sampling
        return Sampling(max_tokens=base.max_tokens, temperature=max(base.temperature, 0.3 * attempt + 0.3),
                        top_p=min(base.top_p, 0.95), seed=(base.seed or 0) + attempt)

    def _generate(self, units: list[Segment], sampling: Sampling) -> list[tuple[str, int]]:
        """Length-sorted batches (similar lengths pad less and finish together), answers back in input order."""
        order = sorted(range(len(units)), key=lambda i: len(units[i].text), reverse=True)
        names = {"source_name": display_name(self.source_lang), "target_name": display_name(self.target_lang)}
        answers: list[tuple[str, int] | None] = [None] * len(units)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            requests = [Request(self.template.messages(units[i].text, self.source_lang, self.target_lang, **names),
                                units[i].text) for i in batch]
            for index, generation in zip(batch, self.engine.generate(requests, sampling)):
                answers[index] = (generation.text.strip(), generation.tokens)
                self.stats["generated_tokens"] += generation.tokens
                self.stats["generated_segments"] += 1
        return answers  # type: ignore[return-value]
