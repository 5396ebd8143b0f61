"""merge: mergekit slerp on tiny LFM2 models, checked tensor by tensor against slerp computed here; the card and
the saved mergekit config; refusals of quantized and mismatched inputs."""

import json
import shutil

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

from hala_release.cli import main
from hala_release.core.errors import HalaError
from hala_release.stages.merge.run import MERGEKIT_CONFIG_FILE, merge_models
from hala_release.core.provenance import read_provenance
from hala_release.hub.publish import push_artifact
from hala_release.core.refs import resolve

SLERP_DOT_THRESHOLD = 0.9995  # nearly parallel tensors are interpolated linearly (mergekit's documented rule)
TOLERANCE = 1e-6  # float32 weights; measured worst difference is ~1e-8


def slerp(t: float, a: torch.Tensor, b: torch.Tensor):
    """Textbook slerp of two whole tensors (float64), with the linear fallback for near-parallel ones."""
    x, y = a.double().flatten(), b.double().flatten()
    dot = torch.dot(x / x.norm(), y / y.norm()).clamp(-1, 1)
    if dot.abs() > SLERP_DOT_THRESHOLD:
        return ((1 - t) * x + t * y).reshape(a.shape), float(dot)
    theta = torch.acos(dot)
    return ((torch.sin((1 - t) * theta) * x + torch.sin(t * theta) * y) / torch.sin(theta)).reshape(a.shape), float(dot)


def _variant(source, target, change):
    """A copy of a model folder whose tensors are replaced by change(name, tensor)."""
    shutil.copytree(source, target)
    weights = target / "model.safetensors"
    tensors = load_file(weights)
    save_file({name: change(name, tensor).contiguous() for name, tensor in tensors.items()}, weights,
              metadata={"format": "pt"})
    return target


def _weights(folder):
    return load_file(folder / "model.safetensors")


@pytest.fixture(scope="module")
def other_lfm2(tiny_lfm2, tmp_path_factory):
    """Same architecture, independent random weights (of the same scale): slerp proper, not its linear fallback."""
    gen = torch.Generator().manual_seed(1)

    def redraw(name, tensor):
        if tensor.dim() < 2:
            return tensor
        return torch.randn(tensor.shape, generator=gen, dtype=tensor.dtype) * tensor.std()
    return _variant(tiny_lfm2, tmp_path_factory.mktemp("merge") / "other-lfm2", redraw)


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


def test_slerp_of_hub_models_matches_slerp_at_t(tiny_lfm2, other_lfm2, as_tester, tmp_path, capsys):
    push_artifact(tiny_lfm2, "hala-test/m-base", "model")
    push_artifact(other_lfm2, "hala-test/m-tuned", "model")
    out = tmp_path / "merged"
    assert main(["merge", "hala-test/m-base", "hala-test/m-tuned", "--output", str(out), "--t", "0.3"]) == 0
    assert "slerp merge (t = 0.3)" in capsys.readouterr().out

    base, tuned, merged = _weights(tiny_lfm2), _weights(other_lfm2), _weights(out)
    assert set(merged) == set(base)
    arcs = 0
    for name, tensor in merged.items():
        expected, dot = slerp(0.3, base[name], tuned[name])
        assert (tensor.double() - expected).abs().max().item() < TOLERANCE, name
        arcs += abs(dot) <= SLERP_DOT_THRESHOLD
    assert arcs >= 20  # most weight matrices took the spherical branch, so the check is not just a lerp

    base_r, tuned_r = resolve("hala-test/m-base"), resolve("hala-test/m-tuned")
    mk = yaml.safe_load((out / MERGEKIT_CONFIG_FILE).read_text())
    base_at, tuned_at = f"hala-test/m-base@{base_r.pin}", f"hala-test/m-tuned@{tuned_r.pin}"  # rerunnable anywhere
    assert mk == {"base_model": base_at, "dtype": "float32", "merge_method": "slerp",
                  "models": [{"model": base_at}, {"model": tuned_at}], "parameters": {"t": 0.3}}
    card = ModelCard.load(out / "README.md")
    assert card.data.to_dict() == {
        "base_model": ["hala-test/m-base", "hala-test/m-tuned"], "base_model_relation": "merge",
        "language": ["ar", "en"], "license": "apache-2.0", "library_name": "transformers",
        "pipeline_tag": "text-generation", "tags": ["hala-release", "merge", "mergekit", "slerp"]}
    assert "## Merge configuration" in card.text
    assert f"```yaml\n{(out / MERGEKIT_CONFIG_FILE).read_text().rstrip()}\n```" in card.text  # the exact file
    prov = read_provenance(out)
    assert prov.config["t"] == 0.3 and prov.inputs["base"]["pin"] == base_r.pin
    assert prov.inputs["tuned"]["pin"] == tuned_r.pin
    assert (out / "tokenizer.json").read_bytes() == (tiny_lfm2 / "tokenizer.json").read_bytes()

    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.generate(torch.tensor([[1, 5, 6]]), max_new_tokens=4, min_new_tokens=4,
                          do_sample=False).shape[1] == 7


