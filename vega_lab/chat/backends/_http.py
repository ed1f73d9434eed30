"""What every HTTP chat backend shares: requests, error mapping, retries, breaker, streaming.

A protocol subclass only says where to post, how to build the body and how to read a reply or a
streamed line; everything that can go wrong on the wire is turned into ``BackendError`` /
``BackendUnavailableError`` naming the URL here, once.
"""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Any

import httpx

from vega_lab.chat.backends.base import ChatBackend, Completion, Message
from vega_lab.chat.backends.resilience import (
    CircuitBreaker,
    RetryPolicy,
    call_resilient,
    shared_breaker,
)
from vega_lab.errors import BackendError, BackendUnavailableError

__all__ = ["DONE", "HTTPChatBackend", "garbage"]

DONE = object()  # a stream parser's "the answer is complete"


def garbage(url: str, what: str) -> BackendError:
    """A reply that is not the protocol's: not retried (it would say the same again)."""
    return BackendError(
        f"{url} answered something that is not a chat reply: {what}",
        "check that the URL points at the right kind of server (and the backend matches it)",
    )


class HTTPChatBackend(ChatBackend):
    """A chat backend over HTTP. Subclasses define the protocol hooks below."""

    start_hint: str = "start the server, or point VEGA_CHAT_URL at one that runs"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        model: str | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.api_key = api_key
        self.model = model
        self.retry = retry or RetryPolicy()
        self._breaker = breaker

    # --- protocol hooks -------------------------------------------------------------------
    @abstractmethod
    def endpoint(self, base: str) -> str: ...

    @abstractmethod
    def health_url(self, base: str) -> str: ...

    @abstractmethod
    def payload(
        self, messages: list[Message], model: str, max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]: ...

    @abstractmethod
    def parse(self, data: Any, url: str) -> tuple[str, str, int | None, int | None]:
        """A whole reply -> (text, model, prompt_tokens, completion_tokens)."""

    @abstractmethod
    def parse_line(self, line: str, url: str) -> str | object | None:
        """One streamed line -> a text piece, ``DONE``, or None (nothing to yield)."""

    async def resolve(self) -> tuple[str, str | None, str]:
        """(base URL, API key, model name to send); overridden to start a local server."""
        if self.base_url is None:
            raise BackendUnavailableError(f"{self.name} backend has no URL", self.start_hint)
        return self.base_url, self.api_key, self.model or "default"

    # --- the work ------------------------------------------------------------------------
    def breaker_for(self, url: str) -> CircuitBreaker:
        return self._breaker or shared_breaker(url)

    def _headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _error(self, response: httpx.Response, url: str) -> BackendError:
        code = response.status_code
        try:
            body = response.text[:300].strip()
        except httpx.ResponseNotRead:
            body = ""
        if code in (401, 403):
            err = BackendError(
                f"{url} refused the API key (HTTP {code})",
                "set VEGA_CHAT_API_KEY in .env to the server's key",
            )
            err.client_error = True
        elif code == 429 or code >= 500:
            err = BackendError(f"{url} failed with HTTP {code}: {body}", "it is retried")
            err.retryable = True
        else:
            err = BackendError(
                f"{url} rejected the request with HTTP {code}: {body}",
                "check the model name (VEGA_CHAT_MODEL) and the request options",
            )
            err.client_error = True
        return err

    def _unreachable(self, url: str, exc: Exception) -> BackendUnavailableError:
        kind = type(exc).__name__
        return BackendUnavailableError(
            f"cannot reach the chat server at {url} ({kind})", self.start_hint
        )

    async def complete(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.7,
        timeout: float = 60.0,
    ) -> Completion:
        base, key, default_model = await self.resolve()
        url = self.endpoint(base)
        body = self.payload(messages, model or default_model, max_tokens, temperature, False)
        start = time.perf_counter()

        async def attempt(remaining: float) -> Any:
            async with httpx.AsyncClient(timeout=remaining, trust_env=False) as client:
                try:
                    response = await client.post(url, json=body, headers=self._headers(key))
                except httpx.TransportError as exc:
                    raise self._unreachable(url, exc) from exc
                if response.status_code != 200:
                    raise self._error(response, url)
                try:
                    return self.parse(response.json(), url)
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    raise garbage(url, f"{type(exc).__name__}: {str(exc)[:120]}") from None

        text, used, pt, ct = await call_resilient(
            attempt, url=url, timeout=timeout, policy=self.retry, breaker=self.breaker_for(url)
        )
        return Completion(text, used, self.name, time.perf_counter() - start, pt, ct)

    async def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.7,
        timeout: float = 60.0,
    ) -> AsyncIterator[str]:
        """Connecting is retried; once text has flowed an error ends the stream (no replay).

        ``timeout`` bounds connecting and each wait for the next piece.
        """
        base, key, default_model = await self.resolve()
        url = self.endpoint(base)
        body = self.payload(messages, model or default_model, max_tokens, temperature, True)
        breaker = self.breaker_for(url)
        client = httpx.AsyncClient(timeout=timeout, trust_env=False)
        try:

            async def attempt(remaining: float) -> httpx.Response:
                request = client.build_request("POST", url, json=body, headers=self._headers(key))
                try:
                    response = await client.send(request, stream=True)
                except httpx.TransportError as exc:
                    raise self._unreachable(url, exc) from exc
                if response.status_code != 200:
                    await response.aread()
                    await response.aclose()
                    raise self._error(response, url)
                return response

            response = await call_resilient(
                attempt, url=url, timeout=timeout, policy=self.retry, breaker=breaker
            )
            try:
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    piece = self.parse_line(line, url)
                    if piece is DONE:
                        return
                    if piece:
                        yield str(piece)
            except httpx.TransportError as exc:
                breaker.record_failure()
                raise self._unreachable(url, exc) from exc
            except BackendError:
                breaker.record_failure()
                raise
            finally:
                await response.aclose()
        finally:
            await client.aclose()

    async def health(self) -> bool:
        try:
            base, key, _ = await self.resolve()
            async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
                response = await client.get(self.health_url(base), headers=self._headers(key))
            return response.status_code == 200
        except (httpx.HTTPError, BackendError):
            return False


def loads_line(line: str, url: str) -> Any:
    """Parse one JSON line of a stream, or raise the garbage error naming the URL."""
    try:
        return json.loads(line)
    except ValueError:
        raise garbage(url, f"a streamed line is not JSON: {line[:80]!r}") from None
