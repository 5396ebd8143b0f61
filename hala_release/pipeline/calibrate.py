"""Plan before spending: what a recipe's generating stages cost in device hours, measured on this machine.

`pipeline run RECIPE --dry-run --calibrate N` runs each generating stage (translate, judge) on its first N rows, with
the stage's own engine and options, in a scratch folder, and reads the rate from the artifact's provenance (the
generation time, model loading left out). The full run's rows come from the recipe as in a dry run (`limit`,
`estimate.rows`, a shipped sample), its tokens per row from the calibration run. `--tokens-per-second R` prices the
same tokens at a rate the user gives (a cluster they do not have yet), with or without a calibration.

A stage's inputs that no run has built yet are stood in for, because speed depends on the architecture, not on the
weights: a quantize stage by the model it quantizes, a train or merge stage by the model it starts from; tiny-model
and sample-data stages are built in the scratch folder (they take seconds). Each stand-in is named in the output.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hala_release.core.errors import HalaError, UsageError
from hala_release.pipeline.references import REFERENCE, starting_model, walk

GENERATING = ("translate", "judge")
CHEAP = ("tiny-model", "sample-data")  # built on the spot when a generating stage needs them


@dataclass
class Measured:
    stage: str
    rows: int  # calibration rows
    seconds: float  # generation time, model loading left out
    tokens: int  # generated (translate); 0 for judge, which scores one verdict per pair
    devices: int  # GPUs one engine spans (tensor_parallel_size), 1 otherwise
    stand_ins: list[str]

    @property
    def rows_per_second(self) -> float:
        return self.rows / max(self.seconds, 1e-9)


def device_label() -> str:
    import torch

    return f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"


def calibrate(plan: Any, out_dir: Path, rows: int, echo: Callable[[str], None] = print) -> dict[str, Measured]:
    """Run every generating stage on `rows` rows; what each took, by stage name (a stage that cannot run is left out
    with a line saying why)."""
    if rows < 1:
        raise UsageError(f"--calibrate takes a number of rows (at least 1), not {rows}")
    by_name = {stage.name: stage for stage in plan.stages}
    measured: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="hala-calibrate-") as scratch:
        built: dict[str, str] = {}
        for stage in plan.stages:
            if stage.kind.name not in GENERATING:
                continue
            stand_ins: list[str] = []
            try:
                values = _resolve(stage.values, by_name, out_dir, Path(scratch), built, stand_ins)
            except _CannotStandIn as reason:
                echo(f"[calibrate] {stage.name}: not calibrated: {reason}")
                continue
            echo(f"[calibrate] {stage.name}: {stage.kind.name} on {rows} rows"
                 + (f" ({'; '.join(stand_ins)})" if stand_ins else ""))
            measured[stage.name] = _measure(stage, values, rows, Path(scratch) / stage.name, stand_ins)
    return measured


class _CannotStandIn(Exception):
    pass


def _resolve(value: Any, by_name: dict[str, Any], out_dir: Path, scratch: Path, built: dict[str, str],
             stand_ins: list[str]) -> Any:
    return walk(value, lambda ref: _input_for(ref, by_name, out_dir, scratch, built, stand_ins))


def _input_for(name: str, by_name: dict[str, Any], out_dir: Path, scratch: Path, built: dict[str, str],
               stand_ins: list[str]) -> str:
    """The folder (or Hub id) a calibration run reads for stage `name`'s output."""
    if (out_dir / name).exists():
        return str(out_dir / name)
    if name in built:
        return built[name]
    upstream = by_name[name]
    kind = upstream.kind.name
    if kind in CHEAP:
        values = _resolve(upstream.values, by_name, out_dir, scratch, built, stand_ins)
        _run(kind, values, scratch / name, {"calibration": True, "stage": name})
        built[name] = str(scratch / name)
        return built[name]
    value = starting_model(upstream)
    if not isinstance(value, str):
        raise _CannotStandIn(f"it reads stage {name!r} ({kind}), which is not built yet and has no model to stand in "
                             f"for it: build it first (pipeline run --only {name})")
    match = REFERENCE.fullmatch(value)
    resolved = _input_for(match.group(1), by_name, out_dir, scratch, built, stand_ins) if match else value
    shown = f"stage {match.group(1)}'s model" if match else value
    stand_ins.append(f"{name} ({kind}) not built yet: timed with {shown}, which it starts from")
    return resolved


