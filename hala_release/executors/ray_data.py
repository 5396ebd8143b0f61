"""Run translate chunks on a Ray cluster through Ray Data: the same chunk code, one engine per Ray actor.

Each actor resolves the inputs itself (a Hub ref downloads into that node's cache; a local ref must be on a
shared filesystem, as the work folder is) and writes finished chunks into the shared work folder, so a crashed
or pre-empted job resumes like a local one.
"""

from __future__ import annotations

from typing import Any

from hala_release.core.errors import HalaError


class _ChunkWorker:
    def __init__(self, config: dict[str, Any], plan: dict[str, Any]):
        from hala_release.executors.chunks import load_split
        from hala_release.core.refs import resolve
        from hala_release.stages.translate.run import ChunkRunner, TranslateConfig

        cfg = TranslateConfig.model_validate(config)
        dataset = load_split(resolve(cfg.source, "dataset"), cfg.split, cfg.subset, cfg.limit)
        if cfg.engine in ("vllm", "transformers"):
            plan = {**plan, "model_path": str(resolve(cfg.model, "model").path)}
        self.runner = ChunkRunner(cfg, plan, dataset)

    def __call__(self, batch: dict) -> dict:
        chunks = [int(i) for i in batch["chunk"]]
        rows = [self.runner.run(i)["rows"] for i in chunks]
        return {"chunk": chunks, "rows": rows}


def run_chunks_on_ray(config, plan: dict[str, Any], todo: list[int]) -> int:
    """Translate `todo` chunks with `config.ray_workers` actors; returns the number of rows done."""
    try:
        import ray
    except ImportError:
        raise HalaError("--executor ray needs Ray: pip install 'hala-release[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        options = {"address": config.ray_address} if config.ray_address else {"num_cpus": max(1, config.ray_workers)}
        ray.init(include_dashboard=False, log_to_driver=False, **options)
    try:
        items = ray.data.from_items([{"chunk": index} for index in todo])
        done = items.map_batches(_ChunkWorker, batch_size=1, num_cpus=1,
                                 compute=ray.data.ActorPoolStrategy(size=config.ray_workers),
                                 fn_constructor_kwargs={"config": config.model_dump(by_alias=True), "plan": plan})
        return sum(row["rows"] for row in done.take_all())
    finally:
        if started_here:
            ray.shutdown()
