"""Retries with backoff and jitter, one deadline per call, and a circuit breaker.

Local model servers restart, load slowly and fall over under a notebook's loop; a remote one
rate-limits. A few spaced retries hide the blips, the deadline keeps a cell from hanging, and the
breaker stops a dashboard from hammering a server that is down: after ``failure_threshold``
consecutive failures calls fail at once for ``reset_after_s``, then one trial call decides.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from vega_lab.errors import BackendError, BackendUnavailableError

__all__ = ["CircuitBreaker", "CircuitOpenError", "RetryPolicy", "call_resilient", "shared_breaker"]

T = TypeVar("T")


class CircuitOpenError(BackendUnavailableError):
    """Failing fast: the backend failed repeatedly and its cool-down has not passed."""

    retryable = False


@dataclass
class RetryPolicy:
    """``attempts`` tries in all; delays ``base_delay_s * 2**i`` capped, times 1 +- ``jitter``.

    ``seed`` makes the jitter reproducible and ``sleep`` is injectable, so tests neither wait
    nor flake.
    """

    attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 2.0
    jitter: float = 0.25
    seed: int | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def delay(self, retry: int) -> float:
        base = min(self.max_delay_s, self.base_delay_s * 2**retry)
        return max(0.0, base * (1 + self.jitter * (2 * self._rng.random() - 1)))


class CircuitBreaker:
    """closed -> open after N consecutive failures -> half-open after the cool-down.

    Half-open lets one trial call through: success closes the circuit, failure reopens it.
    ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after_s:
            return "half-open"
        return "open"

    def before_call(self, url: str) -> None:
        """Raise ``CircuitOpenError`` when calls must not go out now."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return
        assert self._opened_at is not None
        wait = max(0.0, self.reset_after_s - (self._clock() - self._opened_at))
        raise CircuitOpenError(
            f"not calling {url}: it failed {self.failures} times in a row (circuit open)",
            f"check that the server is up; the next trial call is allowed in {wait:.1f} s",
        )

    def record_success(self) -> None:
        self.failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self.failures += 1
        if self._trial_running or self.failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._trial_running = False


_BREAKERS: dict[str, CircuitBreaker] = {}


def shared_breaker(url: str) -> CircuitBreaker:
    """One breaker per server URL for the whole process, so every panel sees the same state."""
    return _BREAKERS.setdefault(url, CircuitBreaker())


async def call_resilient(
    attempt: Callable[[float], Awaitable[T]],
    *,
    url: str,
    timeout: float,
    policy: RetryPolicy,
    breaker: CircuitBreaker | None,
) -> T:
    """Run ``attempt(remaining_s)`` with retries, all inside ``timeout`` seconds.

    Retried: errors marked ``retryable``. Counted against the breaker: every ``BackendError`` but
    client errors (4xx), once per call (not per attempt).
    """
    deadline = time.monotonic() + timeout
    if breaker is not None:
        breaker.before_call(url)
    last: BackendError | None = None
    try:
        for i in range(max(1, policy.attempts)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                result = await asyncio.wait_for(attempt(remaining), remaining)
            except TimeoutError:
                last = BackendUnavailableError(
                    f"{url} did not answer within {timeout:g} s",
                    "the model may be overloaded; allow a longer timeout or a smaller max_tokens",
                )
                break
            except BackendError as exc:
                last = exc
                if not exc.retryable:
                    break
                if i + 1 < policy.attempts:
                    pause = min(policy.delay(i), max(0.0, deadline - time.monotonic()))
                    await policy.sleep(pause)
                continue
            if breaker is not None:
                breaker.record_success()
            return result
        if last is None:
            last = BackendUnavailableError(f"{url} did not answer within {timeout:g} s")
        raise last
    except BackendError as exc:
        if breaker is not None and not exc.client_error:
            breaker.record_failure()
        raise
    except BaseException:
        if breaker is not None:  # cancelled: neither a success nor the server's fault
            breaker._trial_running = False
        raise
