"""What a recipe's `with:` values refer to: other stages' outputs (`${stages.NAME.output}`) and, for a train stage,
the model and dataset its training recipe file names. Shared by the planner (run.py) and the calibration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from hala_release.core.errors import UsageError

REFERENCE = re.compile(r"^\$\{\s*stages\.([A-Za-z0-9][A-Za-z0-9_.-]*?)\.output\s*\}$")


def walk(value: Any, on_reference: Callable[[str], Any]) -> Any:
    """Replace every `${stages.NAME.output}` in a `with:` value (strings, lists, mappings)."""
    if isinstance(value, str):
        if REFERENCE.match(value):
            return on_reference(REFERENCE.match(value).group(1))
        if "${" in value:
            raise UsageError(f"{value!r}: a reference must be a whole value, written ${{stages.NAME.output}}")
        return value
    if isinstance(value, list):
        return [walk(item, on_reference) for item in value]
    if isinstance(value, dict):
        return {k: walk(v, on_reference) for k, v in value.items()}
    return value


def training_recipe_inputs(stage: Any) -> dict[str, Any]:
    """The model and dataset a train stage's recipe file names, unless the stage overrides them."""
    import yaml

    try:
        recipe = yaml.safe_load(Path(stage.values["recipe"]).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return {key: recipe[key] for key in ("model_name_or_path", "dataset_name")
            if key in recipe and key not in stage.values}


def starting_model(stage: Any) -> Any:
    """The model a quantize, train or merge stage starts from: what stands in for its output when only its speed
    matters (pipeline/calibrate.py). None for other kinds."""
    key = {"quantize": "model", "train": "model_name_or_path", "merge": "tuned"}.get(stage.kind.name)
    value = stage.values.get(key) if key else None
    if value is None and stage.kind.name == "train":
        value = training_recipe_inputs(stage).get("model_name_or_path")
    return value
