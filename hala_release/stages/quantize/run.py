"""quantize: compress a model with llm-compressor (FP8 by default), then check the result against the original.

HALA ran its ~111B teacher translator in FP8 with dynamic activation scales for ~2x throughput. Two paths:
`oneshot` loads the model through transformers; `model_free_ptq` works straight on the safetensors shards, one at
a time, the way to do a 100B+ model on one machine. Either way the saved checkpoint is reloaded and compared with
the original on a fixed prompt set (logit max abs diff, top-1 agreement, a greedy sample from each), and those
figures go into the card: a checkpoint that loads but drifts is worse than none, and a reader should be able to
judge it without rerunning anything.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hala_release.artifacts.build import build_artifact
from hala_release.core.disk_space import SpaceNeed, check_room
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.artifacts.inputs import (carried_license, describe_quantization, display_name, hub_link, hub_parents,
                       input_languages, license_fields, module_pattern, quantization_of, read_config,
                       other_files_bytes, remove_pickles, require_safetensors, tensor_headers,
                       weights_bytes)
from hala_release.core.provenance import CardFacts, CardSection
from hala_release.core.refs import resolve
from hala_release.stages.quantize.config import PUBLISH_KEYS, QuantizeConfig

log = logging.getLogger(__name__)

# A fixed, bilingual prompt set: the verification must compare like with like on every run.
VERIFY_PROMPTS = (
    "Translate the following text from English to Arabic: The library opens at nine in the morning.",
    "ترجم النص التالي من العربية إلى الإنجليزية: الطقس جميل اليوم في المدينة.",
    "What is the capital of Morocco? Answer in one sentence.",
    "ما هي فوائد القراءة اليومية؟",
    "Write a Python function that returns the square of a number.",
    "اشرح باختصار كيف تعمل الطاقة الشمسية.",
)
FP8_DTYPES = {"F8_E4M3", "F8_E5M2"}


@dataclass
class LogitComparison:
    """How closely a quantized model tracks the original on the same prompts."""

    prompts: int
    positions: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    sample_prompt: str = ""
    sample_original: str = ""
    sample_quantized: str = ""

    def stats(self) -> dict[str, Any]:
        return {"verify_prompts": self.prompts, "verify_positions": self.positions,
                "logits_max_abs_diff": self.max_abs_diff, "logits_mean_abs_diff": self.mean_abs_diff,
                "top1_agreement": self.top1_agreement,
                "greedy_sample_identical": self.sample_original == self.sample_quantized}


def check_scheme(scheme: str) -> str:
    """A compressed-tensors preset that needs no calibration data (this stage provides none)."""
    from compressed_tensors.quantization import preset_name_to_scheme
    from compressed_tensors.quantization.quant_scheme import PRESET_SCHEMES

    name = scheme.upper()
    if name not in PRESET_SCHEMES or name == "UNQUANTIZED":
        raise UsageError(f"unknown quantization scheme {scheme!r}: use one of the compressed-tensors presets, e.g. "
                         f"FP8_DYNAMIC, FP8_BLOCK, W8A16, W4A16")
    activations = preset_name_to_scheme(name, ["Linear"]).input_activations
    if activations is not None and not activations.dynamic:
        raise UsageError(f"scheme {name} uses static activation scales, which need calibration data that "
                         f"`hala-release quantize` does not provide: use FP8_DYNAMIC (dynamic scales, as HALA did) "
                         f"or a weight-only scheme such as W8A16")
    return name


def quantize_model(model: str, output: Path | str, **options: Any) -> Path:
    """Keyword form of run_quantize (options: QuantizeConfig's fields)."""
    return run_quantize(QuantizeConfig(model=model, output=output, **options))


def run_quantize(config: QuantizeConfig) -> Path:
    """Quantize `model` (a ref) into a model artifact at `output` and verify it against the original."""
    return _quantize(**config.model_dump(exclude=PUBLISH_KEYS))


def _quantize(model: str, output: Path, *, scheme: str, ignore: Sequence[str], model_free: bool, max_workers: int,
              verify: bool, max_new_tokens: int, trust_remote_code: bool, overwrite: bool) -> Path:
    scheme = check_scheme(scheme)
    if max_workers != 1 and not model_free:
        raise UsageError("--max-workers sets how many shards --model-free quantizes at once: add --model-free, or "
                         "drop --max-workers for the default (oneshot) path")
    output = prepare_output(output, overwrite)
    source = resolve(model, "model")
    config = read_config(source.path, model)
    quant = quantization_of(config)
    if quant:
        raise HalaError(f"{model} is already quantized ({describe_quantization(quant)}): quantizing it again would "
                        f"compound the rounding error; quantize the original bf16/fp32 checkpoint instead")
    require_safetensors(source.path, model)

    ignore = list(dict.fromkeys(ignore))
    stage_config = {"model": model, "scheme": scheme, "ignore": ignore, "model_free": model_free,
                    **({"max_workers": max_workers} if model_free else {}),
                    "verify": verify, "verify_prompts": list(VERIFY_PROMPTS) if verify else [],
                    "max_new_tokens": max_new_tokens, "trust_remote_code": trust_remote_code}
    hub_ids = hub_parents(source)
    carried = carried_license({model: source})
    path_name = "`model_free_ptq` (straight from the safetensors shards)" if model_free else "`oneshot`"
    card = CardFacts(
        kind="model",
        title=f"{display_name(model)}-{scheme.replace('_', '-')}",
        summary=(f"[{model}]({hub_link(source)}) quantized to {scheme} with "
                 f"[llm-compressor](https://github.com/vllm-project/llm-compressor) {path_name}, saved in the "
                 f"compressed-tensors format that vLLM and transformers load directly."),
        language=input_languages(source), **license_fields(carried),
        tags=["quantized", "llmcompressor", "compressed-tensors", scheme.lower().replace("_", "-"),
              *(["fp8"] if scheme.startswith("FP8") else [])],
        base_model=hub_ids, base_model_relation="quantized" if hub_ids else None,
        library_name="transformers", pipeline_tag="text-generation",
    )
    check_room(space_need(source.path, scheme, ignore, output))
    with build_artifact(output, stage="quantize", config=stage_config, card=card, inputs={"model": source},
                        overwrite=overwrite) as draft:
        reference = None
        if verify:
            log.info("quantize: reference logits of the original on %d prompts", len(VERIFY_PROMPTS))
            with draft.timed("reference_logits"):
                reference = reference_outputs(source.path, VERIFY_PROMPTS, max_new_tokens, trust_remote_code)
        log.info("quantize: %s with %s", scheme, "model_free_ptq, shard by shard" if model_free else "oneshot")
        with draft.timed("quantize"):
            if model_free:
                auto_ignored = model_free_quantize(source.path, draft.path, scheme, ignore, trust_remote_code,
                                                   max_workers)
            else:
                auto_ignored = []
                oneshot_quantize(source.path, draft.path, scheme, ignore, trust_remote_code)
            remove_pickles(draft.path)
        layout = describe_layout(draft.path)
        before, after = weights_bytes(source.path), weights_bytes(draft.path)
        draft.stats.update(scheme=scheme, path="model_free_ptq" if model_free else "oneshot",
                           size_before_bytes=before, size_after_bytes=after,
                           size_ratio=round(after / before, 4) if before else None,
                           quantized_tensors=layout["quantized_tensors"],
                           quantized_parameter_fraction=layout["quantized_fraction"])
        card.sections.append(CardSection(title="Quantization", markdown=_quantization_markdown(
            scheme, model_free, ignore, auto_ignored, layout, before, after)))
        if verify:
            log.info("quantize: reloading the saved checkpoint to compare with the original")
            with draft.timed("verify"):
                comparison = compare_with_reference(draft.path, reference, max_new_tokens, trust_remote_code)
            draft.stats.update(comparison.stats())
            card.sections.append(CardSection(title="Verification", markdown=_verification_markdown(comparison)))
    return output


_DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "U32": 4, "BF16": 2, "F16": 2, "I16": 2, "U16": 2}


