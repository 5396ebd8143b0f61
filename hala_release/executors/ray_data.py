"""Run a stage's chunks on a Ray cluster through Ray Data: the same chunk code, one engine replica per Ray actor.

Each actor resolves the inputs itself, through the stage's runner factory (a Hub ref downloads into that node's
cache; a local ref must be on a shared filesystem, as the work folder is), and writes finished chunks into the
shared work folder, so a crashed or pre-empted job resumes like a local one.

Each replica asks Ray for what its engine needs. A tensor-parallel vLLM engine gets a placement group of one
GPU bundle per rank, packed on one node, and vLLM starts its rank workers inside it (as `ray.data.llm` does).
A node lost mid-run costs only its chunks in flight: Ray Data restarts the actors and retries their tasks
(its default for actor pools: unlimited restarts and task retries), and a chunk found done is not redone.
"""

from __future__ import annotations

from typing import Any, Callable

from hala_release.core.errors import HalaError, UsageError
from hala_release.executors.chunks import chunk_done, chunk_stats


def replica_resources(engine: str, tensor_parallel_size: int, gpus: int | None, cpus: int) -> dict[str, Any]:
    """What one engine replica asks Ray for: `num_cpus` and `num_gpus` for the actor, plus `bundles` for a
    placement group when a vLLM engine spans several GPUs (the actor then holds none itself: its rank workers do).

    `gpus` None means "what the engine needs": `tensor_parallel_size` GPUs for vllm, none otherwise.
    """
    if gpus is None:
        gpus = tensor_parallel_size if engine == "vllm" else 0
    if gpus < 0 or cpus < 0:
        raise UsageError("--ray-gpus-per-worker and --ray-cpus-per-worker cannot be negative")
    if engine == "vllm" and tensor_parallel_size > 1:
        if gpus != tensor_parallel_size:
            raise UsageError(f"a vLLM engine with --tensor-parallel-size {tensor_parallel_size} needs "
                             f"{tensor_parallel_size} GPUs per replica: set --ray-gpus-per-worker "
                             f"{tensor_parallel_size} (or leave it out)")
        bundles = [{"GPU": 1, "CPU": max(1, cpus)}] + [{"GPU": 1, "CPU": 1}] * (gpus - 1)
        return {"num_cpus": cpus, "num_gpus": 0, "bundles": bundles}
    return {"num_cpus": cpus, "num_gpus": gpus}


def replica_cpus(resources: dict[str, Any]) -> float:
    """CPUs one replica holds in all (its bundles, or the actor's own)."""
    if resources.get("bundles"):
        return sum(bundle.get("CPU", 0) for bundle in resources["bundles"])
    return resources["num_cpus"]


def vllm_replica_options() -> dict[str, Any]:
    """vLLM options for an engine built in this process: inside a replica's placement group its ranks must be Ray
    workers (vLLM's own default counts the GPUs visible to this actor, which holds none, and refuses)."""
    try:
        import ray
        from ray.util import get_current_placement_group
    except ImportError:
        return {}
    if ray.is_initialized() and get_current_placement_group() is not None:
        return {"distributed_executor_backend": "ray"}
    return {}


class _ChunkWorker:
    """One Ray actor: builds its runner once (engine, inputs) with the stage's factory, then runs chunks."""

    def __init__(self, make_runner: Callable[[dict[str, Any], dict[str, Any]], Any], settings: dict[str, Any],
                 plan: dict[str, Any]):
        self.plan = plan
        self.runner = make_runner(settings, plan)

    def __call__(self, batch: dict) -> dict:
        chunks = [int(i) for i in batch["chunk"]]
        return {"chunk": chunks, "rows": [self._run(i) for i in chunks]}

    def _run(self, index: int) -> int:
        # A retried task (its node was lost after the chunk was written) finds the chunk done: no work again.
        if chunk_done(self.plan, index):
            return chunk_stats(self.plan, index)["rows"]
        return self.runner.run(index)["rows"]


def _placement_groups(bundles: list[dict[str, float]], made: list) -> Callable[[], dict[str, Any]]:
    """Ray Data calls this before starting each actor: a fresh placement group per replica, its GPUs on one node,
    which the engine's own rank workers join (capture_child_tasks)."""
    def remote_args() -> dict[str, Any]:
        from ray.util import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = placement_group(bundles, strategy="STRICT_PACK")
        made.append(group)
        return {"scheduling_strategy": PlacementGroupSchedulingStrategy(
            group, placement_group_capture_child_tasks=True)}

    return remote_args


def _without_remote_args_callers(context) -> list:
    """Turn off Ray Data's high-memory detector for this run, returning the detectors to restore: it calls the
    remote-args function outside actor starts (at start and periodically), and each call would make a placement
    group that holds a replica's GPUs with no actor in it."""
    config = context.issue_detectors_config
    saved = list(config.detectors)
    config.detectors = [d for d in saved if d.__name__ != "HighMemoryIssueDetector"]
    return saved


def run_chunks_on_ray(make_runner: Callable[[dict[str, Any], dict[str, Any]], Any], settings: dict[str, Any],
                      plan: dict[str, Any], todo: list[int], *, workers: int, address: str | None = None,
                      resources: dict[str, Any] | None = None) -> int:
    """Run `todo` chunks on `workers` actors, each holding `resources` (see `replica_resources`); returns the
    number of rows done.

    `make_runner(settings, plan)` is the stage's own module-level factory (Ray pickles it by reference): it runs
    inside each actor and returns an object whose `run(index)` does one chunk and returns its stats. The
    executor never imports a stage, so any chunked stage can use it.
    """
    try:
        import ray
    except ImportError:
        raise HalaError("--executor ray needs Ray: pip install 'hala-release[ray]'") from None
    if workers < 1:
        raise UsageError("--ray-workers must be at least 1")
    resources = resources or {"num_cpus": 1, "num_gpus": 0}
    started_here = not ray.is_initialized()
    if started_here:
        options = {"address": address} if address else {"num_cpus": max(1, workers * replica_cpus(resources))}
        ray.init(include_dashboard=False, log_to_driver=False, **options)
    made: list = []
    extra = {"ray_remote_args_fn": _placement_groups(resources["bundles"], made)} if resources.get("bundles") else {}
    detectors = _without_remote_args_callers(ray.data.DataContext.get_current()) if extra else None
    try:
        items = ray.data.from_items([{"chunk": index} for index in todo])
        done = items.map_batches(_ChunkWorker, batch_size=1, num_cpus=resources["num_cpus"],
                                 num_gpus=resources["num_gpus"], compute=ray.data.ActorPoolStrategy(size=workers),
                                 fn_constructor_kwargs={"make_runner": make_runner, "settings": settings,
                                                        "plan": plan}, **extra)
        return sum(row["rows"] for row in done.take_all())
    finally:
        if detectors is not None:
            ray.data.DataContext.get_current().issue_detectors_config.detectors = detectors
        for group in made:
            ray.util.remove_placement_group(group)
        if started_here:
            ray.shutdown()
