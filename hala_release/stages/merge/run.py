"""merge: slerp-merge a fine-tuned model with its base, with mergekit.

HALA merged each fine-tuned model back with its base (slerp, t = 0.5) to keep the base's general strengths next
to the new Arabic skills. mergekit does the merge; this stage checks the inputs first (quantized checkpoints and
mismatched architectures are refused with one line, not a mergekit traceback), writes the exact mergekit config
beside the weights and embeds it in the card.

mergekit runs on the folders the inputs resolved to (absolute paths: it looks a relative path up on the Hub). The
saved config names each input that is a Hub commit as `org/name@commit` instead (mergekit's own ModelPath syntax,
fetched at that revision), so `mergekit-yaml mergekit_config.yml OUT` reruns the merge on any machine; a purely
local input keeps its path there, and its content pin in the card's Inputs table.

An input that is a PEFT adapter (a LoRA from `hala-release train`) is first folded into the base its
adapter_config.json names, with PEFT's `merge_and_unload`, into a temporary safetensors folder; the slerp then runs
as usual. The saved config names it `base+adapter` (mergekit's own LoRA syntax), so it still reruns anywhere.
"""

from __future__ import annotations

import json
import math
import logging
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from hala_release.artifacts.build import build_artifact
from hala_release.core.disk_space import SpaceNeed, check_room, folder_bytes
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.files import prepare_output
from hala_release.core.notices import hidden_notice
from hala_release.artifacts.inputs import (carried_license, describe_quantization, display_name, hub_link, hub_parents, hub_revision,
                       input_languages, license_fields, quantization_of, read_config, remove_pickles,
                       require_safetensors, weights_bytes)
from hala_release.core.provenance import CardFacts, CardSection
from hala_release.core.refs import resolve
from hala_release.stages.merge.config import METHODS, PUBLISH_KEYS, MergeConfig

log = logging.getLogger(__name__)

MERGEKIT_CONFIG_FILE = "mergekit_config.yml"  # the name mergekit itself uses
ADAPTER_CONFIG_FILE = "adapter_config.json"  # PEFT's marker of an adapter folder
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
           trust_remote_code: bool, overwrite: bool, cuda: bool, lazy_unpickle: bool, out_shard_size: str) -> Path:
    """The merge itself.

    For slerp, t = 0 gives the base and t = 1 the tuned model; every tensor is interpolated along the arc
    between the two (linearly where they are nearly parallel, as mergekit does).
    """
    from mergekit.merge import MergeOptions

    if method not in METHODS:
        raise UsageError(f"unknown merge method {method!r}: hala-release wires {', '.join(METHODS)}; for other "
                         f"mergekit methods write a mergekit YAML and run `mergekit-yaml`")
    if not 0.0 <= t <= 1.0:
        raise UsageError(f"--t must be between 0 (the base) and 1 (the tuned model), got {t}")
    options = MergeOptions(copy_tokenizer=True, write_model_card=False, safe_serialization=True,
                           trust_remote_code=trust_remote_code, cuda=check_cuda(cuda), lazy_unpickle=lazy_unpickle,
                           out_shard_size=parse_shard_size(out_shard_size))
    output = prepare_output(output, overwrite)
    with ExitStack() as cleanup:
        base_in = _merge_input(base, "base", output, cleanup, trust_remote_code)
        tuned_in = _merge_input(tuned, "tuned", output, cleanup, trust_remote_code)
        if base_in.path.resolve() == tuned_in.path.resolve():
            raise UsageError(f"{base} and {tuned} are the same model: a merge of a model with itself is that model; "
                             f"pass the fine-tuned model as TUNED")
        base_cfg, tuned_cfg = read_config(base_in.path, base), read_config(tuned_in.path, tuned)
        check_mergeable(base, base_cfg, tuned, tuned_cfg)
        require_safetensors(base_in.path, base)
        require_safetensors(tuned_in.path, tuned)
        dtype = dtype or base_cfg.get("dtype") or base_cfg.get("torch_dtype") or "bfloat16"
        check_room(space_need(base_in.path, dtype, output))
        architecture = "/".join(base_cfg.get("architectures") or []) or base_cfg.get("model_type")
        _run_mergekit({"base": base, "tuned": tuned, "method": method, "t": t, "dtype": dtype,
                       "trust_remote_code": trust_remote_code}, base_in, tuned_in, output, options,
                      overwrite=overwrite, architecture=architecture)
    return output


