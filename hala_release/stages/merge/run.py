"""merge: slerp-merge a fine-tuned model with its base, with mergekit.

HALA merged each fine-tuned model back with its base (slerp, t = 0.5) to keep the base's general strengths next
to the new Arabic skills. mergekit does the merge; this stage checks the inputs first (quantized checkpoints and
mismatched architectures are refused with one line, not a mergekit traceback), writes the exact mergekit config
beside the weights and embeds it in the card.

mergekit runs on the folders the inputs resolved to (absolute paths: it looks a relative path up on the Hub). The
saved config names each input that is a Hub commit as `org/name@commit` instead (mergekit's own ModelPath syntax,
fetched at that revision), so `mergekit-yaml mergekit_config.yml OUT` reruns the merge on any machine; a purely
local input keeps its path there, and its content pin in the card's Inputs table.
"""

from __future__ import annotations

from pathlib import Path

from hala_release.artifacts.build import build_artifact
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.artifacts.inputs import (carried_license, describe_quantization, display_name, hub_link, hub_parents, hub_revision,
                       input_languages, license_fields, quantization_of, read_config, remove_pickles,
                       require_safetensors, weights_bytes)
from hala_release.core.provenance import CardFacts, CardSection
from hala_release.core.refs import resolve
from hala_release.stages.merge.config import METHODS, PUBLISH_KEYS, MergeConfig

MERGEKIT_CONFIG_FILE = "mergekit_config.yml"  # the name mergekit itself uses
# Config fields that fix tensor shapes: if any differs, the weights cannot be merged tensor by tensor.
SHAPE_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "vocab_size", "head_dim", "layer_types", "tie_word_embeddings")


def check_mergeable(base_ref: str, base_cfg: dict, tuned_ref: str, tuned_cfg: dict) -> None:
    """Refuse quantized inputs and mismatched architectures, naming the problem and the fix."""
    for ref, cfg in ((base_ref, base_cfg), (tuned_ref, tuned_cfg)):
        quant = quantization_of(cfg)
        if quant:
            raise HalaError(f"{ref} is quantized ({describe_quantization(quant)}): merging interpolates raw weights "
                            f"and would silently drop the quantization scales; merge the unquantized checkpoints, "
                            f"then run `hala-release quantize` on the merged model")
    base_arch = (base_cfg.get("model_type"), tuple(base_cfg.get("architectures") or ()))
    tuned_arch = (tuned_cfg.get("model_type"), tuple(tuned_cfg.get("architectures") or ()))
    if base_arch != tuned_arch:
        raise HalaError(f"cannot merge {tuned_ref} ({_arch(tuned_arch)}) into {base_ref} ({_arch(base_arch)}): "
                        f"slerp needs two checkpoints of the same architecture; merge a fine-tune with its own base")
    differing = [f"{key} {base_cfg.get(key)!r} vs {tuned_cfg.get(key)!r}" for key in SHAPE_FIELDS
                 if base_cfg.get(key) != tuned_cfg.get(key)]
    if differing:
        raise HalaError(f"cannot merge {tuned_ref} into {base_ref}: same architecture but different shapes "
                        f"({'; '.join(differing)}); merge a fine-tune with the exact base it was trained from")


def _arch(arch: tuple) -> str:
    model_type, classes = arch
    return f"{model_type or 'unknown type'}, {'/'.join(classes) or 'no architectures'}"


def merge_models(base: str, tuned: str, output: Path | str, **options) -> Path:
    """Keyword form of run_merge (options: MergeConfig's fields)."""
    return run_merge(MergeConfig(base=base, tuned=tuned, output=output, **options))


def run_merge(config: MergeConfig) -> Path:
    """Merge `tuned` into `base` (refs) with mergekit and write a model artifact at `output`."""
    return _merge(**config.model_dump(exclude=PUBLISH_KEYS))