def _fine_tune(base, target, seed=2):
    """A copy of `base` nudged slightly, like a short fine-tune of it."""
    gen = torch.Generator().manual_seed(seed)
    return _variant(base, target,
                    lambda name, t: t + 1e-3 * t.std() * torch.randn(t.shape, generator=gen, dtype=t.dtype))


def test_fine_tune_like_merge_lies_between_the_inputs(tiny_lfm2, tmp_path):
    local_base = tmp_path / "base"  # never pushed: a purely local input (the session's tiny model may have been)
    shutil.copytree(tiny_lfm2, local_base, ignore=shutil.ignore_patterns(".cache"))
    tuned = _fine_tune(local_base, tmp_path / "tuned")
    out = merge_models(str(local_base), str(tuned), tmp_path / "merged")
    base, tuned_w, merged = _weights(local_base), _weights(tuned), _weights(out)
    for name, tensor in merged.items():
        expected, dot = slerp(0.5, base[name], tuned_w[name])
        assert dot > SLERP_DOT_THRESHOLD  # a small fine-tune: nearly parallel, so slerp is linear here
        assert (tensor.double() - expected).abs().max().item() < TOLERANCE, name
        low, high = torch.minimum(base[name], tuned_w[name]), torch.maximum(base[name], tuned_w[name])
        assert bool(((tensor >= low - 1e-7) & (tensor <= high + 1e-7)).all()), name
    meta = ModelCard.load(out / "README.md").data.to_dict()
    assert "base_model" not in meta and "base_model_relation" not in meta  # local inputs: no invented Hub ids
    prov = read_provenance(out)
    assert prov.config == {"base": str(local_base), "tuned": str(tuned), "method": "slerp", "t": 0.5,
                           "dtype": "float32", "trust_remote_code": False}
    text = (out / "README.md").read_text()
    assert f"| tuned | `{tuned}` | `{prov.inputs['tuned']['pin']}` |" in text


def test_merging_shows_no_torch_dtype_deprecation(tiny_lfm2, other_lfm2, tmp_path):
    """mergekit 0.1.5 sets `config.torch_dtype` itself; the merge stage keeps transformers' deprecation about it off
    the console (nothing a user passes could avoid it), and adds no other notice of its own."""
    from stage_helpers import library_notices

    with library_notices() as notices:
        merge_models(str(tiny_lfm2), str(other_lfm2), tmp_path / "merged")
    assert not [n for n in notices if "torch_dtype" in n], notices


def test_hub_base_and_local_tuned_keep_base_model_and_the_config_reruns(tiny_lfm2, as_tester, tmp_path):
    """The README's own flow: merge a Hub base with a local fine-tune. The card still names the Hub parent, and the
    saved mergekit config names it by commit, so mergekit alone reruns the merge and gets the same weights."""
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    repo = "hala-test/m-hub-base"
    pin = push_artifact(tiny_lfm2, repo, "model").revision
    tuned = _fine_tune(tiny_lfm2, tmp_path / "tuned")
    out = merge_models(repo, str(tuned), tmp_path / "merged")
    meta = ModelCard.load(out / "README.md").data.to_dict()
    assert meta["base_model"] == repo and meta["base_model_relation"] == "merge"

    saved = (out / MERGEKIT_CONFIG_FILE).read_text()
    assert yaml.safe_load(saved) == {"base_model": f"{repo}@{pin}", "dtype": "float32", "merge_method": "slerp",
                                     "models": [{"model": f"{repo}@{pin}"}, {"model": str(tuned)}],
                                     "parameters": {"t": 0.5}}
    config = MergeConfiguration.model_validate(yaml.safe_load(saved))
    assert (config.base_model.model.path, config.base_model.model.revision) == (repo, pin)  # mergekit's own parsing
    assert f"`{tuned}` by the local folder" in (out / "README.md").read_text()
    rerun = tmp_path / "rerun"
    run_merge(config, str(rerun), MergeOptions(write_model_card=False, safe_serialization=True))
    merged, again = _weights(out), _weights(rerun)
    assert set(again) == set(merged) and all(torch.equal(again[k], merged[k]) for k in merged)