def _run_mergekit(stage_config: dict, base_in: "_Input", tuned_in: "_Input", output: Path, options, *,
                  overwrite: bool, architecture: str | None) -> None:
    """Run mergekit on the resolved folders and build the artifact: card, saved config, provenance."""
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge as mergekit_run

    base, tuned, method, t, dtype = (stage_config[k] for k in ("base", "tuned", "method", "t", "dtype"))
    # Absolute paths: mergekit looks a relative path up on the Hub when it writes its card.
    merge_config = MergeConfiguration.model_validate(_spec(method, str(base_in.path), str(tuned_in.path), t, dtype))
    config_yaml = MergeConfiguration.model_validate(
        _spec(method, base_in.mergekit_name(), tuned_in.mergekit_name(), t, dtype)).to_yaml()
    if chosen_options(options):
        stage_config["mergekit_options"] = chosen_options(options)
    inputs = {"base": base_in.resolved, "tuned": tuned_in.resolved,
              **{f"{role}_adapter_base": item.adapter_base for role, item in (("base", base_in), ("tuned", tuned_in))
                 if item.adapter_base is not None}}
    hub_ids = hub_parents(*(item for pair in (base_in, tuned_in) for item in pair.parents()))
    card = CardFacts(
        kind="model",
        title=f"{display_name(tuned)}-{method}-merge",
        summary=(f"{tuned_in.describe()} merged with its base {base_in.describe()} by {method} at t = {t} "
                 f"(0 = base, 1 = tuned) with [mergekit](https://github.com/arcee-ai/mergekit), as HALA did to keep "
                 f"the base model's strengths next to the fine-tune's new skills."),
        language=input_languages(tuned_in.resolved, base_in.resolved),
        **license_fields(carried_license({base: base_in.resolved, tuned: tuned_in.resolved})),
        tags=["merge", "mergekit", method],
        base_model=hub_ids, base_model_relation="merge" if hub_ids else None,
        library_name="transformers", pipeline_tag="text-generation",
    )
    with build_artifact(output, stage="merge", config=stage_config, card=card, inputs=inputs,
                        overwrite=overwrite) as draft:
        with draft.timed("merge"), hidden_notice():  # mergekit sets config.torch_dtype itself (core/notices.py)
            mergekit_run(merge_config, str(draft.path), options)
        remove_pickles(draft.path)
        (draft.path / MERGEKIT_CONFIG_FILE).write_text(config_yaml + "\n", encoding="utf-8")
        draft.stats.update(method=method, t=t, dtype=dtype, weights_bytes=weights_bytes(draft.path),
                           weight_shards=len(list(draft.path.glob("*.safetensors"))), architecture=architecture)
        card.sections.append(CardSection(title="Merge configuration", markdown=(
            f"Run with mergekit {_mergekit_version()}; the same file is saved beside the weights as "
            f"`{MERGEKIT_CONFIG_FILE}`. {_naming_note(base_in, tuned_in)}{_options_note(options)}\n\n"
            f"```yaml\n{config_yaml}\n```")))


def parse_shard_size(value: str) -> int:
    """--out-shard-size as mergekit-yaml reads it (mergekit's own parse_kmb: 500M, 5B, 1000000). mergekit's help
    calls it parameters per shard; its writer (0.1.5) compares it with the bytes of tensor data in a shard."""
    from mergekit.common import parse_kmb

    try:
        size = parse_kmb(str(value).strip())
    except (ValueError, IndexError):
        size = 0
    if size <= 0:
        raise UsageError(f"--out-shard-size {value!r} is not a size: give the shard size as a number with an "
                         f"optional K, M or B suffix, e.g. 500M or 5B")
    return size


def check_cuda(cuda: bool) -> bool:
    """--cuda needs a CUDA device; say so in one line instead of a torch error deep in mergekit."""
    if not cuda:
        return False
    import torch

    if not torch.cuda.is_available():
        raise UsageError("--cuda was given but torch sees no CUDA device here: drop --cuda to merge on the CPU, "
                         "or run on a machine with an NVIDIA GPU")
    return True


class _Input:
    """One merge input as mergekit sees it: a model folder, or a PEFT adapter folded into its base."""

    def __init__(self, resolved, path: Path, adapter_base=None):
        self.resolved, self.path, self.adapter_base = resolved, path, adapter_base

    def parents(self) -> list:
        """The Hub parents the card names: the adapter and its base for a folded adapter."""
        return [self.resolved] if self.adapter_base is None else [self.resolved, self.adapter_base]

    def mergekit_name(self) -> str:
        """The name in the saved config; `base+adapter` (mergekit's LoRA syntax) for a folded adapter."""
        if self.adapter_base is None:
            return _mergekit_name(self.resolved)
        return f"{_mergekit_name(self.adapter_base)}+{_mergekit_name(self.resolved)}"

    def describe(self) -> str:
        own = f"[{self.resolved.ref.text}]({hub_link(self.resolved)})"
        if self.adapter_base is None:
            return own
        base = self.adapter_base
        return f"{own} (a PEFT adapter, folded into [{base.ref.text}]({hub_link(base)}) first)"


