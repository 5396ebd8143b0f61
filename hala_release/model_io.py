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

from .errors import HalaError
from .licenses import CarriedLicense, carry_forward

if TYPE_CHECKING:
    from .refs import ResolvedRef

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def read_config(folder: Path, ref_text: str) -> dict[str, Any]:
    """The model's config.json, or an error saying the input is not a transformers model folder."""
    path = Path(folder) / "config.json"
    if not path.exists():
        raise HalaError(f"{ref_text} has no config.json: pass a transformers model folder or Hub model repo")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise HalaError(f"{path} is not valid JSON ({err}): fix or re-download the model") from None


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


def input_license(resolved: "ResolvedRef") -> str | None:
    """The licence named on an input's card; for `other` the card's own licence name, so it is not lost."""
    from .cards import read_card_metadata

    meta = read_card_metadata(resolved.path)
    lic = meta.get("license")
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    if lic == "other" and meta.get("license_name"):
        return str(meta["license_name"])
    return lic


def carried_license(inputs: dict[str, "ResolvedRef"]) -> CarriedLicense:
    """Most restrictive licence among the inputs' cards (keyed by the ref the user wrote)."""
    return carry_forward({name: input_license(resolved) for name, resolved in inputs.items()})


def license_fields(carried: CarriedLicense) -> dict[str, Any]:
    """CardFacts keyword arguments for a carried licence."""
    return {"license": carried.license, "license_note": carried.note, "license_name": carried.license_name}


def input_languages(*inputs: "ResolvedRef") -> list[str]:
    """Languages from the inputs' cards, first input first, without repeats."""
    from .cards import read_card_metadata

    languages: list[str] = []
    for resolved in inputs:
        value = read_card_metadata(resolved.path).get("language") or []
        for code in [value] if isinstance(value, str) else value:
            if isinstance(code, str) and code not in languages:
                languages.append(code)
    return languages


def all_hub_ids(*inputs: "ResolvedRef") -> list[str]:
    """Hub ids of the inputs, or [] unless every input has one (card metadata must list all or none)."""
    ids = [resolved.hub_id for resolved in inputs]
    return [i for i in ids if i] if all(ids) else []


def display_name(ref_text: str) -> str:
    """A short name for titles: `org/name@rev` -> `name`, `./runs/x` -> `x`."""
    text = ref_text.rstrip("/").split("@")[0]
    return text.split("/")[-1] or text
