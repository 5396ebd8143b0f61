"""The echo engine: for benchmarks and tests only. It takes every path a real engine takes and generates nothing.

Unlike dry-run (which returns before prompts, dedup, cache, batching and gates), a run with `--engine echo` builds
each prompt from the template, dedups segments, looks them up in and writes them to the translation cache, sends
length-sorted batches here, and checks every answer with the quality gates (retrying failures). What the toolkit
itself costs per row is then the time of such a run.

The answer is the segment read back out of the prompt, each English word replaced by an Arabic word of about its
length (chosen by a checksum of the word, so the same word always gives the same answer). A plain copy would fail
the gates (untranslated, target script) on every segment: each would be retried, none cached and every row
rejected, which measures a failure path rather than the normal one. Real Arabic words matter for the language
check: letters mapped one for one onto Arabic letters are no language at all, so every text would take the
identifier's slow path (`language_id`), which a good translation never does. Digits, punctuation, spacing and the
⟦n⟧ markers are kept, so the gates pass as they do for a good translation into Arabic.
"""

from __future__ import annotations

import re
import zlib

from hala_release.core.errors import HalaError
from hala_release.engines.base import Generation, Request, Sampling

# Common Arabic words, grouped by length below.
_VOCABULARY = """
في من عن ما لا هو هي قد لم أو ثم كل مع إن على إلى هذا هذه ذلك التي الذي الذين كان كانت يكون بين بعد قبل عند حتى
كما لكن إذا لأن بعض غير أيضا هناك هنا اليوم الناس العالم الماء الكتاب المدرسة البيت الطريق العمل الوقت السؤال
الجواب اللغة الحياة الأرض السماء الشمس المدينة الطعام الصباح المساء الليل الطالب المعلم الأسرة الصديق السوق الشجرة
البحر المعرفة التاريخ العلوم الصحة المستقبل الحكومة المجتمع الإنسان جميل كبير صغير جديد قديم كثير قليل مهم سريع
طويل قصير يقول يكتب يقرأ يعمل يذهب يأتي يعرف يريد يستطيع يفهم يتعلم يساعد يبحث يجب نستطيع استخدام معلومات مختلفة
المشكلة الطريقة النتيجة الجامعات المختلفة الاقتصاد المستشفى المعلومات التعليمية المسؤولية الاجتماعية الرياضيات
المحادثة
""".split()
_BY_LENGTH = {length: tuple(w for w in _VOCABULARY if len(w) == length) for length in {len(w) for w in _VOCABULARY}}
_ENGLISH_WORD = re.compile(r"[A-Za-z]+")


def _arabic_word(match: re.Match) -> str:
    word = match.group()
    length = min(_BY_LENGTH, key=lambda n: (abs(n - len(word)), n))  # the nearest length the vocabulary has
    group = _BY_LENGTH[length]
    return group[zlib.crc32(word.lower().encode()) % len(group)]


def echo_text(text: str) -> str:
    """The echo engine's "translation" of `text` (exposed so tests can state the expected output)."""
    return _ENGLISH_WORD.sub(_arabic_word, text)


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
