"""`POST /federation/v1/inbox`: where other States' nodes deliver their signed envelopes.

The caller is authenticated by its envelope's signature (a key of the sender in the signed network directory)
and what it may do is decided by the policy's peer rules; see nohaven.federation.inbox. A DELIVER arrives as
`application/vnd.nohaven.deliver`: the envelope's length and a newline, the envelope, then each item's bytes,
streamed to the blob store and checked against the announced size and SHA-256 before anything is recorded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nohaven.blobs import BlobStore, BlobWriter
from nohaven.errors import InputError, NohavenError
from nohaven.federation.context import FederationContext
from nohaven.federation.dispatcher import DELIVER_MEDIA_TYPE
from nohaven.federation.inbox import Answer, deliver, receive, refuse
from nohaven.federation.payload import DeliverPayload

router = APIRouter(tags=["federation"])

MAX_ENVELOPE = 1024 * 1024


def _answer(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


def _problem(status: int, title: str, detail: str) -> Response:
    return Response(json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}),
                    status_code=status, media_type="application/problem+json")


class _Body:
    """The request body as a byte stream read to exact lengths."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = b""
        self.done = False

    async def _more(self) -> bool:
        if self.done:
            return False
        try:
            self.buffer += await self.chunks.__anext__()
        except StopAsyncIteration:
            self.done = True
            return False
        return True

    async def line(self, limit: int) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > limit or not await self._more():
                raise InputError.field("body", "a delivery starts with the envelope's length and a newline")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    async def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self._more():
                raise InputError.field("body", f"the body ended {size - len(self.buffer)} bytes early")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    async def copy_to(self, writer: BlobWriter, size: int) -> None:
        left = size
        while left:
            if not self.buffer and not await self._more():
                raise InputError.field("body", f"the body ended {left} bytes early")
            piece, self.buffer = self.buffer[:left], self.buffer[left:]
            writer.write(piece)
            left -= len(piece)

    async def at_end(self) -> bool:
        while not self.buffer:  # the stream may end with empty chunks
            if not await self._more():
                return True
        return False


async def _read_all(request: Request, limit: int) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InputError.field("body", f"an envelope is at most {limit} bytes")
    return body


@router.post("/federation/v1/inbox", summary="Receive a signed envelope from another State's node")
async def inbox(request: Request) -> Response:
    ctx: FederationContext | None = request.app.state.federation
    if ctx is None:
        return _problem(503, "Federation is off", "this node is not part of a federation network")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media_type == DELIVER_MEDIA_TYPE:
            return await _deliver(ctx, request)
        if media_type != "application/json":
            return _problem(415, "Unsupported media type", "post an envelope as application/json, or a delivery "
                            f"as {DELIVER_MEDIA_TYPE}")
        body = await _read_all(request, MAX_ENVELOPE)
    except InputError as exc:
        return _problem(400, "Invalid input", exc.message)
    answer, _ = await run_in_threadpool(receive, ctx, body)
    return _answer(answer)


async def _deliver(ctx: FederationContext, request: Request) -> Response:
    body = _Body(request.stream())
    line = await body.line(20)
    if not line.isdigit() or not 0 < int(line) <= MAX_ENVELOPE:
        raise InputError.field("body", f"the envelope's length must be a number from 1 to {MAX_ENVELOPE}")
    envelope = await body.exactly(int(line))
    answer, verified = await run_in_threadpool(receive, ctx, envelope, check_only=True)
    if verified is None:
        return _answer(answer)
    if verified.retry:  # already received: answer again, read nothing more
        answer, _ = await run_in_threadpool(receive, ctx, envelope, delivered=[])
        return _answer(answer)
    payload = verified.payload
    if not isinstance(payload, DeliverPayload):
        return _answer(await run_in_threadpool(refuse, ctx, verified, InputError.field(
            "payload.action", f"{DELIVER_MEDIA_TYPE} carries a DELIVER, not a {payload.action}")))
    total = sum(item.size for item in payload.items)
    if total > ctx.settings.federation_max_delivery_bytes:
        return _answer(await run_in_threadpool(refuse, ctx, verified, InputError.field(
            "payload.items", f"{total} bytes announced; this node accepts at most "
            f"{ctx.settings.federation_max_delivery_bytes} in one delivery")))
    blobs = BlobStore(ctx.settings.blob_dir)
    delivered: list[dict[str, Any]] = []
    try:
        for index, item in enumerate(payload.items):
            writer = blobs.writer()
            try:
                await body.copy_to(writer, item.size)
            except BaseException:
                writer.abort()
                raise
            writer.commit(expected_sha256=item.sha256, expected_size=item.size, field=f"payload.items[{index}]")
            delivered.append(item.model_dump(mode="json"))
        if not await body.at_end():
            raise InputError.field("body", "more bytes follow the items the envelope announces")
    except NohavenError as exc:
        return _answer(await run_in_threadpool(refuse, ctx, verified, exc))
    return _answer(await run_in_threadpool(deliver, ctx, envelope, verified, delivered))
