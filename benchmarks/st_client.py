"""A browser-like Streamlit client over the app's own websocket protocol, for load runs.

It speaks what the browser speaks to the server (``/_stcore/stream``, protobuf ``BackMsg`` and
``ForwardMsg``): it asks for script runs with a page, a query string and widget values, and reads
the elements the run sends back, until the run ends. No rendering happens, so twenty sessions cost
the load machine almost nothing; a page time here is the server's time (the run plus the transfer),
not the paint time in a browser. One difference with a browser: component iframes never report back,
so a run a component would trigger is not generated (the login page triggers none since the re-login
cookie is written by a script of the page itself).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

# Statuses that end a run for good; FINISHED_EARLY_FOR_RERUN means another run follows at once.
_DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
         ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
# Big pages (charts as Arrow tables) exceed websockets' 1 MiB default frame cap.
MAX_FRAME = 64 * 1024 * 1024


@dataclass
class Widget:
    """A widget the last run drew: its id, kind and label."""

    id: str
    kind: str
    label: str


@dataclass
class RunResult:
    """What one script run sent back."""

    seconds: float
    widgets: list[Widget] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    page_not_found: bool = False

    def widget(self, kind: str, label: str) -> Widget:
        """The widget of this kind whose label starts with ``label`` (KeyError when absent)."""
        for w in self.widgets:
            if w.kind == kind and w.label.startswith(label):
                return w
        raise KeyError(f"{kind} « {label} » absent de la page")

    def has_text(self, needle: str) -> bool:
        """True when some text element of the run contains ``needle``."""
        return any(needle in t for t in self.texts)


class StreamlitSession:
    """One tab of the app: a websocket and the pages the app announced."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.pages: dict[str, str] = {}  # url path -> page script hash
        self.page_hash = ""
        self._ws = None

    async def __aenter__(self) -> StreamlitSession:
        parsed = urlparse(self.url)
        self._ws = await connect(f"ws://{parsed.netloc}/_stcore/stream", subprotocols=["streamlit"],
                                 additional_headers={"Origin": self.url}, max_size=MAX_FRAME, open_timeout=60)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()

    async def run(self, *, page: str | None = None, query: str = "", widgets: list[WidgetState] | None = None,
                  timeout: float = 120.0) -> RunResult:
        """Ask for a run (of ``page``, by url path, or of the current page) and read it to its end."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = query
        if page is not None:
            self.page_hash = self.pages.get(page, "")
            state.page_name = page if page not in self.pages else ""
        state.page_script_hash = self.page_hash
        for w in widgets or []:
            state.widget_states.widgets.append(w)
        t0 = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        result = RunResult(seconds=0.0)
        deadline = t0 + timeout
        while True:
            raw = await asyncio.wait_for(self._ws.recv(), timeout=max(0.1, deadline - time.perf_counter()))
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash or self.page_hash
                result = RunResult(seconds=0.0)  # a rerun started: only its elements count
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in fwd.navigation.app_pages}
                self.page_hash = fwd.navigation.page_script_hash or self.page_hash
            elif kind == "page_not_found":
                result.page_not_found = True
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                _read_element(fwd.delta.new_element, result)
            elif kind == "script_finished" and fwd.script_finished in _DONE:
                result.seconds = time.perf_counter() - t0
                return result

    @staticmethod
    def text_value(widget: Widget, value: str) -> WidgetState:
        """The widget state of a text input holding ``value``."""
        return WidgetState(id=widget.id, string_value=value)

    @staticmethod
    def click(widget: Widget) -> WidgetState:
        """The widget state of a button just pressed."""
        return WidgetState(id=widget.id, trigger_value=True)

    @classmethod
    def login_states(cls, form: RunResult, username: str, password: str) -> list[WidgetState]:
        """The widget states of CCR's login form (as drawn in ``form``) filled in and submitted."""
        return [cls.text_value(form.widget("text_input", "Identifiant"), username),
                cls.text_value(form.widget("text_input", "Mot de passe"), password),
                cls.click(form.widget("button", "Se connecter"))]


def _read_element(element, result: RunResult) -> None:
    kind = element.WhichOneof("type")
    body = getattr(element, kind) if kind else None
    if kind == "exception":
        result.exceptions.append(f"{body.type}: {body.message}")
    elif kind in ("markdown", "alert", "heading", "text"):
        result.texts.append(body.body)
    if body is not None and hasattr(body, "id") and hasattr(body, "label") and body.id:
        result.widgets.append(Widget(id=body.id, kind=kind, label=body.label))