def test_local_folders_pulled_or_pushed_count_as_their_hub_repos(tiny_lfm2, as_tester, tmp_path, capsys):
    base_repo, tuned_repo = "hala-test/m-pulled-base", "hala-test/m-pushed-tuned"
    base_pin = push_artifact(tiny_lfm2, base_repo, "model").revision
    assert main(["pull", base_repo, "--output", str(tmp_path / "pulled")]) == 0
    tuned = _fine_tune(tiny_lfm2, tmp_path / "tuned", seed=3)
    tuned_pin = push_artifact(tuned, tuned_repo, "model").revision
    capsys.readouterr()

    out = merge_models(str(tmp_path / "pulled"), str(tuned), tmp_path / "merged")
    meta = ModelCard.load(out / "README.md").data.to_dict()
    assert meta["base_model"] == [base_repo, tuned_repo] and meta["base_model_relation"] == "merge"
    mk = yaml.safe_load((out / MERGEKIT_CONFIG_FILE).read_text())
    assert mk["models"] == [{"model": f"{base_repo}@{base_pin}"}, {"model": f"{tuned_repo}@{tuned_pin}"}]
    text = (out / "README.md").read_text()
    assert f"pulled as [`{base_repo}@{base_pin[:12]}`]" in text
    assert f"pushed as [`{tuned_repo}@{tuned_pin[:12]}`]" in text
    assert read_provenance(out).inputs["tuned"]["hub_origin"] == {"repo_id": tuned_repo, "revision": tuned_pin,
                                                                  "how": "pushed"}

    # Changed since it was pushed: the folder is a new local model, not that commit any more.
    config = json.loads((tuned / "config.json").read_text())
    (tuned / "config.json").write_text(json.dumps({**config, "note": "edited"}))
    again = merge_models(str(tmp_path / "pulled"), str(tuned), tmp_path / "again")
    assert ModelCard.load(again / "README.md").data.to_dict()["base_model"] == base_repo
    assert yaml.safe_load((again / MERGEKIT_CONFIG_FILE).read_text())["models"][1] == {"model": str(tuned)}


