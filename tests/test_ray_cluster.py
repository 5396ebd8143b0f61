"""The Ray executor: what each engine replica asks Ray for, and a run that loses a worker node midway.

Every Ray driver here runs in a child process (`in_child`): a driver that loses its local raylet ends its process,
which must fail one test, not end the pytest session.
"""

import threading
import time
from pathlib import Path

import pytest

from hala_release.cli import main
from hala_release.core.errors import UsageError
from hala_release.core.provenance import read_provenance
from hala_release.executors.chunks import work_dir_for
from hala_release.executors.ray_data import replica_cpus, replica_resources
from hala_release.stages.sample_data.run import export_sample, read_sample
from in_child import run_cli_in_child, run_in_child
from stage_helpers import run_cli, split_rows


def test_a_vllm_replica_asks_for_its_tensor_parallel_gpus_placed_together():
    resources = replica_resources("vllm", 4, None, 2)
    assert resources["num_gpus"] == 0  # the rank workers hold the GPUs, inside the replica's placement group
    assert resources["bundles"] == [{"GPU": 1, "CPU": 2}] + [{"GPU": 1, "CPU": 1}] * 3
    assert replica_cpus(resources) == 5


def test_a_single_gpu_replica_asks_for_gpus_without_a_placement_group():
    assert replica_resources("vllm", 1, None, 1) == {"num_cpus": 1, "num_gpus": 1}
    assert replica_resources("transformers", 1, None, 1) == {"num_cpus": 1, "num_gpus": 0}
    assert replica_resources("transformers", 1, 1, 4) == {"num_cpus": 4, "num_gpus": 1}
    assert replica_resources("dry-run", 1, 0, 3) == {"num_cpus": 3, "num_gpus": 0}


def test_a_tensor_parallel_replica_with_other_gpu_counts_is_refused():
    with pytest.raises(UsageError, match="--ray-gpus-per-worker 8"):
        replica_resources("vllm", 8, 4, 1)
    with pytest.raises(UsageError, match="negative"):
        replica_resources("transformers", 1, -1, 1)


def test_worker_resources_are_options_of_translate_and_judge(capsys):
    for stage in ("translate", "judge"):
        code, out, _ = run_cli(capsys, stage, "--help")
        assert code == 0 and "--ray-gpus-per-worker" in out and "--ray-cpus-per-worker" in out
    code, out, _ = run_cli(capsys, "judge", "--help")
    assert "--executor" in out and "--ray-address" in out and "--ray-workers" in out


@pytest.mark.slow
def test_ray_workers_with_explicit_cpus_translate_like_local(tmp_path, capsys):
    source = export_sample("openorca", tmp_path / "src")
    common = ["--engine", "dry-run", "--chunk-size", "10"]
    code, _, err = run_cli(capsys, "translate", source, "--output", tmp_path / "local", *common)
    assert code == 0, err
    code, _, err = run_cli_in_child("translate", source, "--output", tmp_path / "ray", *common, "--executor", "ray",
                                    "--ray-workers", "1", "--ray-cpus-per-worker", "2")
    assert code == 0, err
    assert split_rows(tmp_path / "ray", "train") == split_rows(tmp_path / "local", "train")


def _translate_in_strict_pack_groups(argv: list[str]) -> tuple[int, list[str]]:
    """In the child: each replica gets two one-CPU bundles, and the placement groups made are recorded."""
    import ray.util

    from hala_release.executors import ray_data

    made, real = [], ray.util.placement_group
    ray_data.replica_resources = lambda *_: {"num_cpus": 1, "num_gpus": 0, "bundles": [{"CPU": 1}, {"CPU": 1}]}
    ray.util.placement_group = lambda bundles, strategy: made.append(strategy) or real(bundles, strategy=strategy)
    return main(argv), made


@pytest.mark.slow
def test_replicas_in_strict_pack_placement_groups_translate_like_local(tmp_path, capsys):
    # The tensor-parallel path on CPU bundles: a placement group per replica, the actor scheduled inside it.
    source = export_sample("openorca", tmp_path / "src")
    common = ["--engine", "dry-run", "--chunk-size", "10"]
    code, _, err = run_cli(capsys, "translate", source, "--output", tmp_path / "local", *common)
    assert code == 0, err
    argv = ["translate", source, "--output", tmp_path / "ray", *common, "--executor", "ray", "--ray-workers", "2"]
    (code, made), _, err = run_in_child(_translate_in_strict_pack_groups, [str(a) for a in argv])
    assert code == 0, err
    assert made == ["STRICT_PACK", "STRICT_PACK"]
    assert split_rows(tmp_path / "ray", "train") == split_rows(tmp_path / "local", "train")


