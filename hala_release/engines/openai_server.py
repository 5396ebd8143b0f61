"""Any OpenAI-compatible server (vLLM serve, SGLang, TGI): async requests with bounded concurrency."""

from __future__ import annotations

import asyncio
import os

from hala_release.core.errors import HalaError
from hala_release.engines.base import Generation, Request, Sampling


class OpenAIEngine:
    name = "openai"
    identity = False

    def __init__(self, model: str, *, api_base: str | None = None, concurrency: int = 32):
        base = api_base or os.environ.get("OPENAI_BASE_URL")
        if not base:
            raise HalaError("the openai engine needs the server address: pass --api-base http://HOST:PORT/v1 "
                            "or set OPENAI_BASE_URL")
        self.model, self.api_base, self.concurrency = model, base, concurrency
        # Local servers usually accept any key; a real key comes from the environment, never from arguments.
        self.api_key = os.environ.get("OPENAI_API_KEY", "EMPTY")

    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generation]:
        return asyncio.run(self._generate(requests, sampling))

    async def _generate(self, requests: list[Request], sampling: Sampling) -> list[Generation]:
        import openai

        limit = asyncio.Semaphore(self.concurrency)
        async with openai.AsyncOpenAI(base_url=self.api_base, api_key=self.api_key) as client:

            async def one(request: Request) -> Generation:
                async with limit:
                    try:
                        reply = await client.chat.completions.create(
                            model=self.model, messages=request.messages, max_tokens=sampling.max_tokens,
                            temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed)
                    except openai.APIConnectionError:
                        raise HalaError(f"cannot reach the OpenAI-compatible server at {self.api_base}: start it "
                                        f"or fix --api-base") from None
                    except openai.NotFoundError:
                        raise HalaError(f"the server at {self.api_base} does not serve model {self.model!r}: "
                                        f"pass the served model name as --model") from None
                choice = reply.choices[0]
                tokens = reply.usage.completion_tokens if reply.usage else 0
                return Generation(choice.message.content or "", tokens, choice.finish_reason != "length")

            return list(await asyncio.gather(*(one(r) for r in requests)))

    def close(self) -> None:
        pass
