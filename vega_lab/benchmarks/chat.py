"""`vega-lab bench chat`: the embedded model's speed through vega_lab vs llama.cpp called
directly, time to first token, and the conversation store's write rate, in one process run.

Generation: the same greedy 64-token request (temperature 0, one prompt) three ways,
interleaved round by round (order rotated) so machine noise hits all alike; the overhead is
the median over rounds of each round's ratio:
- direct: xllamacpp's ``handle_chat_completions`` on a model loaded in this process (what
  "calling llama.cpp directly" means from Python);
- vega_lab in-process: ``Conversation(backend="inprocess").ask`` (backend + store logging);
- vega_lab default: ``Conversation(backend="openai").ask`` against the embedded server
  (HTTP hop + store logging), which is what `vega-lab chat` does.
Tokens per second = completion tokens / wall time of the call. The server runs in its own
process with the same thread count; only one generation runs at a time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPT = "Write a short paragraph about the history of Paris."
MESSAGES = [
    {"role": "system", "content": "You are a helpful, concise assistant."},
    {"role": "user", "content": PROMPT},
]


def _direct(server: Any, max_tokens: int) -> float:
    request = {"messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0.0}
    t0 = time.perf_counter()
    reply = server.handle_chat_completions(request)
    seconds = time.perf_counter() - t0
    return reply["usage"]["completion_tokens"] / seconds


def _through(conv: Any, max_tokens: int) -> float:
    conv.session = None  # a fresh session each round: the same prompt, no memory
    reply = conv.ask(PROMPT, max_tokens=max_tokens, temperature=0.0)
    return (reply.completion_tokens or 0) / reply.latency_s


def bench_chat(
    rounds: int = 5, max_tokens: int = 64, store_messages: int = 500, threads: int = 2
) -> dict[str, Any]:
    from vega_lab.chat.backends import InProcessBackend, OpenAIHTTPBackend
    from vega_lab.chat.backends.inprocess import _load
    from vega_lab.chat.models import resolve_model
    from vega_lab.chat.server import ensure_server
    from vega_lab.chat.session import Conversation
    from vega_lab.chat.store import ConversationStore
    from vega_lab.chat.store_bench import bench_store

    work = Path(tempfile.mkdtemp(prefix="vega-bench-chat-"))
    store = ConversationStore(work / "bench.sqlite")
    inproc = InProcessBackend(threads=threads)
    direct_server = _load(inproc.model_path, inproc.n_ctx, inproc.threads)
    info = ensure_server(threads=threads)
    conv_in = Conversation(backend=inproc, store=store, system_prompt=MESSAGES[0]["content"])
    conv_http = Conversation(
        backend=OpenAIHTTPBackend(), store=store, system_prompt=MESSAGES[0]["content"]
    )
    # warm-up: first calls pay for loading and caches
    _direct(direct_server, 8)
    _through(conv_in, 8)
    _through(conv_http, 8)
    direct, vega_in, vega_http = [], [], []
    calls = [
        (direct, lambda: _direct(direct_server, max_tokens)),
        (vega_in, lambda: _through(conv_in, max_tokens)),
        (vega_http, lambda: _through(conv_http, max_tokens)),
    ]
    for r in range(rounds):  # rotate the order so no side always runs first
        for out, call in calls[r % 3 :] + calls[: r % 3]:
            out.append(call())
    ttfts = []
    for _ in range(rounds):
        conv_http.session = None
        r = conv_http.ask(PROMPT, on_token=lambda _p: None, max_tokens=16, temperature=0.0)
        ttfts.append(r.ttft_s or float("nan"))
    one = bench_store(1, store_messages, work / "store1.sqlite")
    four = bench_store(4, store_messages, work / "store4.sqlite")
    d, vi, vh = (statistics.median(x) for x in (direct, vega_in, vega_http))
    return {
        "model": str(resolve_model().name),
        "server_url": info.url,
        "threads": threads,
        "rounds": rounds,
        "max_tokens": max_tokens,
        "direct_tok_s": d,
        "vega_tok_s": vh,
        "vega_inprocess_tok_s": vi,
        # paired per round: load drift on a shared machine cancels within a round
        "overhead": 1.0 - statistics.median(h / x for h, x in zip(vega_http, direct, strict=True)),
        "overhead_inprocess": 1.0
        - statistics.median(i / x for i, x in zip(vega_in, direct, strict=True)),
        "ttft_s": statistics.median(ttfts),
        "store_msgs_per_s_1proc": one["msgs_per_s"],
        "store_msgs_per_s_4proc": four["msgs_per_s"],
        "all": {"direct": direct, "vega_http": vega_http, "vega_inprocess": vega_in},
    }
