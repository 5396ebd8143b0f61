"""train: TRL SFT from a recipe on tiny models; the card field by field; kill a real training process and rerun it
to resume from the checkpoint; recipe parsing and refusals."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from safetensors.torch import load_file

from hala_release.artifacts.build import build_artifact
from hala_release.cli import main
from hala_release.core.errors import HalaError, UsageError
from hala_release.core.provenance import CardFacts, read_provenance
from hala_release.hub.publish import push_artifact
from hala_release.core.refs import resolve
from hala_release.stages.sample_data.run import export_sample, read_sample
from hala_release.stages.train.run import load_recipe, train_model, work_dir_for

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "train"
TINY = RECIPES / "tiny-sft.yaml"


@pytest.fixture(scope="module")
def tulu3(tmp_path_factory):
    """The shipped Tulu 3 sample: a chat dataset with a `messages` column of role/content turns."""
    return export_sample("tulu3", tmp_path_factory.mktemp("data") / "tulu3")


@pytest.fixture(scope="module")
def sharegpt_nc(tmp_path_factory):
    """The same conversations in ShareGPT layout (from/value, as Hala-4.6M-SFT), with a non-commercial licence
    and a test split: exercises the turn conversion, the eval loss and licence carry-forward."""
    from datasets import Dataset

    roles = {"user": "human", "assistant": "gpt", "system": "system"}
    rows = [{"conversations": [{"from": roles[m["role"]], "value": m["content"]} for m in row["messages"]]}
            for row in read_sample("tulu3")]
    card = CardFacts(kind="dataset", title="chat, ShareGPT layout", language=["ar", "en"], license="cc-by-nc-4.0",
                     task_categories=["text-generation"])
    out = tmp_path_factory.mktemp("data") / "sharegpt-nc"
    with build_artifact(out, stage="test-data", config={"rows": len(rows)}, card=card) as draft:
        draft.write_splits({"train": Dataset.from_list(rows[:24]), "test": Dataset.from_list(rows[24:])})
    return out


@pytest.fixture
def as_tester(hub, hub_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_token)
    return hub_token


def test_five_step_sft_from_hub_refs_card_field_by_field(tiny_lfm2, sharegpt_nc, as_tester, tmp_path):
    push_artifact(tiny_lfm2, "hala-test/t-tiny-lfm2", "model")
    push_artifact(sharegpt_nc, "hala-test/t-chat-nc", "dataset")
    out = tmp_path / "sft"
    outcome = train_model(TINY, ["--model_name_or_path=hala-test/t-tiny-lfm2",
                                 "--dataset_name=hf://datasets/hala-test/t-chat-nc", "--messages_column=conversations",
                                 "--dataset_test_split=test", f"--output_dir={out}"])
    assert outcome.output == out and outcome.global_step == 5 and outcome.resumed_from_step is None

    card = ModelCard.load(out / "README.md")
    assert card.data.to_dict() == {
        "base_model": "hala-test/t-tiny-lfm2", "base_model_relation": "finetune",
        "datasets": ["hala-test/t-chat-nc"], "language": ["ar", "en"], "license": "cc-by-nc-4.0",
        "library_name": "transformers", "pipeline_tag": "text-generation",
        "tags": ["assistant-only-loss", "hala-release", "sft", "trl"]}
    assert "licence" not in card.data.to_dict()  # TRL's stray key: its card is not the one published
    assert "it comes from hf://datasets/hala-test/t-chat-nc" in card.text  # the dataset imposed the NC licence

    prov = read_provenance(out)
    assert prov.timings["total"] >= prov.timings["train"] > 0  # the whole run, not only copying the weights
    stats = prov.stats
    assert stats["global_step"] == 5 and stats["logged_loss_steps"] == 5 and stats["train_rows"] == 24
    assert stats["eval_rows"] == 8 and 0 < stats["final_eval_loss"] < 20
    assert 0 < stats["final_train_loss"] < 20 and stats["resumed_from_step"] is None
    assert prov.inputs["model"]["pin"] == resolve("hala-test/t-tiny-lfm2").pin
    assert prov.inputs["dataset"]["pin"] == resolve("hf://datasets/hala-test/t-chat-nc").pin
    for row in ("| learning_rate | 0.001 |", "| max_steps | 5 |", "| assistant_only_loss | True |",
                "| per_device_train_batch_size | 2 |", f"| final train loss | {stats['final_train_loss']} |",
                f"| final eval loss | {stats['final_eval_loss']} |"):
        assert row in card.text, row

    recipe = yaml.safe_load((out / "train_recipe.yaml").read_text())
    assert recipe == prov.config["recipe"] and recipe["model_name_or_path"] == "hala-test/t-tiny-lfm2"
    assert recipe["max_steps"] == 5 and recipe["messages_column"] == "conversations"
    assert "max_steps: 5" in card.text.split("## Exact configuration")[1]  # the recipe is embedded
    assert not [p.name for p in out.iterdir() if p.suffix in {".bin", ".pt", ".pth"}]
    assert not work_dir_for(out).exists()  # checkpoints are dropped once the artifact is in place

    before, after = load_file(tiny_lfm2 / "model.safetensors"), load_file(out / "model.safetensors")
    assert any(not (before[k] == after[k]).all() for k in before)  # the weights really were trained
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(tiny_lfm2).chat_template
    model = AutoModelForCausalLM.from_pretrained(out)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "مرحبا"}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    assert model.generate(**ids, max_new_tokens=4, min_new_tokens=4, do_sample=False).shape[1] == \
        ids["input_ids"].shape[1] + 4


def _custom_licensed_copy(model: Path, target: Path) -> Path:
    """A never-pushed copy of a model whose card says `other` (like LFM2's `lfm1.0`) and ships the text as LICENSE."""
    import shutil

    from hala_release.artifacts.card import update_card_facts

    shutil.copytree(model, target, ignore=shutil.ignore_patterns(".cache"))
    (target / "LICENSE").write_text("LFM Open License v1.0 (test copy)\n")
    facts = read_provenance(target).card.model_copy(update={"license": "other", "license_name": "lfm1.0",
                                                            "license_link": "LICENSE"})
    update_card_facts(target, facts)
    return target


def test_dataset_pulled_from_the_hub_keeps_datasets_and_licences_combine(tiny_lfm2, sharegpt_nc, as_tester,
                                                                          tmp_path, capsys):
    """A local dataset folder pulled from the Hub still counts as that repo in `datasets`; a custom-licensed model
    trained on non-commercial data keeps both licences in the metadata and ships the model's licence text."""
    import shutil

    repo = "hala-test/t-chat-nc-pulled"
    upload = tmp_path / "upload"
    shutil.copytree(sharegpt_nc, upload, ignore=shutil.ignore_patterns(".cache"))
    pin = push_artifact(upload, repo, "dataset").revision
    assert main(["pull", f"hf://datasets/{repo}", "--output", str(tmp_path / "pulled")]) == 0
    capsys.readouterr()
    model = _custom_licensed_copy(tiny_lfm2, tmp_path / "lfm-licensed")
    out = tmp_path / "sft"
    train_model(TINY, [f"--model_name_or_path={model}", f"--dataset_name={tmp_path / 'pulled'}",
                       "--messages_column=conversations", "--max_steps=2", f"--output_dir={out}"])

    card = ModelCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["datasets"] == [repo] and "base_model" not in meta  # the model folder is purely local
    assert (meta["license"], meta["license_name"], meta["license_link"]) == ("other", "lfm1.0-and-cc-by-nc-4.0",
                                                                             "LICENSE")
    assert "non-commercial" in meta["tags"]
    assert (out / "LICENSE").read_bytes() == (model / "LICENSE").read_bytes()
    assert f"lfm1.0 from {model}; cc-by-nc-4.0 from {tmp_path / 'pulled'}" in card.text
    assert f"pulled as [`{repo}@{pin[:12]}`](https://huggingface.co/datasets/{repo}/tree/{pin})" in card.text


def _complete_steps(work: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in work.glob("checkpoint-*") if (p / "trainer_state.json").exists())


@pytest.mark.slow
def test_kill_mid_training_then_rerun_resumes(tiny_llama, tulu3, tmp_path):
    out = tmp_path / "llama-sft"
    overrides = [f"--model_name_or_path={tiny_llama}", f"--dataset_name={tulu3}", f"--output_dir={out}",
                 "--max_steps=30", "--save_steps=5", "--logging_steps=5"]
    command = [sys.executable, "-m", "hala_release.cli", "train", str(TINY), *overrides]
    work = work_dir_for(out)
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _complete_steps(work) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL  # killed, not finished
    assert not out.exists()  # the artifact only appears when training completes
    steps = _complete_steps(work)
    assert steps and steps[-1] < 30

    with pytest.raises(HalaError, match="different recipe or different inputs"):
        train_model(TINY, [*overrides, "--learning_rate=0.002"])

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"resumed from step {steps[-1]}" in rerun.stdout
    stats = read_provenance(out).stats
    assert stats["resumed_from_step"] == steps[-1] and stats["global_step"] == 30
    assert stats["logged_loss_steps"] == 6  # the log history spans the killed run and the resumed one
    assert f"resumed from step {steps[-1]}" in (out / "README.md").read_text()
    assert not work.exists()


def test_every_shipped_recipe_parses():
    bases = {"hala-translator-lfm2-1.2b.yaml": "LiquidAI/LFM2-1.2B", "hala-350m-lfm2.yaml": "LiquidAI/LFM2-350M",
             "hala-700m-lfm2.yaml": "LiquidAI/LFM2-700M", "hala-1.2b-lfm2.yaml": "LiquidAI/LFM2-1.2B",
             "hala-9b-fanar.yaml": "QCRI/Fanar-1-9B-Instruct"}
    found = {p.name for p in RECIPES.glob("*.yaml")}
    assert set(bases) <= found and {"tiny-sft.yaml", "tiny-translator.yaml"} <= found
    for path in sorted(RECIPES.glob("*.yaml")):
        recipe = load_recipe(path, ["--bf16=false", "--use_cpu=true"])  # this machine has no GPU
        assert recipe.sft.assistant_only_loss, path.name
        if path.name in bases:
            assert recipe.model.model_name_or_path == bases[path.name]
            assert recipe.effective["bf16"] is False and recipe.model.dtype == "bfloat16"


def test_recipe_mistakes_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(UsageError, match="unknown key\\(s\\) learning_rat \\(did you mean learning_rate\\?\\)"):
        load_recipe(TINY, ["--learning_rat=0.1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name_or_path: x/y\ndataset_name: x/z\nuse_cpu: true\nbf16: false\nlearnig_rate: 0.1\n")
    with pytest.raises(UsageError, match="learnig_rate"):
        load_recipe(bad)
    no_output = tmp_path / "no-output.yaml"
    no_output.write_text("model_name_or_path: x/y\ndataset_name: x/z\nuse_cpu: true\nbf16: false\n")
    with pytest.raises(UsageError, match="sets no output_dir"):
        load_recipe(no_output)
    with pytest.raises(UsageError, match="pass --push-to-hub REPO_ID"):
        load_recipe(TINY, ["--push_to_hub=true"])
    assert main(["train", str(TINY), "--max_steps=abc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid int value: 'abc'" in err


def test_dataset_without_chat_column_is_refused(tiny_lfm2, openorca_artifact, tmp_path, capsys):
    code = main(["train", str(TINY), f"--model_name_or_path={tiny_lfm2}", f"--dataset_name={openorca_artifact}",
                 f"--output_dir={tmp_path / 'x'}"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # datasets' progress bars aside
    assert code == 1 and len(errors) == 1 and "Traceback" not in err
    assert "column 'messages' not in dataset" in errors[0]
    assert "found id, system_prompt, question, response" in errors[0]
    assert not (tmp_path / "x").exists()


def test_existing_output_is_refused_before_training(tiny_lfm2, tulu3, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    with pytest.raises(HalaError, match="already exists"):
        train_model(TINY, [f"--model_name_or_path={tiny_lfm2}", f"--dataset_name={tulu3}", f"--output_dir={out}"])
    assert not work_dir_for(out).exists()


def test_training_works_after_autograd_was_switched_off(tiny_lfm2, tulu3, tmp_path):
    """lighteval (the eval stage) turns autograd off process-wide; a later training in the same process must work."""
    import torch

    torch.set_grad_enabled(False)
    try:
        out = tmp_path / "after-eval"
        outcome = train_model(TINY, [f"--model_name_or_path={tiny_lfm2}", f"--dataset_name={tulu3}",
                                     f"--output_dir={out}"])
        assert outcome.output == out.resolve() and outcome.global_step == 5 and (out / "model.safetensors").exists()
        assert not torch.is_grad_enabled()  # the caller's mode is left as it was
    finally:
        torch.set_grad_enabled(True)
