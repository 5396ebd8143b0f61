"""Tiny-model kit: real transformers models with a bilingual tokenizer, built offline and reproducibly."""

import hashlib
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hala_release.core.errors import UsageError
from hala_release.core.provenance import read_provenance
from hala_release.stages.tiny_model.run import build_tiny_model


@pytest.mark.parametrize("fixture, arch_class", [("tiny_lfm2", "Lfm2ForCausalLM"), ("tiny_llama", "LlamaForCausalLM")])
def test_tiny_model_loads_generates_and_chats(request, fixture, arch_class):
    folder = request.getfixturevalue(fixture)
    names = {p.name for p in folder.iterdir()}
    assert "model.safetensors" in names and not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == [arch_class]
    assert config["hidden_size"] // config["num_attention_heads"] >= 32  # vLLM CPU attention needs this

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.num_parameters() < 2_000_000
    messages = [{"role": "system", "content": "أنت مساعد مفيد."},
                {"role": "user", "content": "Translate: hello"},
                {"role": "assistant", "content": "مرحبا"}]
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    mask = encoded["assistant_masks"]
    assistant_ids = [i for i, m in zip(encoded["input_ids"], mask) if m]
    assert tokenizer.decode(assistant_ids) == "مرحبا<|im_end|>"  # loss can be limited to the assistant turn
    prompt = tokenizer.apply_chat_template(messages[:2], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    assert out.shape[1] == prompt["input_ids"].shape[1] + 6 or out[0, -1].item() == tokenizer.eos_token_id


@pytest.mark.parametrize("text", [
    "مرحبا بالعالم! كيف حالك؟",
    "```python\ndef f(x):\n    return x ** 2\n```",
    "Euler: $e^{i\\pi} + 1 = 0$ and \\[x^2\\] — see https://example.com/a?b=1 ✓",
])
def test_tokenizer_round_trips_any_text(tiny_lfm2, text):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lfm2)
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_tokenizer_learned_arabic(tiny_lfm2):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lfm2)
    word = "العربية"
    # Byte-level would need 14 tokens for these 7 letters; merges learned from the corpus need far fewer.
    assert len(tokenizer(word, add_special_tokens=False)["input_ids"]) <= 4


def test_same_seed_same_weights_different_seed_different(tmp_path):
    def digest(folder):
        return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()

    kwargs = dict(arch="llama", layers=1, vocab_size=512)
    a = build_tiny_model(tmp_path / "a", seed=1, **kwargs)
    b = build_tiny_model(tmp_path / "b", seed=1, **kwargs)
    c = build_tiny_model(tmp_path / "c", seed=2, **kwargs)
    assert digest(a) == digest(b) != digest(c)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    prov = read_provenance(a)
    assert prov.stage == "tiny-model" and prov.config["seed"] == 1 and prov.stats["parameters"] > 0


def test_head_size_below_32_is_refused(tmp_path):
    with pytest.raises(UsageError, match="head size"):
        build_tiny_model(tmp_path / "x", hidden_size=64, heads=4)
    with pytest.raises(UsageError, match="unknown architecture"):
        build_tiny_model(tmp_path / "y", arch="gpt5")
    assert not (tmp_path / "x").exists()
