"""Model inputs shared by the model stages (quantize, train, merge): checks before any heavy work, and the
facts a derived model's card carries forward from its inputs (licence, languages, Hub ids).

Checks read only `config.json`, file names and safetensors headers, so a wrong input fails in a second with a
message that names the fix, instead of minutes later inside a library.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hala_release.core.errors import HalaError, UsageError
from hala_release.core.licenses import LICENSE_FILES, CarriedLicense, SourceLicense, carry_forward

if TYPE_CHECKING:
    from hala_release.core.refs import ResolvedRef

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")  # loading any of them can run code


def read_config(folder: Path, ref_text: str) -> dict[str, Any]:
    """The model's config.json, or an error saying the input is not a transformers model folder."""
    path = Path(folder) / "config.json"
    if not path.exists():
        raise HalaError(f"{ref_text} has no config.json: pass a transformers model folder or Hub model repo")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise HalaError(f"{path} is not valid JSON ({err}): fix or re-download the model") from None


def require_model(resolved: "ResolvedRef", option: str) -> dict[str, Any]:
    """The config of a model input given to `option` (e.g. --model), or one line naming the fix when the folder is
    not a model: a dataset passed by mistake would otherwise fail deep inside transformers or vLLM with a traceback."""
    from hala_release.core.provenance import PROVENANCE_FILE, read_provenance

    path, ref = Path(resolved.path), resolved.ref.text
    if (path / PROVENANCE_FILE).is_file():
        kind = read_provenance(path).card.kind
        if kind != "model":
            raise UsageError(f"{option} {ref} is a {kind} artifact, not a model: pass a model folder "
                             f"(config.json + *.safetensors) or a Hub model id to {option}")
    if not (path / "config.json").is_file():
        raise UsageError(f"{option} {ref} has no config.json, so it is not a transformers model: pass a model "
                         f"folder (config.json + *.safetensors) or a Hub model id to {option}")
    return read_config(path, ref)


def quantization_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint's quantization_config (compressed-tensors, bitsandbytes, GPTQ, ...) or None."""
    quant = config.get("quantization_config") or (config.get("text_config") or {}).get("quantization_config")
    return quant or None


def describe_quantization(quant: dict[str, Any]) -> str:
    method = quant.get("quant_method", "unknown method")
    fmt = quant.get("format")
    return f"{method}, {fmt}" if fmt else str(method)


def safetensors_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("*.safetensors"))


def require_safetensors(folder: Path, ref_text: str) -> list[Path]:
    """The weight files; hala-release never unpickles weights, so a .bin-only model is refused."""
    files = safetensors_files(folder)
    if not files:
        pickles = sorted(p.name for p in Path(folder).iterdir() if p.suffix in PICKLE_SUFFIXES)
        found = f" (found {', '.join(pickles)})" if pickles else ""
        raise HalaError(f"{ref_text} has no *.safetensors weights{found}: hala-release loads safetensors only; "
                        f"convert the checkpoint with `model.save_pretrained(dir, safe_serialization=True)`")
    return files


def remove_pickles(folder: Path) -> list[str]:
    """Delete pickled weight/state files a library copied or wrote (e.g. training_args.bin)."""
    removed = []
    for path in Path(folder).iterdir():
        if path.is_file() and path.suffix in PICKLE_SUFFIXES:
            path.unlink()
            removed.append(path.name)
    return removed


def weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in safetensors_files(folder))


def other_files_bytes(folder: Path) -> int:
    """Bytes of a model folder's files beside its safetensors weights (config, tokenizer, card)."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file() and p.suffix != ".safetensors")


def tensor_headers(folder: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every tensor's (dtype, shape) from the safetensors headers, without loading any data."""
    from safetensors import safe_open

    headers: dict[str, tuple[str, tuple[int, ...]]] = {}
    for file in safetensors_files(folder):
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():
                piece = handle.get_slice(name)
                headers[name] = (piece.get_dtype(), tuple(piece.get_shape()))
    return headers


def module_pattern(name: str) -> str:
    """`model.layers.12.conv.conv` -> `model.layers.*.conv.conv`: one line per kind of module in a card."""
    return re.sub(r"\.\d+\.", ".*.", name)


