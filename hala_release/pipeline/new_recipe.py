"""`hala-release new-recipe --target-lang LANG`: HALA's recipe (recipes/hala.yaml) written for another language.

The same stages and English sources; what depends on the language is chosen here and said in the file's comments:
the teacher (Command A Translate where it covers the language, else `--teacher`), the parallel corpus the judge
filters (OPUS-100's English pair where it has one, else `--parallel`), the bases (LFM2 350M/700M/1.2B; HALA's 9B
base, Fanar, is an Arabic model and is left out) and the evaluation (the language's own lighteval suite, and FLORES
both ways for the translator). `pipeline run RECIPE --dry-run` checks and prices the result.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from hala_release.core.errors import UsageError

DEFAULT_TEACHER = "CohereLabs/command-a-translate-08-2025"
# The 23 languages of Cohere's Command A family (English aside), which its translate model's card names: the teacher
# is a default only for these. Written from that card, not checked from this offline machine: --teacher overrides.
TEACHER_LANGUAGES = {"ar", "zh", "cs", "nl", "fr", "de", "el", "he", "hi", "id", "it", "ja", "ko", "fa", "pl", "pt",
                     "ro", "ru", "es", "tr", "uk", "vi"}
PARALLEL = "Helsinki-NLP/opus-100"
# OPUS-100's languages paired with English (its dataset card's `language:` list, English left out).
OPUS_100 = set("""af am an ar as az be bg bn br bs ca cs cy da de dz el eo es et eu fa fi fr fy ga gd gl gu ha he hi hr
hu hy id ig is it ja ka kk km kn ko ku ky li lt lv mg mk ml mn mr ms mt my nb ne nl nn no oc or pa pl ps pt ro ru rw
se sh si sk sl sq sr sv ta te tg th tk tr tt ug uk ur uz vi wa xh yi yo zh zu""".split())
_REPO_RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def opus_config(code: str) -> str | None:
    """OPUS-100's config for English and `code` (its names sort the pair: `ar-en`, `en-sw`), or None."""
    import langcodes

    base = langcodes.Language.get(code).language
    if base not in OPUS_100:
        return None
    return "-".join(sorted([base, "en"]))


def write_recipe(target_lang: str, output: Path, *, teacher: str | None = None, parallel: str | None = None,
                 parallel_subset: str | None = None, overwrite: bool = False) -> Path:
    """Write the recipe for `target_lang` to `output` (refusing to replace a file unless `overwrite`)."""
    import langcodes

    from hala_release.core.files import write_atomic
    from hala_release.core.languages import display_name, hub_code, normalise_language

    code = normalise_language(target_lang)
    base = langcodes.Language.get(code).language
    name = display_name(code)
    if output.exists() and not overwrite:
        raise UsageError(f"{output} exists: pass --overwrite to replace it, or another --output")
    if teacher is None:
        if base not in TEACHER_LANGUAGES:
            raise UsageError(f"no default teacher translates English into {name}: {DEFAULT_TEACHER} covers "
                             f"{', '.join(sorted(TEACHER_LANGUAGES))}. Pass --teacher MODEL (a Hub id or folder of "
                             f"an instruction model that translates into {name})")
        teacher, teacher_note = DEFAULT_TEACHER, f"the default for {name}: its model card lists it"
    else:
        teacher_note = "given with --teacher"
    if parallel is None:
        subset = opus_config(code)
        if subset is None:
            raise UsageError(f"OPUS-100 has no English-{name} pair: pass --parallel REF (a dataset of English-{name} "
                             f"sentence pairs in a `translation` column; --parallel-subset for its config)")
        parallel, parallel_subset, parallel_note = PARALLEL, subset, f"OPUS-100's {subset} pairs"
    else:
        parallel_note = "given with --parallel"
    values = {
        "code": code, "hub": hub_code(code), "name": name, "teacher": teacher, "teacher_note": teacher_note,
        "parallel": parallel, "parallel_note": parallel_note,
        "subset_line": f"\n      subset: {parallel_subset}" if parallel_subset else "",
        "train": _train_folder(output),
    }
    text = Template(_TEMPLATE).substitute(values)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, text)
    return output


def _train_folder(output: Path) -> str:
    """Where the training recipes are, as the new file will find them (relative to it, as recipes/hala.yaml does)."""
    folder = _REPO_RECIPES / "train"
    if folder.is_dir():
        return Path(os.path.relpath(folder, output.resolve().parent)).as_posix()
    return "train"  # an installed package without the repository: copy recipes/train/ next to the file