def _run(kind: str, values: dict[str, Any], output: Path, step: dict[str, Any]) -> dict[str, Any]:
    from hala_release.pipeline.child import run_in_child

    summary, _ = run_in_child(kind, values, output, True, step)
    return summary


def _measure(stage: Any, values: dict[str, Any], rows: int, output: Path,
             stand_ins: list[str]) -> Measured:
    values = {**values, "limit": rows}
    if stage.kind.name == "translate":
        values["cache"] = False  # a hit in the translation cache is no generation: a second calibration would read 0
    try:
        _run(stage.kind.name, values, output, {"calibration": True, "stage": stage.name})
    except HalaError as err:
        raise HalaError(f"calibrating stage {stage.name!r} ({stage.kind.name}) failed: {err}") from None
    provenance = json.loads((output / "hala_provenance.json").read_text(encoding="utf-8"))
    stats, timings = provenance.get("stats", {}), provenance.get("timings", {})
    if stage.kind.name == "translate":
        done, tokens, seconds = stats["rows"], stats["generated_tokens"], timings.get("translate_chunks")
    else:
        done, tokens, seconds = stats["judged"], 0, timings.get("judge_chunks")
    engine = values.get("engine", "vllm")
    devices = int(values.get("tensor_parallel_size") or 1) if engine == "vllm" else 1
    return Measured(stage.name, done, float(seconds or 0.0), int(tokens), devices, stand_ins)


def hours_lines(estimates: dict[str, tuple[str, float | None, int | None]], measured: dict[str, Measured],
                tokens_per_second: float | None, device: str | None) -> list[str]:
    """Per stage and in total: rows, tokens to generate and device hours, at the measured rate and at the given
    one. `estimates`: stage -> (kind, tokens from the recipe's estimate or None, full rows or None)."""
    lines, total_measured, total_given = [], 0.0, 0.0
    for name, (kind, recipe_tokens, rows) in estimates.items():
        run = measured.get(name)
        if rows is None:
            lines.append(f"  {name}: rows unknown (set limit or estimate.rows): no hours")
            continue
        parts = [f"{rows:,} rows"]
        tokens = recipe_tokens
        if run is not None and kind == "translate" and run.rows:
            tokens = rows * run.tokens / run.rows
            parts.append(f"{tokens:,.0f} tokens to generate ({run.tokens / run.rows:,.1f}/row measured)")
        elif tokens is not None and kind == "translate":
            parts.append(f"{tokens:,.0f} tokens to generate (the recipe's estimate)")
        if run is not None and run.rows:
            hours = rows / run.rows_per_second / 3600 * run.devices
            total_measured += hours
            rate = (f"{run.tokens / max(run.seconds, 1e-9):,.1f} tokens/s" if kind == "translate"
                    else f"{run.rows_per_second:,.1f} pairs/s")
            parts.append(f"{_hours(hours)} {device}-hours at the measured {rate} x {run.devices} device(s)")
        if tokens_per_second and kind == "translate" and tokens is not None:
            devices = run.devices if run is not None else 1
            given = tokens / tokens_per_second / 3600 * devices
            total_given += given
            parts.append(f"{_hours(given)} GPU-hours at {tokens_per_second:,.0f} tokens/s per engine")
        lines.append(f"  {name} ({kind}): " + ", ".join(parts))
    if measured:
        lines.append(f"total at the measured rates: {_hours(total_measured)} {device}-hours")
    if tokens_per_second:
        lines.append(f"total at {tokens_per_second:,.0f} tokens/s per engine: {_hours(total_given)} GPU-hours "
                     f"(translate stages; judge scores one token per pair, see its measured rate)")
    return lines


def _hours(hours: float) -> str:
    """Three significant figures below 100 hours (a tiny recipe's seconds still show), whole hours above."""
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"