def input_license(resolved: "ResolvedRef") -> SourceLicense:
    """What an input's card says about its licence, with its licence text (LICENSE, LICENSE.md or LICENSE.txt).

    A relative `license_link` of a Hub input becomes a URL at the pinned commit, so a later card can link it.
    """
    from hala_release.artifacts.card import read_card_metadata

    meta = read_card_metadata(resolved.path)
    lic = meta.get("license")
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    link = meta.get("license_link") if isinstance(meta.get("license_link"), str) else None
    file = _licence_file(Path(resolved.path), link if _in_folder(link) else None)
    if _in_folder(link) and file is None and resolved.hub_id:
        link = f"{hub_link(resolved)}/blob/{resolved.pin}/{link.removeprefix('./')}"
    name = meta.get("license_name")
    return SourceLicense(str(lic) if lic else None, str(name) if name else None, link, file)


def _in_folder(link: str | None) -> bool:
    """Whether a `license_link` names a file inside the repo (never a path outside the input's folder)."""
    return bool(link) and "://" not in link and not Path(link).is_absolute() and ".." not in Path(link).parts


def _licence_file(folder: Path, link: str | None) -> Path | None:
    """The folder's licence text: the file `license_link` names, else the first of LICENSE_FILES found."""
    for name in [*([link] if link else []), *LICENSE_FILES]:
        path = folder / name
        if path.is_file():
            return path
    return None


def carried_license(inputs: dict[str, "ResolvedRef"]) -> CarriedLicense:
    """Most restrictive licence among the inputs' cards (keyed by the ref the user wrote)."""
    return carry_forward({name: input_license(resolved) for name, resolved in inputs.items()})


def license_fields(carried: CarriedLicense) -> dict[str, Any]:
    """CardFacts keyword arguments for a carried licence (its texts are copied when the artifact is built)."""
    return {"license": carried.license, "license_note": carried.note, "license_name": carried.license_name,
            "license_link": carried.license_link, "license_tags": list(carried.tags),
            "license_files": {name: str(path) for name, path in carried.files.items()}}


def input_languages(*inputs: "ResolvedRef") -> list[str]:
    """Languages from the inputs' cards, first input first, without repeats."""
    from hala_release.artifacts.card import read_card_metadata

    languages: list[str] = []
    for resolved in inputs:
        value = read_card_metadata(resolved.path).get("language") or []
        for code in [value] if isinstance(value, str) else value:
            if isinstance(code, str) and code not in languages:
                languages.append(code)
    return languages


def input_creators(resolved: "ResolvedRef", key: str, default: list[str]) -> list[str]:
    """An input card's `annotations_creators` or `language_creators`; `default` when the card does not say."""
    from hala_release.artifacts.card import CREATORS, read_card_metadata

    value = read_card_metadata(resolved.path).get(key)
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [v for v in values if v in CREATORS] or list(default)


def hub_parent(resolved: "ResolvedRef") -> str | None:
    """The Hub repo an input stands for: its own id, or the repo a local folder was pulled from or pushed to
    (while its content is unchanged: see `artifacts.record_origin`)."""
    from hala_release.artifacts.build import hub_origin

    if resolved.hub_id:
        return resolved.hub_id
    origin = hub_origin(resolved)
    return origin["repo_id"] if origin else None


def hub_revision(resolved: "ResolvedRef") -> str | None:
    """`org/name@commit` for an input that is a Hub commit (as `hub_parent`), else None."""
    from hala_release.artifacts.build import hub_origin

    if resolved.hub_id:
        return f"{resolved.hub_id}@{resolved.pin}"
    origin = hub_origin(resolved)
    return f"{origin['repo_id']}@{origin['revision']}" if origin else None


def hub_link(resolved: "ResolvedRef") -> str:
    """Where a card links an input: its Hub page (as `hub_parent`), else the card's Inputs table."""
    parent = hub_parent(resolved)
    if not parent:
        return "#inputs"
    kind = {"dataset": "datasets/", "space": "spaces/"}.get(resolved.ref.repo_type, "")
    return f"https://huggingface.co/{kind}{parent}"


def hub_parents(*inputs: "ResolvedRef") -> list[str]:
    """Every Hub parent among the inputs, in order and without repeats: cards name each one they can, so the
    artifact appears in its parents' Hub model tree even when another input is a purely local folder."""
    return list(dict.fromkeys(parent for parent in map(hub_parent, inputs) if parent))


def display_name(ref_text: str) -> str:
    """A short name for titles: `org/name@rev` -> `name`, `./runs/x` -> `x`."""
    text = ref_text.rstrip("/").split("@")[0]
    return text.split("/")[-1] or text
