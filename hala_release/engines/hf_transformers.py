"""transformers backend: batched `generate` with the model's chat template, on CPU or GPU."""

from __future__ import annotations

from pathlib import Path

from hala_release.engines.base import Generation, Request, Sampling


class TransformersEngine:
    name = "transformers"
    identity = False

    def __init__(self, model: Path, *, trust_remote_code: bool = False, dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"  # decoder-only batches must be left-padded to generate
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(
            model, dtype=dtype, trust_remote_code=trust_remote_code, use_safetensors=True).to(device).eval()
        self.device = device

    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generation]:
        import torch

        prompts = [self.tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
                   for r in requests]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        sample = sampling.temperature > 0
        with torch.inference_mode():
            output = self.model.generate(
                **batch, max_new_tokens=sampling.max_tokens, do_sample=sample, pad_token_id=self.tokenizer.pad_token_id,
                **({"temperature": sampling.temperature, "top_p": sampling.top_p} if sample else {}))
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        results = []
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        for row in new_tokens.tolist():
            length = next((i for i, token in enumerate(row) if token in eos_ids), None)
            finished = length is not None
            kept = row[:length] if finished else row
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            results.append(Generation(text, len(kept), finished))
        return results

    def next_token_probs(self, requests: list[Request], token_ids: list[int]) -> list[list[float]]:
        """One forward pass per batch; the last position's logits, restricted to `token_ids`, softmaxed."""
        import torch

        prompts = [self.tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
                   for r in requests]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        with torch.inference_mode():
            # Left padding: the last position is the next token; compute logits for it alone.
            logits = self.model(**batch, logits_to_keep=1).logits[:, -1, :]
        chosen = logits[:, token_ids].float()
        return torch.softmax(chosen, dim=-1).tolist()

    def close(self) -> None:
        del self.model
