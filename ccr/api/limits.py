"""The size and kind of a request body, checked before the application reads it.

A declared ``Content-Length`` over the limit is answered 413 at once; a body sent in chunks is counted as
it arrives and cut at the limit, so no client can make the server hold more than one upload in memory.
A POST that is not ``multipart/form-data`` is answered 415 before any of it is read. At most
``UPLOAD_SLOTS`` uploads are read at once (the others wait their turn), so memory stays under
``UPLOAD_SLOTS`` times ``CCR_MAX_UPLOAD_MB`` however many clients post together.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_PATHS = ("/api/v1/calls",)
UPLOAD_SLOTS = 4  # uploads held in memory at once: each is decoded in full before it is encrypted


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when a chunked body passes the limit."""


async def _answer(send: Send, code: int, message: str) -> None:
    body = json.dumps({"detail": message}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: refuses bodies over ``max_body`` bytes (413) and uploads that are not multipart (415)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body
        self._slots = asyncio.Semaphore(UPLOAD_SLOTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        mb = self.max_body // (1024 * 1024)
        too_large = f"Requête trop volumineuse : {mb} Mo au plus (CCR_MAX_UPLOAD_MB)."
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            await _answer(send, 400, "En-tête Content-Length invalide.")
            return
        if declared > self.max_body:
            await _answer(send, 413, too_large)
            return
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") in UPLOAD_PATHS
        if upload:
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"multipart/form-data":
                await _answer(send, 415, "Envoyez l'enregistrement en multipart/form-data (champs « audio » et "
                                         "« metadata »).")
                return
            async with self._slots:
                await self._pass(scope, receive, send, too_large)
            return
        await self._pass(scope, receive, send, too_large)

    async def _pass(self, scope: Scope, receive: Receive, send: Send, too_large: str) -> None:
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, too_large)
