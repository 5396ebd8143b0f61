"""quantize: FP8 with llm-compressor on tiny LFM2 and Llama models, both paths; reload and generate on CPU; the
verification figures in the card checked against an independent comparison; refusals."""

import json

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors import safe_open
from safetensors.torch import load_file

from hala_release.cli import main
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.provenance import read_provenance
from hala_release.hub.publish import push_artifact
from hala_release.stages.quantize.run import VERIFY_PROMPTS, check_scheme, compare_logits, quantize_model
from hala_release.core.refs import resolve


@pytest.fixture(scope="module")
def lfm2_fp8(tiny_lfm2, tmp_path_factory):
    """The tiny LFM2 quantized on the default path (oneshot), with verification, from a copy that was never pushed
    (a pushed folder would count as its Hub repo)."""
    import shutil

    local = tmp_path_factory.mktemp("local") / "tiny-lfm2"
    shutil.copytree(tiny_lfm2, local, ignore=shutil.ignore_patterns(".cache"))
    return quantize_model(str(local), tmp_path_factory.mktemp("quantized") / "tiny-lfm2-fp8")


def _dtypes(folder):
    found = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            found.update({name: handle.get_slice(name).get_dtype() for name in handle.keys()})
    return found


def _tensors(folder):
    found = {}
    for file in sorted(folder.glob("*.safetensors")):
        found.update(load_file(file))
    return found


def _reload_and_generate(folder, tokens=8):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "ما هي عاصمة المغرب؟"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    return out.shape[1] - inputs["input_ids"].shape[1]


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


def test_oneshot_fp8_checkpoint_reloads_and_generates(lfm2_fp8):
    quant = json.loads((lfm2_fp8 / "config.json").read_text())["quantization_config"]
    assert quant["quant_method"] == "compressed-tensors" and quant["format"] == "float-quantized"
    assert quant["ignore"] == ["lm_head"]
    group = next(iter(quant["config_groups"].values()))
    assert group["weights"]["type"] == "float" and group["weights"]["num_bits"] == 8
    assert group["input_activations"]["dynamic"] is True  # FP8_DYNAMIC: activation scales computed per token
    dtypes = _dtypes(lfm2_fp8)
    assert dtypes["model.layers.0.feed_forward.w1.weight"] == "F8_E4M3"
    assert dtypes["model.layers.1.self_attn.q_proj.weight"] == "F8_E4M3"
    assert "model.layers.0.feed_forward.w1.weight_scale" in dtypes
    # Not Linear: embeddings (tied to the output head) and the short convolutions stay in full precision.
    assert dtypes["model.embed_tokens.weight"] == "F32" and dtypes["model.layers.0.conv.conv.weight"] == "F32"
    assert not [p for p in lfm2_fp8.iterdir() if p.suffix in {".bin", ".pt", ".pth"}]
    assert _reload_and_generate(lfm2_fp8) == 8


def test_card_field_by_field(lfm2_fp8):
    card = ModelCard.load(lfm2_fp8 / "README.md")
    assert card.data.to_dict() == {
        "language": ["ar", "en"], "license": "apache-2.0", "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["compressed-tensors", "fp8", "fp8-dynamic", "hala-release", "llmcompressor", "quantized"]}
    # A local input has no Hub id: no base_model is invented; the Inputs table names the folder and its pin.
    prov = read_provenance(lfm2_fp8)
    assert prov.stage == "quantize" and prov.inputs["model"]["source"] == "local"
    assert f"`{prov.inputs['model']['pin']}`" in card.text
    stats = prov.stats
    assert stats["path"] == "oneshot" and stats["scheme"] == "FP8_DYNAMIC"
    assert stats["size_after_bytes"] < 0.6 * stats["size_before_bytes"]
    assert 0.5 < stats["quantized_parameter_fraction"] < 1
    assert "## Quantization" in card.text and "| scheme | `FP8_DYNAMIC` |" in card.text
    assert "```bash\nvllm serve path/to/this/folder\n```" in card.text  # not pushed yet: no repo id to name
    assert "| ignored on request | `lm_head` |" in card.text
    assert "left unquantized" in card.text and "`model.embed_tokens`" in card.text
    assert "`model.layers.*.conv.conv`" in card.text.split("left unquantized")[1].splitlines()[0]
    # The verification figures in the card are the ones in the provenance.
    assert "## Verification" in card.text
    assert f"| max abs logit difference | {stats['logits_max_abs_diff']:.4g} |" in card.text
    assert f"| top-1 agreement | {stats['top1_agreement']:.2%} |" in card.text
    assert stats["verify_prompts"] == len(VERIFY_PROMPTS) and stats["verify_positions"] > len(VERIFY_PROMPTS)
    assert 0 < stats["logits_max_abs_diff"] < 1.0 and 0.5 <= stats["top1_agreement"] <= 1.0


def test_verification_figures_match_an_independent_comparison(lfm2_fp8, tiny_lfm2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lfm2)
    original = AutoModelForCausalLM.from_pretrained(tiny_lfm2)
    quantized = AutoModelForCausalLM.from_pretrained(lfm2_fp8)
    max_diff, agree, positions = 0.0, 0, 0
    with torch.no_grad():
        for prompt in VERIFY_PROMPTS:
            ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True)
            a, b = original(**ids).logits[0], quantized(**ids).logits[0]
            max_diff = max(max_diff, (a - b).abs().max().item())
            agree += (a.argmax(-1) == b.argmax(-1)).sum().item()
            positions += a.shape[0]
    stats = read_provenance(lfm2_fp8).stats
    assert stats["verify_positions"] == positions
    assert stats["logits_max_abs_diff"] == pytest.approx(max_diff, abs=1e-5)
    assert stats["top1_agreement"] == pytest.approx(agree / positions, abs=1e-4)