def _with_config(source, target, **changes):
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update(changes)
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_refuses_quantized_checkpoints(tiny_lfm2, tmp_path, capsys):
    quantized = _with_config(tiny_lfm2, tmp_path / "fp8", quantization_config={
        "quant_method": "compressed-tensors", "format": "float-quantized"})
    with pytest.raises(HalaError, match="drop the quantization scales"):
        merge_models(str(tiny_lfm2), str(quantized), tmp_path / "out")
    assert main(["merge", str(quantized), str(tiny_lfm2), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is quantized (compressed-tensors, float-quantized)" in err
    assert "then run `hala-release quantize` on the merged model" in err
    assert not (tmp_path / "out").exists()


def test_refuses_mismatched_architectures(tiny_lfm2, tiny_llama, tmp_path, capsys):
    assert main(["merge", str(tiny_lfm2), str(tiny_llama), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "(llama, LlamaForCausalLM)" in err and "(lfm2, Lfm2ForCausalLM)" in err
    wider = _with_config(tiny_lfm2, tmp_path / "wider", hidden_size=256)
    with pytest.raises(HalaError, match="different shapes \\(hidden_size 128 vs 256\\)"):
        merge_models(str(tiny_lfm2), str(wider), tmp_path / "out")


def test_bad_options_are_usage_errors(tiny_lfm2, tmp_path, capsys):
    assert main(["merge", str(tiny_lfm2), str(tiny_lfm2), "--output", str(tmp_path / "o"), "--t", "1.5"]) == 2
    assert "--t must be between 0" in capsys.readouterr().err
    assert main(["merge", str(tiny_lfm2), str(tiny_lfm2), "--output", str(tmp_path / "o"), "--method", "ties"]) == 2
    assert "unknown merge method 'ties'" in capsys.readouterr().err


def test_out_shard_size_writes_several_shards_that_load_back(tiny_lfm2, other_lfm2, tmp_path, capsys):
    """mergekit-yaml's --out-shard-size (parameters per shard, K/M/B suffixes) reaches mergekit: several shards,
    the same weights as one shard, a model transformers loads; the option is recorded where a rerun needs it."""
    from transformers import AutoModelForCausalLM

    params = sum(t.numel() for t in _weights(tiny_lfm2).values())
    size = f"{params // 4 // 1000}K"  # a quarter of the model per shard, in mergekit's own notation
    out, whole = tmp_path / "sharded", tmp_path / "whole"
    assert main(["merge", str(tiny_lfm2), str(other_lfm2), "--output", str(out), "--out-shard-size", size,
                 "--lazy-unpickle"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("slerp merge (t = 0.5) in ") and line.endswith(f" s; model written to {out}")
    shards = sorted(out.glob("*.safetensors"))
    assert len(shards) >= 4 and (out / "model.safetensors.index.json").exists()
    merge_models(str(tiny_lfm2), str(other_lfm2), whole)
    sharded = {}
    for shard in shards:
        sharded.update(load_file(shard))
    merged = _weights(whole)
    assert set(sharded) == set(merged) and all(torch.equal(sharded[k], merged[k]) for k in merged)
    loaded = AutoModelForCausalLM.from_pretrained(out).state_dict()  # transformers reads the sharded index
    assert set(merged) <= set(loaded) and all(torch.equal(loaded[k], merged[k]) for k in merged)

    prov = read_provenance(out)
    expected = {"lazy_unpickle": True, "out_shard_size": params // 4 // 1000 * 1000}
    assert prov.config["mergekit_options"] == expected and prov.stats["weight_shards"] == len(shards)
    text = (out / "README.md").read_text()
    assert f"mergekit options: `--lazy-unpickle`, `--out-shard-size {expected['out_shard_size']}`." in text
    assert "mergekit_options" not in read_provenance(whole).config  # defaults are not recorded


def test_mergekit_option_mistakes_are_one_line(tiny_lfm2, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["merge", str(tiny_lfm2), str(tiny_lfm2), "--output", str(out), "--out-shard-size", "5X"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out-shard-size '5X' is not a size" in err and "500M or 5B" in err
    if not torch.cuda.is_available():
        assert main(["merge", str(tiny_lfm2), str(tiny_lfm2), "--output", str(out), "--cuda"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no CUDA device" in err and "drop --cuda" in err
    assert not out.exists()


def test_lora_adapter_is_folded_into_its_base_before_slerp(tiny_lfm2, as_tester, tmp_path):
    """A PEFT adapter (random non-zero LoRA B) as the tuned input: its base, named by Hub id in adapter_config.json,
    is fetched, the adapter folded in, then slerped. Checked against W + scale * B @ A computed here."""
    from huggingface_hub import HfApi
    from mergekit.config import MergeConfiguration
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base_repo, adapter_repo = "hala-test/m-lora-base", "hala-test/m-lora"
    base_pin = push_artifact(tiny_lfm2, base_repo, "model").revision
    model = AutoModelForCausalLM.from_pretrained(tiny_lfm2)
    torch.manual_seed(0)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))  # B random, not zero: the fold changes W
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": base_repo}))
    api = HfApi()
    api.create_repo(adapter_repo, exist_ok=True)
    adapter_pin = api.upload_folder(repo_id=adapter_repo, folder_path=adapter).oid

    out = merge_models(base_repo, adapter_repo, tmp_path / "merged")
    base, merged, lora_w = _weights(tiny_lfm2), _weights(out), load_file(adapter / "adapter_model.safetensors")
    touched = set()
    for name, tensor in merged.items():
        expected = base[name]
        a_key = "base_model.model." + name.replace(".weight", ".lora_A.weight")
        if a_key in lora_w:
            delta = lora_w[a_key.replace("lora_A", "lora_B")] @ lora_w[a_key] * (8 / 4)
            expected = slerp(0.5, base[name], base[name] + delta)[0]
            touched.add(name)
            assert not torch.allclose(tensor, base[name]), name  # the adapter moved it
        assert (tensor.double() - expected.double()).abs().max().item() < 1e-5, name
    assert touched and touched == {n for n in base if n.endswith(("q_proj.weight", "v_proj.weight"))}

    meta = ModelCard.load(out / "README.md").data.to_dict()
    assert meta["base_model"] == [base_repo, adapter_repo] and meta["base_model_relation"] == "merge"
    prov = read_provenance(out)
    assert prov.inputs["tuned"]["pin"] == adapter_pin and prov.inputs["tuned_adapter_base"]["pin"] == base_pin
    assert "a PEFT adapter, folded into" in (out / "README.md").read_text()
    mk = MergeConfiguration.model_validate(yaml.safe_load((out / MERGEKIT_CONFIG_FILE).read_text()))
    folded = mk.models[1].model  # mergekit's own `base+adapter` syntax, both pinned: it reruns the fold itself
    assert (folded.model.path, folded.model.revision) == (base_repo, base_pin)
    assert (folded.lora.path, folded.lora.revision) == (adapter_repo, adapter_pin)
    assert not list(out.parent.glob(".merged-*-fold-*"))  # the temporary full model is gone
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert reloaded.generate(torch.tensor([[1, 5, 6]]), max_new_tokens=4, min_new_tokens=4,
                             do_sample=False).shape[1] == 7


def test_merging_a_model_with_itself_is_one_line(tiny_lfm2, tmp_path, capsys):
    """mergekit itself stops with a ValueError traceback ("Duplicate merge inputs")."""
    assert main(["merge", str(tiny_lfm2), str(tiny_lfm2), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "are the same model" in err and "TUNED" in err
    assert not (tmp_path / "o").exists()
