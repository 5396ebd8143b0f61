"""Training recipes as TRL's: the tiny recipe runs under both `hala-release train` and `trl sft --config`; TRL's
ModelConfig/ScriptArguments/DatasetMixtureConfig keys are honoured; LoRA gives a PEFT adapter that loads and
publishes (to a Hub branch) with the adapter relation; packing trains; QLoRA on a CPU machine is one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from safetensors.torch import load_file

from hala_release.cli import main
from hala_release.core.errors import UsageError
from hala_release.core.provenance import read_provenance
from hala_release.hub.publish import push_artifact
from hala_release.stages.sample_data.run import export_sample
from hala_release.stages.train.run import load_recipe, train_model

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes" / "train"
TINY = RECIPES / "tiny-sft.yaml"
TRL = Path(sys.executable).parent / "trl"


@pytest.fixture(scope="module")
def tulu3(tmp_path_factory):
    return export_sample("tulu3", tmp_path_factory.mktemp("data") / "tulu3")


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


def _offline_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_tiny_recipe_runs_under_trl_sft_and_hala_release(tiny_lfm2, tulu3, tmp_path):
    """The shipped tiny recipe is a `trl sft` recipe: TRL's own CLI trains from it, and so does ours, which also
    shows the steps as it goes and ends with one summary line naming the artifact."""
    inputs = [f"--model_name_or_path={tiny_lfm2}", f"--dataset_name={tulu3}", "--max_steps=2"]
    trl_out = tmp_path / "by-trl"
    ran = subprocess.run([str(TRL), "sft", "--config", str(TINY), *inputs, f"--output_dir={trl_out}"],
                         capture_output=True, text=True, timeout=600, env=_offline_env(), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (trl_out / "model.safetensors").is_file() and (trl_out / "config.json").is_file()

    ours = tmp_path / "by-hala"
    ran = subprocess.run([sys.executable, "-m", "hala_release.cli", "train", str(TINY), *inputs,
                          f"--output_dir={ours}"], capture_output=True, text=True, timeout=600, env=_offline_env(),
                         cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (ours / "model.safetensors").is_file() and read_provenance(ours).stats["global_step"] == 2
    assert "step 1/2: loss " in ran.stderr and "step 2/2: loss " in ran.stderr  # progress, one line per logged step
    last = ran.stdout.strip().splitlines()[-1]
    loss = read_provenance(ours).stats["final_train_loss"]
    assert last.startswith("trained to step 2 in ") and f"final train loss {loss}; model written to {ours}" in last


def test_trl_model_and_dataset_keys_are_accepted(tmp_path):
    """Keys of TRL's ModelConfig / ScriptArguments / DatasetMixtureConfig that our own argument class refused."""
    recipe = tmp_path / "trl.yaml"
    recipe.write_text(yaml.safe_dump({
        "model_name_or_path": "org/base", "model_revision": "v2", "dtype": "bfloat16", "attn_implementation": "sdpa",
        "dataset_name": "org/data", "dataset_config": "ar", "use_peft": True, "lora_r": 8, "lora_alpha": 16,
        "lora_target_modules": ["q_proj", "v_proj"], "packing": True, "dataset_num_proc": 4,
        "hub_model_revision": "sft-v1", "output_dir": str(tmp_path / "out"), "use_cpu": True, "bf16": False}))
    spec = load_recipe(recipe)
    assert spec.model_ref == "org/base@v2" and spec.model.dtype == "bfloat16"
    assert spec.model.attn_implementation == "sdpa" and spec.script.dataset_config == "ar"
    assert spec.model.use_peft and spec.model.lora_r == 8 and spec.model.lora_target_modules == ["q_proj", "v_proj"]
    assert spec.sft.packing and spec.sft.dataset_num_proc == 4 and spec.args.hub_model_revision == "sft-v1"

    mixture = tmp_path / "mix.yaml"
    mixture.write_text(yaml.safe_dump({"model_name_or_path": "org/base", "output_dir": "x", "use_cpu": True,
                                       "bf16": False, "datasets": [{"path": "org/a", "columns": ["messages"]},
                                                                   {"path": "org/b", "split": "dev"}]}))
    spec = load_recipe(mixture)
    assert [(d.path, d.split) for d in spec.mixture.datasets] == [("org/a", "train"), ("org/b", "dev")]

    with pytest.raises(UsageError, match="is a local folder: drop model_revision"):
        load_recipe(recipe, ["--model_name_or_path=./base", "--model_revision=v2"]).model_ref
    with pytest.raises(UsageError, match="set use_peft: true"):
        load_recipe(recipe, ["--use_peft=false", "--load_in_4bit=true"])
    with pytest.raises(UsageError, match="streaming is not supported"):
        load_recipe(recipe, ["--dataset_streaming=true"])