def _merge(base: str, tuned: str, output: Path, *, method: str, t: float, dtype: str | None,
           trust_remote_code: bool, overwrite: bool) -> Path:
    """The merge itself.

    For slerp, t = 0 gives the base and t = 1 the tuned model; every tensor is interpolated along the arc
    between the two (linearly where they are nearly parallel, as mergekit does).
    """
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge as mergekit_run

    if method not in METHODS:
        raise UsageError(f"unknown merge method {method!r}: hala-release wires {', '.join(METHODS)}; for other "
                         f"mergekit methods write a mergekit YAML and run `mergekit-yaml`")
    if not 0.0 <= t <= 1.0:
        raise UsageError(f"--t must be between 0 (the base) and 1 (the tuned model), got {t}")
    output = prepare_output(output, overwrite)
    base_r, tuned_r = resolve(base, "model"), resolve(tuned, "model")
    base_cfg, tuned_cfg = read_config(base_r.path, base), read_config(tuned_r.path, tuned)
    check_mergeable(base, base_cfg, tuned, tuned_cfg)
    require_safetensors(base_r.path, base)
    require_safetensors(tuned_r.path, tuned)
    dtype = dtype or base_cfg.get("dtype") or base_cfg.get("torch_dtype") or "bfloat16"

    # Absolute paths: mergekit looks a relative path up on the Hub when it writes its card.
    merge_config = MergeConfiguration.model_validate(_spec(method, str(base_r.path), str(tuned_r.path), t, dtype))
    config_yaml = MergeConfiguration.model_validate(
        _spec(method, _mergekit_name(base_r), _mergekit_name(tuned_r), t, dtype)).to_yaml()
    stage_config = {"base": base, "tuned": tuned, "method": method, "t": t, "dtype": dtype,
                    "trust_remote_code": trust_remote_code}
    hub_ids = hub_parents(base_r, tuned_r)
    card = CardFacts(
        kind="model",
        title=f"{display_name(tuned)}-{method}-merge",
        summary=(f"[{tuned}]({hub_link(tuned_r)}) merged with its base [{base}]({hub_link(base_r)}) by {method} at "
                 f"t = {t} (0 = base, 1 = tuned) with [mergekit](https://github.com/arcee-ai/mergekit), as HALA "
                 f"did to keep the base model's strengths next to the fine-tune's new skills."),
        language=input_languages(tuned_r, base_r), **license_fields(carried_license({base: base_r, tuned: tuned_r})),
        tags=["merge", "mergekit", method],
        base_model=hub_ids, base_model_relation="merge" if hub_ids else None,
        library_name="transformers", pipeline_tag="text-generation",
    )
    with build_artifact(output, stage="merge", config=stage_config, card=card,
                        inputs={"base": base_r, "tuned": tuned_r}, overwrite=overwrite) as draft:
        with draft.timed("merge"):
            mergekit_run(merge_config, str(draft.path),
                      MergeOptions(copy_tokenizer=True, write_model_card=False, safe_serialization=True,
                                   trust_remote_code=trust_remote_code))
        remove_pickles(draft.path)
        (draft.path / MERGEKIT_CONFIG_FILE).write_text(config_yaml + "\n", encoding="utf-8")
        draft.stats.update(method=method, t=t, dtype=dtype, weights_bytes=weights_bytes(draft.path),
                           architecture="/".join(base_cfg.get("architectures") or []) or base_cfg.get("model_type"))
        card.sections.append(CardSection(title="Merge configuration", markdown=(
            f"Run with mergekit {_mergekit_version()}; the same file is saved beside the weights as "
            f"`{MERGEKIT_CONFIG_FILE}`. {_naming_note(base_r, tuned_r)}\n\n```yaml\n{config_yaml}\n```")))
    return output


def _spec(method: str, base: str, tuned: str, t: float, dtype: str) -> dict:
    return {"merge_method": method, "base_model": base, "models": [{"model": base}, {"model": tuned}],
            "parameters": {"t": t}, "dtype": dtype}


def _mergekit_name(resolved) -> str:
    """`org/name@commit` for a Hub commit (mergekit fetches it anywhere), else the folder's absolute path."""
    if resolved.ref.path_in_repo:  # a folder inside a repo: mergekit cannot name it
        return str(resolved.path)
    return hub_revision(resolved) or str(resolved.path)


def _naming_note(*inputs) -> str:
    local = [f"`{r.ref.text}`" for r in inputs if _mergekit_name(r) == str(r.path)]
    if not local:
        return "Every input is named by its Hub commit, so `mergekit-yaml` reruns it anywhere."
    return (f"Hub inputs are named by their commit; {', '.join(local)} by the local folder it resolved to here "
            f"(see Inputs for its content pin).")


def _mergekit_version() -> str:
    from importlib.metadata import version

    return version("mergekit")
