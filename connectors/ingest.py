"""``POST /events``: scanners and MES send events to any worker over HTTP.

The body is JSON: one event, an array of events, or an envelope.  Every event
is checked with the same codecs and rules as ``millstream publish``; a batch is
taken whole or not at all: one bad event and nothing is sent, the answer (400)
names each bad one by its index and reason, so the client can fix the batch and
send it again without sending anything twice.  A good batch is routed and
packed like the publisher does (a site's events of a topic in envelopes, master
data one per message) and answered only once Kafka acknowledged every message
(``acks=all``, idempotent producer): 200 with the counts; 503 when Kafka
refused or timed out (some messages may have gone: a retry's duplicates are
rejected by the engine as duplicate ``event_id``).

With ``ingest_token`` set, requests need ``Authorization: Bearer <token>``
(401 without it or with another token; compared in constant time).  The worker
that answers need not own the sites: it only produces to the input topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import threading
from typing import Any

import msgspec
from aiohttp import web as aioweb

from millstream.settings import Settings
from schemas.codecs import decode_message, encode_json
from schemas.outputs import Rejected

from .publisher import MAX_SEND_BYTES, Message, Packer, encode_for_sending, producer_config, send_limit

__all__ = ["MAX_BODY_BYTES", "Ingest", "read_batch"]

log = logging.getLogger(__name__)

#: Largest request body taken (each event in it is still held to the contract's own message limit).
MAX_BODY_BYTES = 8 << 20
#: How long Kafka may take to acknowledge a request's messages before the answer is 503 (seconds).
DELIVERY_TIMEOUT = 30.0


class _Tag(msgspec.Struct):
    type: Any = None


_tag = msgspec.json.Decoder(_Tag)
_array = msgspec.json.Decoder(list[msgspec.Raw])


def _tag_of(raw: bytes) -> Any:
    try:
        return _tag.decode(raw).type
    except (msgspec.DecodeError, RecursionError):
        return None   # not an object: decode_message says why


def read_batch(body: bytes, limit: int = MAX_SEND_BYTES) -> tuple[list[Any], list[dict[str, Any]]]:
    """The events of a request body in order (index, event, bytes to send), and the bad ones as
    ``{"index", "reason"}``.

    ``index`` is the event's position: in the array, in the envelope, or 0 for a single event.
    ``limit``: the largest event that may be sent (``send_limit``); the body itself may be larger.
    """
    stripped = body.lstrip()
    if stripped[:1] == b"[":
        try:
            items = [bytes(raw) for raw in _array.decode(body)]
        except (msgspec.DecodeError, RecursionError) as exc:
            return [], [{"index": None, "reason": f"malformed JSON array: {exc}"}]
        decoded: list[Any] = []
        for raw in items:
            if _tag_of(raw) == "envelope":
                decoded.append(Rejected(reason="an envelope cannot sit inside an array: send it as the whole body"))
            else:
                # a message that is no envelope is one event (or its rejection)
                decoded.extend(decode_message(raw, max_bytes=MAX_BODY_BYTES)[:1])
    elif stripped[:1] == b"{":
        decoded = decode_message(body, max_bytes=MAX_BODY_BYTES)
    else:
        return [], [{"index": None, "reason": "the body must be a JSON object (an event or an envelope) or array"}]
    events, invalid = [], []
    for index, event in enumerate(decoded):
        reason = event.reason if isinstance(event, Rejected) else None
        if reason is None:
            value = encode_for_sending(event, limit)
            if isinstance(value, str):
                reason = value
            else:
                events.append((index, event, value))
        if reason is not None:
            invalid.append({"index": index, "reason": reason})
    return events, invalid


class Ingest:
    """The ``POST /events`` handler of one worker, with its own idempotent producer (opened on first use)."""

    def __init__(self, settings: Settings, delivery_timeout: float = DELIVERY_TIMEOUT) -> None:
        self.settings = settings
        self.delivery_timeout = delivery_timeout
        self._producer: Any = None
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self._started = threading.Lock()

    # --- answers -------------------------------------------------------------------------------

    @staticmethod
    def _answer(status: int, body: dict[str, Any], **headers: str) -> aioweb.Response:
        """JSON with ``<``, ``>``, ``&`` escaped (as the query API does): reasons echo what was sent."""
        data = encode_json(body).replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
        return aioweb.Response(body=data, status=status, content_type="application/json", headers=headers)

    def _refusal(self, authorization: str | None) -> aioweb.Response | None:
        """401 unless the request carries the configured bearer token (none configured: anyone may send)."""
        token = self.settings.ingest_token
        if not token:
            return None
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return self._answer(401, {"error": "a bearer token is required: Authorization: Bearer <token>"},
                                **{"WWW-Authenticate": 'Bearer realm="millstream"'})
        # hashed first, so the comparison takes as long whatever the length or prefix of what was sent
        if not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(),
                                   hashlib.sha256(token.encode()).digest()):
            return self._answer(401, {"error": "wrong bearer token"},
                                **{"WWW-Authenticate": 'Bearer realm="millstream", error="invalid_token"'})
        return None

    async def _body(self, request: aioweb.Request) -> bytes | None:
        """The body, or None when it is larger than ``MAX_BODY_BYTES``."""
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return None
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def handle(self, request: aioweb.Request) -> aioweb.Response:
        try:
            return await self._handle(request)
        except Exception:
            log.exception("POST /events failed")
            return self._answer(500, {"error": "internal error; see the worker log"})

    async def _handle(self, request: aioweb.Request) -> aioweb.Response:
        refusal = self._refusal(request.headers.get("Authorization"))
        if refusal is not None:
            return refusal
        body = await self._body(request)
        if body is None:
            answer = self._answer(413, {"error": f"request body over {MAX_BODY_BYTES} bytes: send smaller batches"})
            answer.force_close()   # the rest of the body stays unread: close instead of reading it to discard it
            return answer
        events, invalid = read_batch(body, send_limit(self.settings))
        if invalid:
            total = len(events) + len(invalid)
            whole = invalid[0]["index"] is None   # the body itself is no event, array or envelope
            error = invalid[0]["reason"] if whole else f"{len(invalid)} of {total} events invalid; nothing was sent"
            return self._answer(400, {"error": error, "accepted": 0, "invalid": invalid})
        if not events:
            return self._answer(400, {"error": "no events in the request", "accepted": 0, "invalid": []})
        packer = Packer(self.settings)
        messages = [m for index, event, value in events for m in packer.add(event, value, index)]
        messages.extend(packer.drain())
        failed = await self._send(messages)
        if failed:
            return self._answer(503, {"error": f"Kafka did not acknowledge {len(failed)} of {len(events)} events; "
                                               "send the batch again (duplicates are rejected by event_id)",
                                      "failed": failed})
        topics: dict[str, int] = {}
        for message in messages:
            topics[message.topic] = topics.get(message.topic, 0) + len(message.origins)
        return self._answer(200, {"accepted": len(events), "messages": len(messages), "topics": topics})

    # --- sending -------------------------------------------------------------------------------

    def _ensure_producer(self) -> Any:
        with self._started:
            if self._producer is None:
                from confluent_kafka import Producer

                self._producer = Producer(producer_config(self.settings, self.delivery_timeout))
                self._poller = threading.Thread(target=self._poll, name="ingest-delivery-reports", daemon=True)
                self._poller.start()
        return self._producer

    def _poll(self) -> None:
        """Serve delivery reports (they resolve the waiting requests' futures) until stopped."""
        while not self._stopping.is_set():
            self._producer.poll(0.1)

    async def _send(self, messages: list[Message]) -> list[dict[str, Any]]:
        """Produce every message in order, wait for every acknowledgement; the events Kafka did not take."""
        from confluent_kafka import KafkaException

        producer = self._ensure_producer()
        loop = asyncio.get_running_loop()
        waiting: list[tuple[Message, asyncio.Future[Any]]] = []
        failed: list[dict[str, Any]] = []

        def settle(future: asyncio.Future[Any], err: Any) -> None:
            if not future.done():
                future.set_result(err)

        for message in messages:
            future: asyncio.Future[Any] = loop.create_future()

            def delivered(err: Any, _msg: Any, future: asyncio.Future[Any] = future) -> None:
                with contextlib.suppress(RuntimeError):   # a closed loop: the worker is shutting down
                    loop.call_soon_threadsafe(settle, future, err)

            while True:
                try:
                    producer.produce(message.topic, key=message.key, value=message.value, on_delivery=delivered)
                    waiting.append((message, future))
                    break
                except BufferError:   # the local queue is full: let the poller drain it
                    await asyncio.sleep(0.05)
                except KafkaException as exc:
                    failed.extend({"index": i, "reason": f"not sent: {exc}"} for i in message.origins)
                    break
        try:
            results = await asyncio.wait_for(asyncio.gather(*(f for _, f in waiting)), self.delivery_timeout + 10)
        except TimeoutError:
            results = [f.result() if f.done() else "no delivery report" for _, f in waiting]
        for (message, _), err in zip(waiting, results, strict=True):
            if err is not None:
                reason = err if isinstance(err, str) else err.str()
                failed.extend({"index": i, "reason": f"not delivered: {reason}"} for i in message.origins)
        return sorted(failed, key=lambda row: row["index"])

    async def stop(self) -> None:
        """Deliver what is in flight (briefly), then stop the poller.

        A worker that stops without it loses nothing it promised: a request is
        answered 200 only after Kafka acknowledged it, and one left unanswered is
        the client's to send again.
        """
        if self._producer is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, self._producer.flush, 5.0)
        self._stopping.set()