def space_need(source: Path, scheme: str, ignore: Sequence[str], output: Path) -> SpaceNeed:
    """The checkpoint the stage saves, from the safetensors headers alone: every 2-D weight outside `ignore` and the
    embeddings at the scheme's bits plus a 4-byte scale per channel, group or block; every other tensor as it is;
    the other files (tokenizer, config) about as they are."""
    from compressed_tensors.quantization import preset_name_to_scheme

    weights = preset_name_to_scheme(scheme, ["Linear"]).weights
    rules = [re.compile(p[3:]) if p.startswith("re:") else re.compile(re.escape(p) + "$") for p in ignore]
    total = other_files_bytes(source)
    for name, (dtype, shape) in tensor_headers(source).items():
        count = math.prod(shape)
        module = name.rpartition(".")[0]
        linear = (name.endswith(".weight") and len(shape) == 2 and "embed" not in module
                  and not any(rule.match(module) for rule in rules))
        if not linear:
            total += count * _DTYPE_BYTES.get(dtype.upper(), 1)
            continue
        if weights.strategy == "group":
            scales = count // (weights.group_size or count)
        elif weights.strategy == "block":
            rows, columns = weights.block_structure or shape
            scales = -(-shape[0] // rows) * -(-shape[1] // columns)
        elif weights.strategy == "channel":
            scales = shape[0]
        else:
            scales = 1
        total += count * weights.num_bits // 8 + 4 * scales
    return SpaceNeed("quantize", output.parent, total, int(total * 0.9))


def oneshot_quantize(source: Path, target: Path, scheme: str, ignore: list[str], trust_remote_code: bool) -> None:
    """llm-compressor's data-free `oneshot` on the loaded model; saved compressed, with the tokenizer."""
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source, dtype="auto", trust_remote_code=trust_remote_code,
                                                 use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    oneshot(model=model, recipe=QuantizationModifier(targets="Linear", scheme=scheme, ignore=list(ignore)))
    model.save_pretrained(target, save_compressed=True)
    tokenizer.save_pretrained(target)


def model_free_quantize(source: Path, target: Path, scheme: str, ignore: list[str], trust_remote_code: bool,
                        max_workers: int = 1) -> list[str]:
    """llm-compressor's `model_free_ptq`, shard by shard; returns the ignore patterns added for non-Linear weights.

    model_free_ptq matches tensors by name only and treats every non-norm `*.weight` as a Linear layer, so
    embeddings and convolutions must be named in `ignore` or it fails (3-D conv weights) or quantizes what
    `oneshot` would not (embeddings). Which modules are Linear comes from the model class built on the meta device
    (no weights loaded); the result matches `oneshot` tensor for tensor. `max_workers` shards are quantized at
    once; llm-compressor shows a bar per shard.
    """
    from llmcompressor import model_free_ptq

    extra = non_linear_ignores(source, trust_remote_code)
    try:
        model_free_ptq(str(source), str(target), scheme=scheme, ignore=[*ignore, *extra], max_workers=max_workers)
    except ValueError as err:
        raise HalaError(f"model_free_ptq could not quantize {source}: {err}; add the tensor's module to --ignore "
                        f"or use the default (oneshot) path") from None
    for copied in ("README.md", "hala_provenance.json"):  # the input's own card and provenance, not ours
        (target / copied).unlink(missing_ok=True)
    return extra


def non_linear_ignores(source: Path, trust_remote_code: bool) -> list[str]:
    """Regex ignores (`re:...`) for every weight in the checkpoint that does not belong to an nn.Linear."""
    headers = tensor_headers(source)
    modules = {name.rpartition(".")[0]: shape for name, (_, shape) in headers.items() if name.endswith(".weight")}
    linear = _linear_module_names(source, trust_remote_code)
    outside = sorted(m for m, shape in modules.items()
                     if not m.endswith("norm") and (len(shape) != 2 or (linear is not None and m not in linear)
                                                    or (linear is None and "embed" in m)))
    patterns = sorted({"re:^" + re.escape(module_pattern(m)).replace(r"\*", r"\d+") + "$" for m in outside})
    compiled = [re.compile(p[3:]) for p in patterns]
    if linear and any(rx.match(name) for rx in compiled for name in linear):
        return outside  # a pattern would also hit a Linear layer: fall back to exact names
    return patterns


def _linear_module_names(source: Path, trust_remote_code: bool) -> set[str] | None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except Exception as err:  # an architecture transformers does not know: fall back to a name heuristic
        log.warning("cannot build %s on the meta device (%s); treating 2-D weights without 'embed' as Linear",
                    source, err)
        return None
    return {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}


def describe_layout(folder: Path) -> dict[str, Any]:
    """What ended up quantized and what did not, read back from the saved safetensors headers."""
    headers = tensor_headers(folder)
    quantized, kept = set(), set()
    quantized_params = total_params = 0
    for name, (dtype, shape) in headers.items():
        if not name.endswith(".weight"):
            continue
        count = 1
        for dim in shape:
            count *= dim
        total_params += count
        module = name.rpartition(".")[0]
        if dtype in FP8_DTYPES or dtype in {"I8", "U8", "I32"}:
            quantized.add(module)
            quantized_params += count
        else:
            kept.add(module)
    return {"quantized_tensors": len(quantized),
            "quantized_fraction": round(quantized_params / total_params, 4) if total_params else 0.0,
            "quantized_patterns": sorted({module_pattern(m) for m in quantized}),
            "kept_patterns": sorted({module_pattern(m) for m in kept})}


def _load(folder: Path, trust_remote_code: bool):
    import torch
    from transformers import AutoModelForCausalLM

    device_map = "auto" if torch.cuda.is_available() else None
    model = AutoModelForCausalLM.from_pretrained(folder, dtype="auto", device_map=device_map,
                                                 trust_remote_code=trust_remote_code, use_safetensors=True)
    return model.eval()


def _encode(tokenizer, prompt: str):
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             return_tensors="pt", return_dict=True)
    return tokenizer(prompt, return_tensors="pt")


