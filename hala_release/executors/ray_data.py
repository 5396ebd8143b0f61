"""Run a stage's chunks on a Ray cluster through Ray Data: the same chunk code, one engine per Ray actor.

Each actor resolves the inputs itself, through the stage's runner factory (a Hub ref downloads into that node's
cache; a local ref must be on a shared filesystem, as the work folder is), and writes finished chunks into the
shared work folder, so a crashed or pre-empted job resumes like a local one.
"""

from __future__ import annotations

from typing import Any, Callable

from hala_release.core.errors import HalaError


class _ChunkWorker:
    """One Ray actor: builds its runner once (engine, inputs) with the stage's factory, then runs chunks."""

    def __init__(self, make_runner: Callable[[dict[str, Any], dict[str, Any]], Any], settings: dict[str, Any],
                 plan: dict[str, Any]):
        self.runner = make_runner(settings, plan)

    def __call__(self, batch: dict) -> dict:
        chunks = [int(i) for i in batch["chunk"]]
        rows = [self.runner.run(i)["rows"] for i in chunks]
        return {"chunk": chunks, "rows": rows}


def run_chunks_on_ray(make_runner: Callable[[dict[str, Any], dict[str, Any]], Any], settings: dict[str, Any],
                      plan: dict[str, Any], todo: list[int], *, workers: int, address: str | None = None) -> int:
    """Run `todo` chunks on `workers` actors; returns the number of rows done.

    `make_runner(settings, plan)` is the stage's own module-level factory (Ray pickles it by reference): it runs
    inside each actor and returns an object whose `run(index)` does one chunk and returns its stats. The
    executor never imports a stage, so any chunked stage can use it.
    """
    try:
        import ray
    except ImportError:
        raise HalaError("--executor ray needs Ray: pip install 'hala-release[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        options = {"address": address} if address else {"num_cpus": max(1, workers)}
        ray.init(include_dashboard=False, log_to_driver=False, **options)
    try:
        items = ray.data.from_items([{"chunk": index} for index in todo])
        done = items.map_batches(_ChunkWorker, batch_size=1, num_cpus=1,
                                 compute=ray.data.ActorPoolStrategy(size=workers),
                                 fn_constructor_kwargs={"make_runner": make_runner, "settings": settings,
                                                        "plan": plan})
        return sum(row["rows"] for row in done.take_all())
    finally:
        if started_here:
            ray.shutdown()