def test_lora_adapter_loads_with_peft_and_publishes_to_a_branch(tiny_lfm2, tulu3, as_tester, tmp_path, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base_pin = push_artifact(tiny_lfm2, "hala-test/t-lora-base", "model").revision
    out = tmp_path / "adapter"
    code = main(["train", str(TINY), "--model_name_or_path=hala-test/t-lora-base", f"--dataset_name={tulu3}",
                 "--use_peft=true", "--lora_r=4", "--lora_alpha=8", "--lora_target_modules=all-linear",
                 "--learning_rate=0.01", "--max_steps=3", f"--output_dir={out}", "--hub_model_revision=lora-v1",
                 "--push-to-hub", "hala-test/t-lora"])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"LoRA adapter written to {out}" in printed
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert not (out / "model.safetensors").exists()
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["base_model_name_or_path"], config["revision"]) == ("hala-test/t-lora-base", base_pin)
    weights = load_file(out / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())  # trained (B starts at zero)

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lfm2), out)
    assert model.peft_config["default"].r == 4

    meta = ModelCard.load(out / "README.md").data.to_dict()
    assert (meta["base_model"], meta["base_model_relation"], meta["library_name"]) == \
        ("hala-test/t-lora-base", "adapter", "peft")
    assert "| lora_r | 4 |" in (out / "README.md").read_text()

    branches = {ref.name: ref.target_commit for ref in HfApi().list_repo_refs("hala-test/t-lora").branches}
    assert "lora-v1" in branches and f"pinned revision: hala-test/t-lora@{branches['lora-v1']}" in printed
    pushed = ModelCard.load(hf_hub_download("hala-test/t-lora", "README.md", revision="lora-v1"))
    assert pushed.data.base_model_relation == "adapter" and pushed.data.library_name == "peft"
    files_on_main = HfApi().list_repo_files("hala-test/t-lora", revision="main")
    assert "adapter_model.safetensors" not in files_on_main  # published to the branch, not to main


def test_packed_run_with_dataset_workers_trains(tiny_lfm2, tulu3, tmp_path):
    out = tmp_path / "packed"
    outcome = train_model(TINY, [f"--model_name_or_path={tiny_lfm2}", f"--dataset_name={tulu3}", "--packing=true",
                                 "--dataset_num_proc=2", "--max_steps=2", f"--output_dir={out}"])
    assert outcome.global_step == 2 and outcome.final_loss is not None and outcome.final_loss > 0
    assert "| packing | True |" in (out / "README.md").read_text()
    assert read_provenance(out).config["recipe"]["dataset_num_proc"] == 2


def test_dataset_mixture_trains_and_pins_each_input(tiny_lfm2, tulu3, tmp_path):
    recipe = tmp_path / "mix.yaml"
    raw = yaml.safe_load(TINY.read_text())
    raw.pop("dataset_name")
    raw.update(model_name_or_path=str(tiny_lfm2), output_dir=str(tmp_path / "mixed"), max_steps=1,
               datasets=[{"path": str(tulu3), "columns": ["messages"], "fraction": 0.5},
                         {"path": str(tulu3), "columns": ["messages"], "fraction": 0.5}])
    recipe.write_text(yaml.safe_dump(raw))
    outcome = train_model(recipe)
    prov = read_provenance(outcome.output)
    assert outcome.global_step == 1 and {"model", "dataset-1", "dataset-2"} <= set(prov.inputs)
    assert prov.inputs["dataset-1"]["pin"].startswith("sha256:")


def test_qlora_on_a_machine_without_gpu_is_one_line(tiny_lfm2, tulu3, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["train", str(TINY), f"--model_name_or_path={tiny_lfm2}", f"--dataset_name={tulu3}",
                 "--use_peft=true", "--load_in_4bit=true", f"--output_dir={tmp_path / 'q'}"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(err) == 1
    assert "load_in_4bit (QLoRA) needs" in err[0] and "load_in_4bit: false" in err[0]
    assert not (tmp_path / "q").exists()


def test_fanar_recipe_pins_a_template_with_generation_markers(tiny_lfm2):
    """Fanar's template has no {% generation %} markers and TRL has no training copy of it: the recipe pins one
    whose assistant mask covers exactly the reply and its end-of-turn."""
    from transformers import AutoTokenizer
    from trl.chat_template_utils import has_generation_markers

    spec = load_recipe(RECIPES / "hala-9b-fanar.yaml", ["--bf16=false", "--use_cpu=true"])
    assert spec.sft.assistant_only_loss and spec.sft.chat_template_path == "recipes/train/fanar-training.jinja"
    template = (ROOT / spec.sft.chat_template_path).read_text()
    assert has_generation_markers(template)
    tokenizer = AutoTokenizer.from_pretrained(tiny_lfm2)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template)
    assert text.endswith("<start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n"
                         "<start_of_turn>model\nhello<end_of_turn>\n")
    encoded = tokenizer.apply_chat_template(messages, chat_template=template, return_dict=True,
                                            return_assistant_tokens_mask=True)
    masked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert tokenizer.decode(masked) == "hello<end_of_turn>\n"