_TEMPLATE = """\
# HALA's translate-and-tune recipe for $name ($code), written by `hala-release new-recipe --target-lang $code`.
# Edit freely; check it, and price it, before spending a GPU-hour:
#
#   hala-release pipeline run THIS_FILE --dry-run
#   hala-release pipeline run THIS_FILE --dry-run --calibrate 200 --tokens-per-second 2500
#
# What was chosen for $name (everything else is recipes/hala.yaml, HALA's Arabic recipe):
# - teacher: $teacher ($teacher_note)
# - parallel corpus for the judge: $parallel ($parallel_note)
# - bases: LiquidAI LFM2 350M / 700M / 1.2B. HALA's 9B base (QCRI/Fanar-1-9B-Instruct) is an Arabic model and is
#   left out; add a base that knows $name as its own train + merge stages.
# - evaluation: the $name suite of lighteval's multilingual tasks (`eval --language $code`) for the chat models, and
#   FLORES-200 English<->$name (`--suite translation --language $code`) for the translator.
# Sizes are HALA's; `estimate:` lines are assumptions until a calibration run replaces them.
name: hala-$hub
version: v1
description: HALA's recipe for $name - teacher translation, judged parallel data, an LFM2 translator, translated instruction data, LFM2 chat models slerp-merged with their bases, and $name benchmarks.
output_dir: ./runs/hala-$hub

stages:
  # --- 1. the teacher, compressed to FP8 (dynamic activation scales, shard by shard)
  teacher-fp8:
    uses: quantize
    with:
      model: $teacher
      scheme: FP8_DYNAMIC
      model_free: true
      verify: false                # judge the teacher by the translate stage's rejected split instead

  # --- 2. translate A: Open-Orca rows, instruction and response, English -> $name
  openorca-$hub:
    uses: translate
    with:
      source: Open-Orca/OpenOrca
      model: $${stages.teacher-fp8.output}
      target_lang: $code
      engine: vllm
      prompt_template: hala-teacher
      limit: 405000                # HALA's count
      max_tokens: 2048
      chunk_size: 5000
    estimate: {tokens_per_row: 600, note: "HALA's assumption for Arabic; replace it with a calibration run"}

  # --- 3. the parallel corpus, judged pair by pair (rule filters first, language checked on both sides)
  parallel-judged:
    uses: judge
    with:
      source: $parallel$subset_line
      source_lang: en
      target_lang: $code
      judge: Qwen/Qwen2.5-3B-Instruct   # HALA's judge; a judge that reads $name well matters more than its size
      engine: vllm
      threshold: 0.5
      chunk_size: 20000

  # --- 4. the translator's bilingual set, 5. the translator (LFM2-1.2B)
  translator-mix:
    uses: mix
    with:
      translated:
        - $${stages.openorca-$hub.output}
      parallel:
        - $${stages.parallel-judged.output}
      target_lang: $code
      eval_size: 2000
      seed: 42
  translator:
    uses: train
    repo: Hala-1.2B-EN-$hub-Translator
    with:
      recipe: $train/hala-translator-lfm2-1.2b.yaml
      model_name_or_path: LiquidAI/LFM2-1.2B
      dataset_name: $${stages.translator-mix.output}
      dataset_test_split: test

  # --- 6. translate B: the instruction sources, translated by the new translator
  hermes3-$hub:
    uses: translate
    with: &translate-b
      source: NousResearch/Hermes-3-Dataset
      model: $${stages.translator.output}
      target_lang: $code
      engine: vllm
      prompt_template: hala-translator
      max_tokens: 2048
      chunk_size: 5000
  scp116k-$hub:
    uses: translate
    with: {<<: *translate-b, source: EricLu/SCP-116K}
  tulu3-$hub:
    uses: translate
    with: {<<: *translate-b, source: allenai/tulu-3-sft-mixture}
  lamini-$hub:
    uses: translate
    with: {<<: *translate-b, source: MBZUAI/LaMini-instruction}

  # --- 7. the $name chat set: every translation as chat turns, deduplicated, language-checked, one held-out split
  sft-data:
    uses: chat-mix
    with:
      translated:
        - $${stages.openorca-$hub.output}
        - $${stages.hermes3-$hub.output}
        - $${stages.scp116k-$hub.output}
        - $${stages.tulu3-$hub.output}
        - $${stages.lamini-$hub.output}
      target_lang: $code
      eval_size: 2000
      seed: 42

  # --- 8. the chat models, 9. slerp-merged with their bases
  chat-350m-sft:
    uses: train
    with: &instruct-data
      recipe: $train/hala-350m-lfm2.yaml
      dataset_name: $${stages.sft-data.output}
      dataset_test_split: test
      messages_column: messages
  chat-350m:
    uses: merge
    with: {base: LiquidAI/LFM2-350M, tuned: "$${stages.chat-350m-sft.output}", t: 0.5}
  chat-700m-sft:
    uses: train
    with: {<<: *instruct-data, recipe: $train/hala-700m-lfm2.yaml}
  chat-700m:
    uses: merge
    with: {base: LiquidAI/LFM2-700M, tuned: "$${stages.chat-700m-sft.output}", t: 0.5}
  chat-1.2b-sft:
    uses: train
    with: {<<: *instruct-data, recipe: $train/hala-1.2b-lfm2.yaml}
  chat-1.2b:
    uses: merge
    with: {base: LiquidAI/LFM2-1.2B, tuned: "$${stages.chat-1.2b-sft.output}", t: 0.5}

  # --- 10. evaluation: $name's own benchmarks; the translator on FLORES-200 devtest, both directions
  eval-chat-350m:
    uses: eval
    with: {model: "$${stages.chat-350m.output}", language: $code, backend: vllm}
  eval-chat-700m:
    uses: eval
    with: {model: "$${stages.chat-700m.output}", language: $code, backend: vllm}
  eval-chat-1.2b:
    uses: eval
    with: {model: "$${stages.chat-1.2b.output}", language: $code, backend: vllm}
  eval-translator:
    uses: eval
    with: {model: "$${stages.translator.output}", suite: translation, language: $code, backend: vllm}
"""