@dataclass
class _Reference:
    prompts: tuple[str, ...]
    logits: list[Any]
    sample: str


def reference_outputs(source: Path, prompts: Sequence[str], max_new_tokens: int,
                      trust_remote_code: bool) -> _Reference:
    """The original model's logits on the prompt set and its greedy sample, computed before quantizing."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    model = _load(source, trust_remote_code)
    logits = [_logits(model, tokenizer, p) for p in prompts]
    sample = _greedy(model, tokenizer, prompts[0], max_new_tokens)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return _Reference(tuple(prompts), logits, sample)


def compare_with_reference(quantized: Path, reference: _Reference, max_new_tokens: int,
                           trust_remote_code: bool) -> LogitComparison:
    """Reload the saved checkpoint from disk and compare it with the reference outputs."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(quantized, trust_remote_code=trust_remote_code)
    model = _load(quantized, trust_remote_code)
    logits = [_logits(model, tokenizer, p) for p in reference.prompts]
    comparison = compare_logits(reference.logits, logits)
    comparison.sample_prompt = reference.prompts[0]
    comparison.sample_original = reference.sample
    comparison.sample_quantized = _greedy(model, tokenizer, reference.prompts[0], max_new_tokens)
    return comparison


def compare_logits(reference: list[Any], candidate: list[Any]) -> LogitComparison:
    """Max/mean absolute logit difference and top-1 agreement over every position of every prompt."""
    max_diff, total_diff, agree, positions, elements = 0.0, 0.0, 0, 0, 0
    for ref, cand in zip(reference, candidate, strict=True):
        diff = (ref - cand).abs()
        max_diff = max(max_diff, float(diff.max()))
        total_diff += float(diff.sum())
        elements += diff.numel()
        agree += int((ref.argmax(-1) == cand.argmax(-1)).sum())
        positions += ref.shape[0]
    # Rounded once here, so the card and the provenance show the very same figures.
    return LogitComparison(prompts=len(reference), positions=positions, max_abs_diff=round(max_diff, 6),
                           mean_abs_diff=round(total_diff / max(elements, 1), 6),
                           top1_agreement=round(agree / max(positions, 1), 4))