def test_model_free_from_hub_ref_matches_oneshot(tiny_lfm2, lfm2_fp8, as_tester, tmp_path):
    repo = "hala-test/q-tiny-lfm2"
    push_artifact(tiny_lfm2, repo, "model")
    out = quantize_model(repo, tmp_path / "mf", model_free=True)
    one, free = _tensors(lfm2_fp8), _tensors(out)
    assert set(one) == set(free)  # same tensors quantized, same left alone (embeddings and convs auto-ignored)
    for name, tensor in one.items():
        assert free[name].dtype == tensor.dtype, name
        assert torch.equal(free[name].view(torch.uint8) if tensor.dtype == torch.float8_e4m3fn else free[name],
                           tensor.view(torch.uint8) if tensor.dtype == torch.float8_e4m3fn else tensor), name
    meta = ModelCard.load(out / "README.md").data.to_dict()
    assert meta["base_model"] == repo and meta["base_model_relation"] == "quantized"
    prov = read_provenance(out)
    assert prov.inputs["model"]["pin"] == resolve(repo).pin and prov.stats["path"] == "model_free_ptq"
    text = (out / "README.md").read_text()
    assert "# q-tiny-lfm2-FP8-DYNAMIC" in text  # our card, not the input's copied by model_free_ptq
    assert "| ignored as non-Linear |" in text and "conv\\.conv" in text
    assert _reload_and_generate(out) == 8


def test_llama_both_paths_keep_lm_head_and_generate(tiny_llama, as_tester, tmp_path, capsys, monkeypatch):
    import llmcompressor

    oneshot = quantize_model(str(tiny_llama), tmp_path / "oneshot", verify=False)
    repo = "hala-test/q-tiny-llama-fp8"
    seen = []
    real = llmcompressor.model_free_ptq
    monkeypatch.setattr(llmcompressor, "model_free_ptq", lambda *a, **kw: seen.append(kw) or real(*a, **kw))
    assert main(["quantize", str(tiny_llama), "--output", str(tmp_path / "free"), "--model-free",
                 "--max-workers", "2", "--push-to-hub", repo, "--tag", "v1"]) == 0
    assert [kw["max_workers"] for kw in seen] == [2]  # passed through to llm-compressor as it is
    assert read_provenance(tmp_path / "free").config["max_workers"] == 2
    out = capsys.readouterr().out
    stats = read_provenance(tmp_path / "free").stats
    summary = next(line for line in out.splitlines() if line.startswith("quantized to "))
    assert summary.startswith("quantized to FP8_DYNAMIC in ") and f" s; model written to {tmp_path / 'free'} (" in summary
    assert f"top-1 agreement {stats['top1_agreement']:.1%}" in summary
    pushed = resolve(f"{repo}@v1")  # the artifact went up as one tagged commit, card rendered for the repo id
    assert f"pinned revision: {repo}@{pushed.pin}" in out
    card = (pushed.path / "README.md").read_text()
    assert f'from_pretrained("{repo}")' in card
    use_it = card.split("## Use it")[1].split("\n## ")[0]  # vLLM's command right after the transformers snippet
    assert f"```bash\nvllm serve {repo}\n```" in use_it and "AutoModelForCausalLM" in use_it
    assert _dtypes(pushed.path) == _dtypes(tmp_path / "free")
    for folder in (oneshot, tmp_path / "free"):
        dtypes = _dtypes(folder)
        assert dtypes["lm_head.weight"] == "F32"  # untied head, ignored on request
        assert dtypes["model.layers.0.mlp.down_proj.weight"] == "F8_E4M3"
        assert _reload_and_generate(folder) == 8
    assert "verify_prompts" not in read_provenance(oneshot).stats  # --no-verify skips the comparison
    assert "## Verification" not in (oneshot / "README.md").read_text()


def test_max_workers_needs_model_free(tiny_llama, tmp_path, capsys):
    assert main(["quantize", str(tiny_llama), "--output", str(tmp_path / "q"), "--max-workers", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--max-workers" in err and "add --model-free" in err
    assert not (tmp_path / "q").exists()


def test_refuses_already_quantized(lfm2_fp8, tmp_path, capsys):
    with pytest.raises(HalaError, match="already quantized \\(compressed-tensors, float-quantized\\)"):
        quantize_model(str(lfm2_fp8), tmp_path / "again")
    assert not (tmp_path / "again").exists()
    assert main(["quantize", str(lfm2_fp8), "--output", str(tmp_path / "again")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "quantize the original" in err and len(err.splitlines()) == 1


def test_scheme_checks():
    assert check_scheme("fp8_dynamic") == "FP8_DYNAMIC"
    with pytest.raises(UsageError, match="static activation scales"):
        check_scheme("FP8")
    with pytest.raises(UsageError, match="unknown quantization scheme"):
        check_scheme("FP7")


def test_compare_logits_figures():
    ref = [torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])]
    cand = [torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.0, 2.5]])]
    result = compare_logits(ref, cand)
    assert result.positions == 2 and result.top1_agreement == 0.5
    assert result.max_abs_diff == pytest.approx(2.5) and result.mean_abs_diff == pytest.approx(5.0 / 6)
