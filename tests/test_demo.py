"""The demo Space: served in-process on tiny models and driven with gradio_client; staged and pushed as a Space."""

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from hala_release.cli import main
from hala_release.stages.demo.run import SPACE_DIR, launch_demo, load_app, stage_space
from hala_release.core.errors import UsageError
from hala_release.hub.publish import check_space_folder

CODE_BLOCK = "```python\ndef add(a, b):\n    return a + b\n```"
DOCUMENT = (f"# Install\n\nRun `pip install hala-release` and read https://example.com/docs now.\n\n{CODE_BLOCK}\n\n"
            "- first item with **bold** words\n- second item\n\n| name | value |\n|---|---|\n| speed | fast |\n")
SPACE_FILES = {"README.md", "app.py", "requirements.txt", "hala_segment.py", "hala_markup.py", "hala_prompt.py",
               "translator_prompt.json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(url):
    from gradio_client import Client

    return Client(url, verbose=False)


@pytest.fixture(scope="module")
def running(tiny_llama, tiny_lfm2):
    """The staged Space served on a free port: tiny Llama chats, tiny LFM2 translates."""
    demo = launch_demo(str(tiny_llama), str(tiny_lfm2), port=_free_port(), block=False)
    demo.wait_until_loaded(120)
    yield demo
    demo.close()


def _greedy_reply(model_dir, messages, max_new_tokens):
    """What the model answers greedily, computed here without the app."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens,
                            pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def test_chat_streams_the_greedy_reply_and_keeps_history(running, tiny_llama):
    client = _client(running.url)
    system, first = "أنت مساعد مفيد.", "مرحبا، كيف حالك؟"
    job = client.submit(first, system, 24, 0, 1.0, api_name="/chat")
    updates = list(job)
    reply = job.result()
    assert len(set(updates)) >= 3, updates  # streamed token by token, not sent once at the end
    assert all(b.startswith(a) for a, b in zip(updates, updates[1:]))
    expected = _greedy_reply(tiny_llama, [{"role": "system", "content": system},
                                          {"role": "user", "content": first}], 24)
    assert reply == updates[-1] == expected and reply.strip()

    second = "What is machine learning?"
    follow_up = client.predict(second, system, 16, 0, 1.0, api_name="/chat")
    assert follow_up == _greedy_reply(tiny_llama, [{"role": "system", "content": system},
                                                   {"role": "user", "content": first},
                                                   {"role": "assistant", "content": reply},
                                                   {"role": "user", "content": second}], 16)


def test_translate_keeps_code_and_markup_byte_for_byte(running):
    result, note = _client(running.url).predict(DOCUMENT, "English → Arabic", api_name="/translate")
    assert CODE_BLOCK in result
    assert "`pip install hala-release`" in result and "https://example.com/docs" in result
    source_lines, lines = DOCUMENT.splitlines(), result.splitlines()
    assert len(lines) == len(source_lines)  # no segment added or removed a line
    for source, line in zip(source_lines, lines):
        if source.startswith(("- ", "# ", "| ")):
            assert line[:2] == source[:2]  # list, heading and table markers kept
        if not any(c.isalpha() for c in source) or source in CODE_BLOCK:
            assert line == source  # blank lines, table separator and code kept as they are
    bold = next(i for i, line in enumerate(source_lines) if "**" in line)
    assert lines[bold].count("**") >= 2  # emphasis markers travel as placeholders and come back
    translated = [s for s, line in zip(source_lines, lines) if line != s]
    # the prose went through the model
    assert "Run `pip install hala-release` and read https://example.com/docs now." in translated
    assert "distinct segment(s) translated" in note


def test_translate_of_code_only_text_sends_nothing_to_the_model(running):
    result, note = _client(running.url).predict(CODE_BLOCK, "Arabic → English", api_name="/translate")
    assert result == CODE_BLOCK and "Nothing to translate" in note


def test_over_long_input_gets_a_clear_message(running):
    from gradio_client.exceptions import AppError

    client = _client(running.url)
    with pytest.raises(AppError) as chat_error:
        client.predict("ا" * 4001, "", 16, 0, 1.0, api_name="/chat")
    assert "4,001 characters long; the limit is 4,000" in str(chat_error.value.message)
    with pytest.raises(AppError) as translate_error:
        client.predict("word " * 1300, "English → Arabic", api_name="/translate")
    assert "6,500 characters long; the limit is 6,000" in translate_error.value.message
    assert "Traceback" not in chat_error.value.message + translate_error.value.message


def test_prompt_over_the_token_limit_drops_old_turns_then_refuses(running):
    app_module, slots = running.app, running.demo.hala_app.slots
    tokenizer = slots["chat"].tokenizer
    turns = [{"role": "user", "content": "old question " * 20}, {"role": "assistant", "content": "old answer " * 20},
             {"role": "user", "content": "recent question"}, {"role": "assistant", "content": "recent answer"}]
    prompt = app_module._chat_prompt(tokenizer, [], turns, "new message", 60)
    assert "recent answer" in prompt and "new message" in prompt and "old question" not in prompt
    small = app_module.App(slots, app_module.Limits(max_input_tokens=30))
    with pytest.raises(app_module.gr.Error, match="needs .* tokens .* the limit is 30"):
        list(small.chat("a long message " * 20, [], "", 8, 0, 1.0))


def test_missing_models_give_a_clear_message_in_the_page(running, hub):
    from gradio_client.exceptions import AppError

    demo = running.app.build_demo(str(Path("/nonexistent/hala-model")), "hala-test/no-such-model")
    for slot in demo.hala_app.slots.values():
        assert slot.wait(60)
    running.app.launch(demo, server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                       quiet=True, ssr_mode=False)
    try:
        client = _client(demo.local_url)
        with pytest.raises(AppError) as chat_error:
            client.predict("hello", "", 16, 0, 1.0, api_name="/chat")
        message = chat_error.value.message
        assert message.startswith("Could not load the chat model '/nonexistent/hala-model': the folder") \
            and "HALA_CHAT_MODEL" in message
        with pytest.raises(AppError) as translate_error:
            client.predict("hello", "English → Arabic", api_name="/translate")
        message = translate_error.value.message
        assert "Could not load the translator model 'hala-test/no-such-model'" in message
        assert "HALA_TRANSLATOR_MODEL" in message and "Traceback" not in message
        status = demo.hala_app.status()
        assert status.count("Could not load") == 2
    finally:
        demo.close()


def test_requests_while_a_model_loads_are_told_to_wait(running, tiny_lfm2):
    from gradio_client.exceptions import AppError

    release = threading.Event()

    def slow_loader(ref):
        release.wait(60)
        return running.app.load_model(ref)

    demo = running.app.build_demo(str(tiny_lfm2), str(tiny_lfm2), loader=slow_loader)
    running.app.launch(demo, server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                       quiet=True, ssr_mode=False)
    try:
        client = _client(demo.local_url)
        with pytest.raises(AppError, match="still loading"):
            client.predict("hello", "English → Arabic", api_name="/translate")
        assert "loading…" in demo.hala_app.status()
        release.set()
        assert demo.hala_app.slots["translator"].wait(60)
        assert demo.hala_app.slots["chat"] is demo.hala_app.slots["translator"]  # one model, loaded once
        result, _ = client.predict("Hello there.", "English → Arabic", api_name="/translate")
        assert isinstance(result, str) and result
    finally:
        release.set()
        demo.close()


def test_translate_prompt_is_the_translator_template(running):
    """The app prompts with the staged copy of the package's template, filled by the package's own code."""
    from hala_release.core.prompts import load_template

    shipped = load_template("hala-translator")
    assert running.app.PromptTemplate.__module__ == "hala_prompt"
    for text, source, target in (("Hi {text} there", "en", "ar"), ("مرحبا", "ar", "en")):
        assert running.app.App._prompt(text, source, target) == shipped.messages(text, source, target)
    assert "Translate from English to Arabic: Hi {text} there" in str(shipped.messages("Hi {text} there", "en", "ar"))


# --- ZeroGPU -------------------------------------------------------------------------------------------------

def _fake_spaces(decorated: dict, calls: list):
    """A stand-in for Hugging Face's `spaces` package: GPU(duration=...) records what it wraps and, as ZeroGPU does,
    pickles each call's arguments on their way to the GPU worker it forks."""
    import functools
    import pickle
    import types

    def GPU(task=None, *, duration=None):
        def wrap(function):
            decorated[function.__name__] = duration

            @functools.wraps(function)
            def handler(*args, **kwargs):
                calls.append(function.__name__)
                args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
                yield from function(*args, **kwargs)
            return handler
        return wrap if task is None else wrap(task)

    module = types.ModuleType("spaces")
    module.GPU = GPU
    return module


def test_zero_gpu_wraps_the_functions_that_generate(tmp_path, tiny_lfm2, monkeypatch):
    import torch

    decorated, calls = {}, []
    monkeypatch.setitem(sys.modules, "spaces", _fake_spaces(decorated, calls))
    staged = stage_space(SPACE_DIR, tmp_path / "space", check_models=False)
    module = load_app(staged)
    demo = None
    try:
        assert decorated == {"chat_on_gpu": 90, "translate_on_gpu": 120}
        with monkeypatch.context() as patch:
            patch.setattr(torch.cuda, "is_available", lambda: True)  # what ZeroGPU shows the main process
            assert module.model_device() == "cuda"
        demo = module.build_demo(str(tiny_lfm2), str(tiny_lfm2), limits=module.Limits(max_new_tokens=8))
        assert demo.hala_app.settled()  # loaded in this (the main) thread, where ZeroGPU can move it to cuda
        assert demo.hala_app.slots["chat"].error is None
        module.launch(demo, server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True,
                      ssr_mode=False)
        client = _client(demo.local_url)
        reply = client.predict("مرحبا", "", 8, 0, 1.0, api_name="/chat")
        text, note = client.predict("Hello there.", "English → Arabic", api_name="/translate")
        assert calls == ["chat_on_gpu", "translate_on_gpu"]  # each request went through spaces.GPU
        assert isinstance(reply, str) and "translated" in note
    finally:
        if demo is not None:
            demo.close()
        sys.path.remove(str(staged))


def test_without_spaces_the_app_runs_unwrapped_on_this_machine(running):
    """The real fallback: no `spaces` package here, so nothing is wrapped and the models sit on CPU (or CUDA)."""
    import importlib.util

    import torch

    assert importlib.util.find_spec("spaces") is None and running.app.spaces is None
    assert not hasattr(running.app.chat_on_gpu, "__wrapped__")
    assert not hasattr(running.app.translate_on_gpu, "__wrapped__")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert running.demo.hala_app.status().count(f"ready on {device}") == 2


# --- the Space folder ---------------------------------------------------------------------------------------

def test_staged_space_holds_only_what_it_needs(tmp_path):
    import gradio
    from packaging.requirements import Requirement
    from importlib.metadata import version

    source = tmp_path / "demo"
    shutil.copytree(SPACE_DIR, source)
    for junk in ("__pycache__/app.cpython-311.pyc", "tests/test_app.py", "hala_segment.py", "hala_markup.py", "hala_prompt.py",
                 "translator_prompt.json"):
        (source / junk).parent.mkdir(exist_ok=True)
        (source / junk).write_text("# left behind by a local run or a hand-made copy\n")
    staged = stage_space(source, tmp_path / "space", check_models=False)
    files = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    assert files == SPACE_FILES
    meta = check_space_folder(staged)
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__ and meta["app_file"] == "app.py"
    assert meta["models"] == ["hammh0a/Hala-1.2B", "hammh0a/Hala-1.2B-EN-AR-Translator"]
    assert meta["license"] == "cc-by-nc-4.0" and 0 < len(meta["short_description"]) <= 60
    assert "preload_from_hub" not in meta  # the default models have no known pin: nothing unpinned is preloaded
    vendored = (staged / "hala_segment.py").read_text()
    original = (Path(__file__).parents[1] / "hala_release/core/segment.py").read_text()
    assert "from hala_release.core.markup import" in original  # rewritten to the vendored name in the Space
    assert vendored.startswith("# Copied from hala_release/core/segment.py") and \
        vendored.endswith(original.replace("from hala_release.core.markup import", "from hala_markup import"))
    original = (Path(__file__).parents[1] / "hala_release/core/markup.py").read_text()
    assert (staged / "hala_markup.py").read_text().endswith(original)
    original = (Path(__file__).parents[1] / "hala_release/core/prompt_template.py").read_text()
    assert (staged / "hala_prompt.py").read_text().endswith(original)
    assert json.loads((staged / "translator_prompt.json").read_text())["user"] == \
        yaml.safe_load((Path(__file__).parents[1] / "hala_release/resources/prompts/hala-translator.yaml").read_text())["user"]
    for line in (staged / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert requirement.specifier.contains(version(requirement.name).split("+")[0]), line


def test_space_app_runs_without_hala_release(tmp_path, tiny_lfm2):
    """On the Hub only gradio, transformers, torch and the vendored module exist: block hala_release and run."""
    staged = stage_space(SPACE_DIR, tmp_path / "space", check_models=False)
    text = f"See `x = 1`.\n\n{CODE_BLOCK}"
    script = f"""
import json, sys
sys.modules["hala_release"] = None  # any import of it now fails
sys.path.insert(0, {str(staged)!r})
import app
built = app.build_demo({str(tiny_lfm2)!r}, {str(tiny_lfm2)!r}, limits=app.Limits(max_new_tokens=8))
assert built.hala_app.slots["chat"].wait(60) and built.hala_app.slots["chat"].error is None
*_, (text, note) = built.hala_app.translate({text!r}, "English → Arabic")
assert app.split.__module__ == "hala_segment", app.split.__module__
assert app.PromptTemplate.__module__ == "hala_prompt", app.PromptTemplate.__module__
print(json.dumps(text))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    translated = json.loads(result.stdout.strip().splitlines()[-1])
    assert CODE_BLOCK in translated and "`x = 1`" in translated


def test_staged_models_reach_the_card_and_the_app(tmp_path, monkeypatch):
    staged = stage_space(SPACE_DIR, tmp_path / "space", chat_model="my-org/hala-chat",
                         translator="my-org/translator@v2", check_models=False)
    assert {p.name for p in staged.iterdir()} == SPACE_FILES | {"models.json"}
    meta = check_space_folder(staged)
    assert meta["models"] == ["my-org/hala-chat", "my-org/translator"]
    assert "preload_from_hub" not in meta  # unchecked: no commit and no file list to preload
    assert json.loads((staged / "models.json").read_text()) == {"chat": "my-org/hala-chat",
                                                                "translator": "my-org/translator@v2"}
    monkeypatch.delenv("HALA_CHAT_MODEL", raising=False)
    monkeypatch.setenv("HALA_TRANSLATOR_MODEL", "./local-translator")
    try:
        module = load_app(staged)
        assert module.configured_models() == {"chat": "my-org/hala-chat", "translator": "./local-translator"}
        assert module.split_ref("my-org/translator@v2") == ("my-org/translator", "v2")
    finally:
        sys.path.remove(str(staged))
    with pytest.raises(UsageError, match="local folder, which a Space cannot read"):
        stage_space(SPACE_DIR, tmp_path / "other", chat_model=str(tmp_path), check_models=False)


def test_push_space_with_models_is_one_commit(tiny_llama, hub, hub_token, monkeypatch, capsys):
    from huggingface_hub import HfApi, SpaceCard

    from hala_release.hub.publish import push_artifact

    monkeypatch.setenv("HF_TOKEN", hub_token)
    push_artifact(tiny_llama, "hala-test/tiny-chat", "model")
    argv = ["push-space", str(SPACE_DIR), "--repo-id", "hala-test/hala-demo", "--chat-model", "hala-test/tiny-chat",
            "--translator", "hala-test/tiny-chat", "--tag", "v1"]
    assert main(argv) == 0, capsys.readouterr().err
    commits = hub.commits("space", "hala-test/hala-demo")
    assert len(commits) == 2  # the repo's initial commit + one for the whole Space
    api = HfApi()
    files = set(api.list_repo_files("hala-test/hala-demo", repo_type="space")) - {".gitattributes"}
    assert files == SPACE_FILES | {"models.json"}
    card = SpaceCard.load("hala-test/hala-demo", repo_type="space")
    assert card.data.models == ["hala-test/tiny-chat"] and card.data.sdk_version
    # Preloaded at the commit the model resolved to, and only the files the app loads (no card, no provenance)
    sha = api.model_info("hala-test/tiny-chat").sha
    in_repo = set(api.list_repo_files("hala-test/tiny-chat", revision=sha))
    loaded = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
              "chat_template.jinja", "special_tokens_map.json"} & in_repo
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= loaded and "README.md" in in_repo
    assert card.data.preload_from_hub == [f"hala-test/tiny-chat {','.join(sorted(loaded))} {sha}"]
    models = json.loads(Path(api.hf_hub_download("hala-test/hala-demo", "models.json", repo_type="space")).read_text())
    assert models == {"chat": f"hala-test/tiny-chat@{sha}", "translator": f"hala-test/tiny-chat@{sha}"}
    try:  # the app loads that very commit
        model, _ = load_app(SPACE_DIR).load_model(models["chat"])
    finally:
        sys.path.remove(str(SPACE_DIR))
    assert model.config._commit_hash == sha
    assert main(argv) == 0 and "no new commit" in capsys.readouterr().out  # same content: nothing to do

    assert main(["push-space", str(SPACE_DIR), "--repo-id", "hala-test/hala-demo-2", "--chat-model",
                 "hala-test/no-such-model"]) == 1
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
    assert not api.repo_exists("hala-test/hala-demo-2", repo_type="space")  # refused before anything was written


def test_push_space_without_models_still_vendors_segmentation(hub, hub_token, monkeypatch, capsys):
    """No FOLDER: the Space shipped in the package, as an installed wheel has it."""
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_TOKEN", hub_token)
    assert main(["push-space", "--repo-id", "hala-test/hala-demo-plain"]) == 0, capsys.readouterr().err
    files = set(HfApi().list_repo_files("hala-test/hala-demo-plain", repo_type="space")) - {".gitattributes"}
    assert files == SPACE_FILES


def test_demo_runs_a_hub_model_pinned_to_its_commit(tiny_llama, tiny_lfm2, hub, hub_token, monkeypatch):
    from hala_release.hub.publish import push_artifact

    monkeypatch.setenv("HF_TOKEN", hub_token)
    pushed = push_artifact(tiny_llama, "hala-test/tiny-chat-demo", "model")
    running = launch_demo("hala-test/tiny-chat-demo", str(tiny_lfm2), port=_free_port(), block=False)
    try:
        running.wait_until_loaded(120)
        assert f"`hala-test/tiny-chat-demo@{pushed.revision[:12]}`: ready" in running.demo.hala_app.status()
        reply = _client(running.url).predict("مرحبا", "", 8, 0, 1.0, api_name="/chat")
        assert reply == _greedy_reply(tiny_llama, [{"role": "user", "content": "مرحبا"}], 8)
    finally:
        running.close()


def test_demo_command_refuses_a_missing_model_in_one_line(tmp_path, capsys):
    assert main(["demo", "--chat-model", str(tmp_path / "missing"), "--port", str(_free_port())]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1

