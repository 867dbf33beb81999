"""Generation speed (bench/ai.py's third part): tokens per second through ai.local, the provider
the AI steps use (llama-cpp-python in this process, streamed through its worker thread, as
ai.generate streams), against llama-cpp-python's own server (``python -m llama_cpp.server``) with
the same GGUF, threads, context and batch, hit directly with aiohttp and streamed too. Same
prompts, same max_tokens, temperature 0; the two alternate prompt by prompt so load on the
machine falls on both. Tokens are the streamed pieces on both sides, counted the same way.
"""

from __future__ import annotations

import json
import time

PROMPTS = [
    "Write a short paragraph about the history of paper.",
    "Explain in a few sentences what an invoice is.",
    "Describe a quiet morning in a small town.",
    "List some reasons to keep documents organised.",
    "Tell a short story about a cat who learns to read.",
    "What should a good contract say about payment terms?",
    "Describe the journey of a letter through the post.",
    "Explain why backups of important files matter.",
]


async def _peer_stream(session, url: str, prompt: str, max_tokens: int) -> int:
    """Pieces llama_cpp.server streams for ``prompt`` (the same request ai.local makes)."""
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0.0,
            "stream": True}
    pieces = 0
    async with session.post(f"{url}/chat/completions", json=body) as response:
        response.raise_for_status()
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[5:]).get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    pieces += 1
    return pieces


async def _ours_stream(model, prompt: str, max_tokens: int) -> int:
    from paperchain_ai.providers import ChatRequest

    request = ChatRequest(messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0)
    return sum([1 async for _ in model.stream(request)])


async def bench_generation(threads: int = 1, max_tokens: int = 64, rounds: int = 2, n_ctx: int = 2048) -> dict:
    import aiohttp

    from paperchain_ai.providers.gemma import cache_dir, default_model
    from paperchain_ai.providers.llama_server import llama_server
    from paperchain_ai.providers.local import LocalModel
    from paperchain_ai.settings import LocalModelSettings

    gguf = default_model(cache_dir())
    model = LocalModel(LocalModelSettings(threads=threads, n_ctx=n_ctx))
    await _ours_stream(model, "Hello", 4)  # load the model before timing
    timeout = aiohttp.ClientTimeout(total=600)
    try:
        with llama_server(gguf, threads=threads, n_ctx=n_ctx) as url:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                await _peer_stream(session, url, "Hello", 4)  # its model loaded and warm too
                ours = {"tokens": 0, "seconds": 0.0}
                peer = {"tokens": 0, "seconds": 0.0}
                for _ in range(rounds):
                    for prompt in PROMPTS:
                        start = time.perf_counter()
                        ours["tokens"] += await _ours_stream(model, prompt, max_tokens)
                        ours["seconds"] += time.perf_counter() - start
                        start = time.perf_counter()
                        peer["tokens"] += await _peer_stream(session, url, prompt, max_tokens)
                        peer["seconds"] += time.perf_counter() - start
    finally:
        await model.close()
    ours_rate, peer_rate = ours["tokens"] / ours["seconds"], peer["tokens"] / peer["seconds"]
    return {"model": gguf.name, "threads": threads, "max_tokens": max_tokens, "prompts": len(PROMPTS), "rounds": rounds,
            "ours_tokens": ours["tokens"], "ours_s": ours["seconds"], "ours_tokens_per_s": ours_rate,
            "peer_tokens": peer["tokens"], "peer_s": peer["seconds"], "peer_tokens_per_s": peer_rate,
            "ratio": ours_rate / peer_rate}


def report(result: dict) -> None:
    print(f"generation: {result['model']}, {result['threads']} thread(s), {result['prompts']} prompts x "
          f"{result['rounds']} rounds, max_tokens {result['max_tokens']}, temperature 0, streamed")
    print(f"  paperchain-ai ai.local (in-process)  {result['ours_tokens_per_s']:8.1f} tokens/s "
          f"({result['ours_tokens']} tokens in {result['ours_s']:.1f} s)")
    print(f"  llama_cpp.server (aiohttp, direct)   {result['peer_tokens_per_s']:8.1f} tokens/s "
          f"({result['peer_tokens']} tokens in {result['peer_s']:.1f} s)   ratio {result['ratio']:.2f}x (goal >= 0.95)")