def _merge_input(ref: str, role: str, output: Path, cleanup: ExitStack, trust_remote_code: bool) -> _Input:
    """Resolve an input; fold a PEFT adapter into its base in a temporary folder beside the output."""
    resolved = resolve(ref, "model")
    adapter_config = resolved.path / ADAPTER_CONFIG_FILE
    if not adapter_config.exists():
        return _Input(resolved, resolved.path)
    base_ref = adapter_base_ref(adapter_config, ref)
    try:
        base = resolve(base_ref, "model")
    except HalaError as err:
        raise HalaError(f"{ref} is a PEFT adapter of {base_ref} (base_model_name_or_path in its "
                        f"{ADAPTER_CONFIG_FILE}), which cannot be fetched: {err}") from None
    require_safetensors(base.path, base_ref)
    require_safetensors(resolved.path, ref)
    folded = folder_bytes(base.path)
    check_room(SpaceNeed(f"merge (folding the adapter {ref} into its base)", output.parent, folded, folded))
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix=f".{output.name}-{role}-fold-",
                                                                  dir=output.parent)))
    began = time.perf_counter()
    fold_adapter(resolved.path, base.path, work, trust_remote_code)
    log.info("merge: folded adapter %s into %s in %.1f s", ref, base_ref, time.perf_counter() - began)
    return _Input(resolved, work, adapter_base=base)


_TORCH_DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2, "float64": 8}


def space_need(base: Path, dtype: str, output: Path) -> SpaceNeed:
    """The merged checkpoint: every tensor of the base in the output dtype (mergekit writes them all in it), from the
    safetensors headers alone, plus the tokenizer and config files mergekit copies."""
    from hala_release.artifacts.inputs import other_files_bytes, tensor_headers

    width = _TORCH_DTYPE_BYTES.get(str(dtype).removeprefix("torch."), 2)
    total = other_files_bytes(base) + sum(math.prod(shape) * width for _, shape in tensor_headers(base).values())
    return SpaceNeed("merge", output.parent, total, int(total * 0.9))


def adapter_base_ref(adapter_config: Path, ref: str) -> str:
    """The base an adapter was trained on (adapter_config.json's base_model_name_or_path, at its revision)."""
    try:
        config = json.loads(adapter_config.read_text(encoding="utf-8"))
    except ValueError as err:
        raise HalaError(f"{adapter_config} is not valid JSON ({err}): fix or re-download the adapter") from None
    name = config.get("base_model_name_or_path")
    if not name:
        raise HalaError(f"{ref} is a PEFT adapter without base_model_name_or_path in {ADAPTER_CONFIG_FILE}: set it "
                        f"to the base model's Hub id or folder so the adapter can be folded in before merging")
    revision = config.get("revision")
    return f"{name}@{revision}" if revision and "@" not in name and not Path(name).exists() else name


def fold_adapter(adapter: Path, base: Path, target: Path, trust_remote_code: bool) -> None:
    """Load `base`, apply the adapter and merge it in (PEFT's merge_and_unload); save full weights as safetensors,
    with the adapter's tokenizer when it has one (mergekit copies the merge base's tokenizer)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype="auto", trust_remote_code=trust_remote_code,
                                                 use_safetensors=True)
    merged = PeftModel.from_pretrained(model, adapter, is_trainable=False).merge_and_unload()
    merged.save_pretrained(target, safe_serialization=True)
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").exists() else base
    AutoTokenizer.from_pretrained(tokenizer_source, trust_remote_code=trust_remote_code).save_pretrained(target)


def _spec(method: str, base: str, tuned: str, t: float, dtype: str) -> dict:
    return {"merge_method": method, "base_model": base, "models": [{"model": base}, {"model": tuned}],
            "parameters": {"t": t}, "dtype": dtype}


def _mergekit_name(resolved) -> str:
    """`org/name@commit` for a Hub commit (mergekit fetches it anywhere), else the folder's absolute path."""
    if resolved.ref.path_in_repo:  # a folder inside a repo: mergekit cannot name it
        return str(resolved.path)
    return hub_revision(resolved) or str(resolved.path)


def _naming_note(*inputs: _Input) -> str:
    local = [f"`{r.ref.text}`" for item in inputs for r in item.parents() if _mergekit_name(r) == str(r.path)]
    if not local:
        return "Every input is named by its Hub commit, so `mergekit-yaml` reruns it anywhere."
    return (f"Hub inputs are named by their commit; {', '.join(local)} by the local folder it resolved to here "
            f"(see Inputs for its content pin).")


def chosen_options(options) -> dict:
    """The mergekit options this run set away from mergekit's defaults (--cuda, --lazy-unpickle,
    --out-shard-size): recorded in the provenance and named in the card, so a rerun can pass the same."""
    from mergekit.merge import MergeOptions

    default = MergeOptions()
    return {name: getattr(options, name) for name in ("cuda", "lazy_unpickle", "out_shard_size")
            if getattr(options, name) != getattr(default, name)}


def _options_note(options) -> str:
    flags = [f"--{name.replace('_', '-')}" + ("" if value is True else f" {value}")
             for name, value in chosen_options(options).items()]
    return f" mergekit options: {', '.join(f'`{f}`' for f in flags)}." if flags else ""


def _mergekit_version() -> str:
    from importlib.metadata import version

    return version("mergekit")