@pytest.mark.slow
def test_judge_runs_on_ray_like_local(tiny_llama, tmp_path, capsys):
    source = export_sample("opus100-ar-en", tmp_path / "opus")
    common = ["--judge", tiny_llama, "--engine", "transformers", "--chunk-size", "8", "--threshold", "0",
              "--limit", "24"]
    code, _, err = run_cli(capsys, "judge", source, "--output", tmp_path / "local", *common)
    assert code == 0, err
    code, _, err = run_cli_in_child("judge", source, "--output", tmp_path / "ray", *common, "--executor", "ray",
                                    "--ray-workers", "1")
    assert code == 0, err
    assert split_rows(tmp_path / "ray", "train") == split_rows(tmp_path / "local", "train")
    assert split_rows(tmp_path / "ray", "rejected") == split_rows(tmp_path / "local", "rejected")


def _remove_when_a_chunk_is_done(cluster, worker, blocker, work, seen: dict) -> threading.Thread:
    """Remove the worker node once the first chunk is written, freeing the head's spare CPU just before so the
    lost replica has somewhere to restart."""
    import ray

    def watch():
        deadline = time.time() + 300
        while not any(work.glob("chunk-*.parquet")) and time.time() < deadline:
            time.sleep(0.05)
        seen["chunks_at_removal"] = len(list(work.glob("chunk-*.parquet")))
        ray.util.remove_placement_group(blocker)
        cluster.remove_node(worker)
        seen["removed"] = True

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _translate_losing_the_worker_node(argv: list[str], output: str) -> tuple[int, dict, float]:
    """In the child: a two-node cluster, one replica per node, and the worker node removed after the first chunk;
    returns the run's exit code, what the watcher saw and the seconds it all took."""
    import ray
    from ray.cluster_utils import Cluster
    from ray.util import placement_group

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "resources": {"head": 1}, "object_store_memory": 80 * 1024 ** 2, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 ** 2)
    began = time.perf_counter()
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        # One of the head's two CPUs is held, so the two replicas (one CPU each) land one per node.
        blocker = placement_group([{"CPU": 1, "head": 1}])
        ray.get(blocker.ready(), timeout=60)
        seen: dict = {}
        watcher = _remove_when_a_chunk_is_done(cluster, worker, blocker, work_dir_for(Path(output)), seen)
        code = main([*argv, "--ray-address", cluster.address])
        watcher.join(timeout=60)
    finally:
        ray.shutdown()
        cluster.shutdown()
    return code, seen, time.perf_counter() - began


@pytest.mark.slow
def test_a_run_that_loses_its_worker_node_finishes_with_every_row_once(tiny_lfm2, tmp_path):
    source = export_sample("openorca", tmp_path / "src")
    output = tmp_path / "out"
    rows = 16
    argv = ["translate", source, "--output", output, "--model", tiny_lfm2, "--engine", "transformers",
            "--no-quality-gates", "--max-tokens", "4", "--limit", rows, "--chunk-size", "2", "--cache-dir",
            tmp_path / "cache", "--executor", "ray", "--ray-workers", "2", "--ray-cpus-per-worker", "1"]
    (code, seen, seconds), out, err = run_in_child(_translate_losing_the_worker_node, [str(a) for a in argv],
                                                   str(output))
    print(f"killed-worker-node run: {seconds:.1f} s")
    assert code == 0, err
    assert seen.get("removed") and seen["chunks_at_removal"] < rows // 2  # the node went while chunks were left
    ids = [row["id"] for split in ("train", "rejected") for row in split_rows(output, split)]
    assert sorted(ids) == sorted(row["id"] for row in read_sample("openorca")[:rows])  # every row, exactly once
    stats = read_provenance(output).stats
    assert stats["rows"] == rows and stats["generated_segments"] > 0 and "cache_hits" in stats
    assert "cache hits" in out
