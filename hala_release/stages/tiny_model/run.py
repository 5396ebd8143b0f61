"""Tiny-model kit: a random causal LM with a real bilingual tokenizer, built on the spot, no download.

Small enough to train, merge and quantize in seconds on a CPU, yet shaped like the real thing: a byte-level
BPE tokenizer trained on Arabic and English text, a chat template with `{% generation %}` markers (so TRL can
mask the loss to assistant turns), and an attention head size vLLM's CPU kernels accept (32).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hala_release.artifacts.build import build_artifact
from hala_release.core.errors import UsageError
from hala_release.core.provenance import CardFacts
from hala_release.stages.tiny_model.config import ARCHES, TinyModelConfig

SPECIAL_TOKENS = ["<|pad|>", "<|startoftext|>", "<|im_end|>", "<|im_start|>"]
# ChatML, as LFM2 uses; assistant turns are wrapped in generation markers for assistant-only loss.
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{% generation %}{{- message['content'] + '<|im_end|>' -}}{% endgeneration %}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
# Always part of the tokenizer corpus, so the kit works even without the shipped samples.
SEED_TEXT = """\
Translate the following text from English to Arabic.
ترجم النص التالي من الإنجليزية إلى العربية.
The quick brown fox jumps over the lazy dog. Machine learning models learn patterns from data.
الذكاء الاصطناعي يساعد الناس في التعليم والصحة والعمل. اللغة العربية من أكثر اللغات انتشاراً في العالم.
def add(a, b):\n    return a + b\n
The equation $E = mc^2$ relates energy and mass. See https://example.com for details.
- first item\n- second item\n1. step one\n2. step two\n| a | b |\n|---|---|\n| 1 | 2 |
"""


def training_corpus() -> list[str]:
    """Text to train the tokenizer on: the seed text plus every string in the shipped samples."""
    from importlib import resources

    texts = [SEED_TEXT]
    folder = resources.files("hala_release.resources.samples")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            for line in entry.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    texts.extend(_strings(json.loads(line)))
    return texts


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def train_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer (any text round-trips, Arabic and code included) wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(training_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<|pad|>", bos_token="<|startoftext|>", eos_token="<|im_end|>",
        chat_template=CHAT_TEMPLATE, model_max_length=4096, padding_side="left",
    )


def model_config(arch: str, vocab_size: int, hidden_size: int, layers: int, heads: int):
    """A transformers config for a tiny model of the given architecture."""
    from transformers import LlamaConfig, Lfm2Config

    if hidden_size % heads or hidden_size // heads < 32:
        raise UsageError(f"hidden size {hidden_size} with {heads} heads gives a head size under 32 or not whole; "
                         f"vLLM on CPU needs head size 32, 64, ...: try --hidden-size {32 * heads}")
    common = dict(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                  num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                  max_position_embeddings=4096, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if arch == "lfm2":
        # LFM2 mixes short-convolution and attention layers; keep both kinds present.
        attention = [i for i in range(layers) if i % 2 == 1] or [0]
        # conv_dim/block_dim are in the released LFM2 configs and vLLM reads them; transformers ignores them.
        return Lfm2Config(**common, full_attn_idxs=attention, block_auto_adjust_ff_dim=False,
                          tie_word_embeddings=True, conv_dim=hidden_size, block_dim=hidden_size)
    if arch == "llama":
        return LlamaConfig(**common, tie_word_embeddings=False)
    raise UsageError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHES)}")


def build_tiny_model(output: Path | str, **options: Any) -> Path:
    """Keyword form of run_tiny_model (options: TinyModelConfig's fields)."""
    return run_tiny_model(TinyModelConfig(output=output, **options))


def run_tiny_model(config: TinyModelConfig) -> Path:
    """Write a tiny random model artifact (safetensors, config, tokenizer, chat template, card)."""
    return _build(**config.model_dump())


def _build(output: Path, *, arch: str, seed: int, vocab_size: int, hidden_size: int, layers: int, heads: int,
           overwrite: bool) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    if arch not in ARCHES:
        raise UsageError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHES)}")
    config = {"arch": arch, "seed": seed, "vocab_size": vocab_size, "hidden_size": hidden_size,
              "layers": layers, "heads": heads}
    card = CardFacts(
        kind="model",
        title=f"tiny-{arch} (random weights)",
        summary=(f"A {layers}-layer {arch} causal LM with random weights and a byte-level BPE tokenizer trained on "
                 f"Arabic and English text, built offline by `hala-release tiny-model` for tests and demos. "
                 f"It produces gibberish: use it to exercise pipelines, not to chat."),
        language=["ar", "en"], license="apache-2.0", tags=["tiny", "random-weights", arch],
        library_name="transformers", pipeline_tag="text-generation",
    )
    with build_artifact(output, stage="tiny-model", config=config, card=card, overwrite=overwrite) as draft:
        with draft.timed("tokenizer"):
            tokenizer = train_tokenizer(vocab_size)
        with draft.timed("model"):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(model_config(arch, len(tokenizer), hidden_size, layers, heads))
            model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0)
            model.save_pretrained(draft.path, safe_serialization=True)
            tokenizer.save_pretrained(draft.path)
        draft.stats.update(parameters=sum(p.numel() for p in model.parameters()), vocab_size=len(tokenizer),
                           architecture=type(model).__name__)
    return Path(output).expanduser().resolve()
