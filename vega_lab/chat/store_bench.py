"""How fast the conversation store takes messages from 1..N processes writing one file at once.

Each writer process imports and opens the store first, then all start together on a barrier,
so the figure is write throughput (one short transaction per message, as a chat does), not
interpreter start-up. Used by ``vega-lab bench chat`` and by the concurrency test.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any


def _writer(path: str, index: int, messages: int, barrier: Any, results: Any) -> None:
    from vega_lab.chat.store import ConversationStore

    store = ConversationStore(path, mask_pii=False)
    sid = store.new_session(f"bench writer {index}", {"writer": index})
    barrier.wait()
    start = time.monotonic()
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        store.add_message(
            sid, role, f"writer {index} message {i}: the quick brown fox", backend="bench"
        )
    results.put((index, sid, start, time.monotonic()))
    store.close()


def bench_store(processes: int, messages: int, path: str | Path) -> dict[str, Any]:
    """``processes`` writers x ``messages`` each into ``path``; returns throughput and sessions.

    Keys: processes, messages (total), seconds (first start to last finish), msgs_per_s,
    per_process_msgs_per_s, sessions (one id per writer, in writer order), path.
    """
    from vega_lab.chat.store import ConversationStore

    path = Path(path).expanduser().resolve()
    ConversationStore(path, mask_pii=False).close()  # create/migrate once, outside the timing
    ctx = mp.get_context("spawn")  # no SQLite handle or engine inherited through fork
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(path), i, messages, barrier, results))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    done = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        from vega_lab.errors import ConversationStoreError

        raise ConversationStoreError(f"{len(failed)} bench writer(s) failed: exit {failed}")
    done.sort()
    seconds = max(d[3] for d in done) - min(d[2] for d in done)
    return {
        "processes": processes,
        "messages": processes * messages,
        "seconds": seconds,
        "msgs_per_s": processes * messages / seconds,
        "per_process_msgs_per_s": [messages / (d[3] - d[2]) for d in done],
        "sessions": [d[1] for d in done],
        "path": str(path),
    }
