"""ChatPanel: chat with a local model, the answer streaming in as it is generated."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from vega_lab.chat.backends import BACKENDS, ChatBackend, get_backend
from vega_lab.chat.session import Conversation, Reply
from vega_lab.chat.store import ConversationStore, Message, open_conversations
from vega_lab.errors import ChatError, VegaError
from vega_lab.panels.base import RunPanel

NEW = ""  # the session picker's value for "start a new session"
_ROLE_COLOR = {"user": "#1f4e8c", "assistant": "#222", "error": "#b00020"}


class ChatPanel(RunPanel):
    """Type a prompt and Send: the answer streams into the transcript piece by piece from a
    background thread (the kernel stays responsive) and Stop ends it early; every exchange is
    logged to the conversation store. Pick a session to continue it, rate the last answer with
    the thumbs, search everything said so far.

    ``backend`` is a name from `BACKENDS` or a `ChatBackend` instance (tests pass one already
    loaded); ``store`` defaults to `open_conversations()`. Progress counts streamed pieces.
    """

    busy = "an answer is still streaming: wait for it or press Stop"
    thread_name = "vega-chat"

    def __init__(
        self,
        *,
        backend: str | ChatBackend | None = None,
        model: str | None = None,
        store: ConversationStore | None = None,
        session: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.2,
    ) -> None:
        from vega_lab.config import get_settings

        self.store = store or open_conversations()
        self._backends: dict[str, ChatBackend] = {}
        if isinstance(backend, ChatBackend):
            self._backends[backend.name] = backend
            backend = backend.name
        wide = {"style": {"description_width": "70px"}, "layout": w.Layout(width="260px")}
        self.backend = w.Dropdown(
            options=list(BACKENDS),
            value=backend or get_settings().chat_backend,
            description="Backend",
            **wide,
        )
        self.model = w.Text(value=model or get_settings().chat_model, description="Model", **wide)
        self.session = w.Dropdown(description="Session", **wide)
        self.prompt = w.Textarea(
            placeholder="Ask something…", layout=w.Layout(width="100%", height="70px")
        )
        self.controls: dict[str, w.ValueWidget] = {
            "backend": self.backend,
            "model": self.model,
            "session": self.session,
            "prompt": self.prompt,
        }
        self.run_button = w.Button(description="Send", icon="paper-plane", button_style="primary")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.thumbs_up = w.Button(icon="thumbs-up", tooltip="good answer", disabled=True)
        self.thumbs_down = w.Button(icon="thumbs-down", tooltip="bad answer", disabled=True)
        for b in (self.thumbs_up, self.thumbs_down):
            b.layout.width = "42px"
        self.progress = w.IntProgress(value=0, min=0, max=max_tokens, description="Pieces")
        self.progress_label = w.Label()
        self.status = w.HTML()
        self.transcript = w.HTML(layout=w.Layout(max_height="420px", overflow="auto"))
        self.query = w.Text(placeholder="search all conversations", layout=w.Layout(width="260px"))
        self.search_button = w.Button(description="Search", icon="search")
        self.results = w.HTML()
        self.chart = w.Output()  # RunPanel's; a chat has no chart
        super().__init__(
            [
                w.HBox([self.backend, self.model, self.session]),
                self.transcript,
                self.prompt,
                w.HBox(
                    [
                        self.run_button,
                        self.stop_button,
                        self.thumbs_up,
                        self.thumbs_down,
                        self.progress,
                        self.progress_label,
                    ]
                ),
                self.status,
                w.HBox([self.query, self.search_button]),
                self.results,
            ],
            "vega-chat",
            {},
        )
        self.transcript.add_class("vega-chat-transcript")
        self.max_tokens, self.temperature = max_tokens, temperature
        self.reply: Reply | None = None
        self.search_hits: list[Message] = []
        self._turns: list[tuple[str, str]] = []  # (role, text) as shown
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.stop_button.on_click(lambda _: self.stop())
        self.thumbs_up.on_click(lambda _: self.rate(1))
        self.thumbs_down.on_click(lambda _: self.rate(-1))
        self.search_button.on_click(lambda _: self.search())
        self.refresh_sessions(session)
        self.session.observe(lambda ch: self._load(ch["new"]), "value")
        self._load(self.session.value)

    # ---- actions ------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The prompt and where it goes (raises `ChatError` for an empty prompt)."""
        prompt = self.prompt.value
        if not prompt.strip():
            raise ChatError("the prompt is empty", "type a question or an instruction")
        return {
            "prompt": prompt,
            "backend": self.backend.value,
            "model": self.model.value.strip() or None,
            "session": self.session.value or None,
        }

    def stop(self) -> None:
        """Ask the streaming answer to end after its current piece (it is logged as far as it
        got)."""
        self._stop.set()

    def rate(self, rating: int) -> None:
        """Thumbs up (+1) or down (-1) on the last answer, written to the store."""
        if self.reply is None:
            self._say("no answer to rate yet", "warning")
            return
        try:
            self.store.add_feedback(self.reply.message_id, rating)
        except VegaError as exc:
            self._fail(exc)
            return
        self._say(f"feedback saved: {'👍' if rating > 0 else '👎'}", "success")

    def search(self, text: str | None = None) -> list[Message]:
        """List stored messages matching ``text`` (default: the search box), best first."""
        text = self.query.value if text is None else text
        try:
            self.search_hits = self.store.search(text)
        except VegaError as exc:
            self.search_hits = []
            self.results.value = ""
            self._fail(exc)
            return []
        items = "".join(
            f"<li><code>{html.escape(m.session_id)}</code> <b>{m.role}</b>: "
            f"{html.escape(m.content[:160])}</li>"
            for m in self.search_hits
        )
        n = len(self.search_hits)
        self.results.value = f"<small>{n} match{'es' if n != 1 else ''}</small><ul>{items}</ul>"
        return self.search_hits

    def refresh_sessions(self, select: str | None = None) -> None:
        """Reload the session picker from the store and select ``select`` (None: new)."""
        options = [("new session", NEW)] + [
            (f"{(s.title or s.id)[:40]} ({s.messages})", s.id) for s in self.store.sessions()
        ]
        self.session.options = options
        self.session.value = select if select in {v for _, v in options} else NEW

    def transcript_text(self) -> str:
        """The transcript as plain text, one ``role: text`` block per turn."""
        with self._lock:
            return "\n".join(f"{role}: {text}" for role, text in self._turns)

    # ---- RunPanel hooks -----------------------------------------------------------------
    def _reset(self, config: dict[str, Any]) -> None:
        self.reply = None
        self._stop.clear()
        self.progress.value, self.progress.bar_style = 0, ""
        self.progress_label.value = ""
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.thumbs_up.disabled = self.thumbs_down.disabled = True
        with self._lock:
            self._turns += [("user", config["prompt"]), ("assistant", "")]
        self._render()
        self._say(f"asking {config['backend']} ({config['model'] or 'default model'}) …")

    def _work(self, config: dict[str, Any]) -> None:
        try:
            conv = Conversation(
                config["session"],
                backend=self._backend(config["backend"]),
                model=config["model"],
                store=self.store,
            )
            reply = conv.ask(
                config["prompt"],
                on_token=self._on_token,
                should_stop=self._stop.is_set,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
        except Exception as exc:  # shown in the status; the kernel keeps running
            with self._lock:
                if self._turns and self._turns[-1] == ("assistant", ""):
                    self._turns.pop()
            self._render()
            self._fail(exc)
        else:
            self.reply = reply
            self.prompt.value = ""
            self.progress.bar_style = "success"
            self.thumbs_up.disabled = self.thumbs_down.disabled = False
            how = "stopped" if self._stop.is_set() else "answered"
            first = f", first piece after {reply.ttft_s:.2f} s" if reply.ttft_s else ""
            self._say(f"{how} in {reply.latency_s:.2f} s{first}", "success")
            self.refresh_sessions(reply.session)  # a new session now has an id and a title
        finally:
            self.run_button.disabled = False
            self.stop_button.disabled = True

    # ---- helpers ------------------------------------------------------------------------
    def _backend(self, name: str) -> ChatBackend:
        if name not in self._backends:
            self._backends[name] = get_backend(name)
        return self._backends[name]

    def _on_token(self, piece: str) -> None:
        """One streamed piece: append it to the answer and redraw (from the worker thread)."""
        with self._lock:
            role, text = self._turns[-1]
            self._turns[-1] = (role, text + piece)
        self.progress.value = min(self.progress.value + 1, self.progress.max)
        self.progress_label.value = f"{self.progress.value} pieces"
        self._render()

    def _load(self, session_id: str) -> None:
        """Show a stored session's history (failed calls as errors) in the transcript."""
        if self.running:  # the picker moves to the new session when an answer ends
            return
        turns: list[tuple[str, str]] = []
        if session_id:
            for m in self.store.history(session_id):
                turns.append(("error", m.error) if m.error else (m.role, m.content))
        with self._lock:
            self._turns = turns
        self.reply = None
        self.thumbs_up.disabled = self.thumbs_down.disabled = True
        self._render()

    def _render(self) -> None:
        with self._lock:
            turns = list(self._turns)
        self.transcript.value = "".join(
            f'<div style="margin:4px 0"><b style="color:{_ROLE_COLOR.get(role, "#555")}">'
            f'{role}</b>: <span style="white-space:pre-wrap">{html.escape(text)}</span></div>'
            for role, text in turns
            if role != "system"
        )