def _logits(model, tokenizer, prompt: str):
    import torch

    inputs = _encode(tokenizer, prompt).to(model.device)
    with torch.no_grad():
        return model(**inputs).logits[0].float().cpu()


def _greedy(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    import torch

    inputs = _encode(tokenizer, prompt).to(model.device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    return tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def _quantization_markdown(scheme: str, model_free: bool, ignore: list[str], auto_ignored: list[str],
                           layout: dict[str, Any], before: int, after: int) -> str:
    from importlib.metadata import version

    lines = [
        "| | |", "|---|---|",
        f"| scheme | `{scheme}` |",
        f"| path | {'`model_free_ptq` (shard by shard, no model load)' if model_free else '`oneshot` (data-free)'} |",
        f"| llm-compressor / compressed-tensors | {version('llmcompressor')} / {version('compressed-tensors')} |",
        f"| ignored on request | {', '.join(f'`{i}`' for i in ignore) or 'nothing'} |",
    ]
    if model_free:
        lines.append(f"| ignored as non-Linear | {', '.join(f'`{i}`' for i in auto_ignored) or 'nothing'} |")
    lines += [
        f"| quantized modules | {layout['quantized_tensors']} ({', '.join(f'`{p}`' for p in layout['quantized_patterns'])}) |",
        f"| share of weight parameters quantized | {layout['quantized_fraction']:.1%} |",
        f"| left unquantized | {', '.join(f'`{p}`' for p in layout['kept_patterns']) or 'nothing'} |",
        f"| weights size | {before / 1e6:.2f} MB -> {after / 1e6:.2f} MB ({after / before:.2f}x) |" if before else "",
    ]
    return "\n".join(line for line in lines if line)


def _verification_markdown(c: LogitComparison) -> str:
    same = "yes" if c.sample_original == c.sample_quantized else "no"
    return "\n".join([
        f"The saved checkpoint was reloaded from disk and compared with the original on {c.prompts} fixed prompts "
        f"({c.positions} token positions, next-token logits at every position).",
        "",
        "| figure | value |", "|---|---|",
        f"| max abs logit difference | {c.max_abs_diff:.4g} |",
        f"| mean abs logit difference | {c.mean_abs_diff:.4g} |",
        f"| top-1 agreement | {c.top1_agreement:.2%} |",
        f"| greedy samples identical | {same} |",
        "",
        f"Prompt: {c.sample_prompt}",
        "",
        "Original:", "", "```text", c.sample_original.strip() or "(empty)", "```",
        "", "Quantized:", "", "```text", c.sample_quantized.strip() or "(empty)", "```",
    ])
