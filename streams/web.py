"""The worker's HTTP query API: thin Faust views over ``core.queries``.

Views run on the event loop that applies batches, and a batch is applied
without awaiting, so an answer never sees half a batch.  A site-keyed request
is answered by the worker that owns the site (``streams.routing``): this one,
or the owner, asked on the caller's behalf.  Orders and lots asked without a
site may be held anywhere: every worker answers for the sites it owns and the
answers are merged.  Errors are JSON ``{"error": ...}``: unknown key 404,
ambiguous id 409, bad path or parameter 400, no assignment yet 503.

``/metrics`` (Prometheus) and ``/status`` (a summary per site for
``millstream status``) are served by the same web server, and ``POST /events``
takes events from scanners and MES (``connectors.ingest``).

Access (docs/security.md): with ``api_token`` set, every path but ``/metrics``
(unless ``metrics_auth``) and ``POST /events`` (``ingest_token``, checked by
the ingest) asks for ``Authorization: Bearer <api_token>``, compared in
constant time; 401 otherwise.  URLs over ``MAX_URL_BYTES`` are refused (414)
and so are bodies sent to paths that take none (413).  Every answer is JSON
built by the encoder, with ``<``, ``>`` and ``&`` escaped, and says
``nosniff``: input echoed in an error can never become markup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
from aiohttp import web as aioweb
from faust.web import View

from connectors.ingest import Ingest
from core import queries
from core.engine import Engine
from millstream.settings import Settings, control_settings
from monitoring import status as site_status
from monitoring.metrics import Metrics, metrics_response
from schemas.codecs import encode_json

from .routing import ROUTED_HEADER, WORKER_HEADER, SiteRouter, site_partition
from .topics import INPUTS

__all__ = ["ENDPOINTS", "register_metrics_view", "register_views"]

log = logging.getLogger(__name__)

ENDPOINTS = (
    "/sites/{site}/items/{item}", "/sites/{site}/items/{item}/mrp", "/sites/{site}/shortages",
    "/orders/{order_id}", "/lots/{lot}/trace", "/status", "/metrics", "/events",
    "/sites/{site}/forecast", "/sites/{site}/safety-stock", "/sites/{site}/count-schedule",
    "/sites/{site}/work-centers/{work_center}/load",
)
MAX_KEY = 200   # the contract's key length
#: longest path and query taken: three 200-character keys in any script, percent-encoded, fit (aiohttp's own
#: limit on the request line is 8190 bytes, answered in plain text)
MAX_URL_BYTES = 8000
#: largest body a path other than POST /events takes (none of them reads one); the ingest has its own limit
MAX_QUERY_BODY = 1024
#: paths that check their own credentials: POST /events asks for ``ingest_token`` (connectors/ingest.py)
SELF_GUARDED = frozenset({ENDPOINTS[7]})
MAX_TOP = 100   # busiest items per site on /status
#: a forecast fits models for every item of a site: a peer asked for one may take minutes on a large site
FORECAST_FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=600)


class BadRequest(ValueError):
    """A path or query parameter the API cannot take."""


def _key(name: str, value: str) -> str:
    if not value or len(value) > MAX_KEY or not value.isprintable():
        raise BadRequest(f"{name} must be 1 to {MAX_KEY} printable characters")
    return value


def _params(request: Any, allowed: tuple[str, ...]) -> dict[str, str]:
    query = request.query
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}; this path takes {', '.join(allowed) or 'none'}")
    params = {}
    for name in set(query):
        values = query.getall(name)
        if len(values) > 1:
            raise BadRequest(f"parameter {name!r} given {len(values)} times")
        params[name] = _key(name, values[0])
    return params


class NotReady(RuntimeError):
    """No partition assignment yet: nobody can say which worker holds what."""


class _Api:
    """The query endpoints over one engine; ``register_views`` maps paths to them."""

    def __init__(self, engine: Engine, router: SiteRouter, settings: Settings | None = None,
                 metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.router = router
        self.settings = settings or Settings()
        self.metrics = metrics
        self.control = control_settings(self.settings)

    # --- responses ---------------------------------------------------------------------

    def respond(self, status: int, body: Any) -> aioweb.Response:
        data = inert_json(body if isinstance(body, bytes) else encode_json(body))
        return aioweb.Response(body=data, status=status, content_type="application/json",
                               headers={WORKER_HEADER: self.router.url})

    def error(self, status: int, message: str, **extra: Any) -> aioweb.Response:
        return self.respond(status, {"error": message, **extra})

    async def guarded(self, answer: Awaitable[aioweb.Response]) -> aioweb.Response:
        try:
            return await answer
        except BadRequest as exc:
            return self.error(400, str(exc))
        except queries.NotFound as exc:
            return self.error(404, str(exc))
        except queries.Ambiguous as exc:
            return self.error(409, str(exc), matches=exc.matches)
        except queries.Unavailable as exc:
            return self.error(501, str(exc))
        except NotReady as exc:
            return self.error(503, str(exc))
        except Exception:
            log.exception("query failed")
            return self.error(500, "internal error; see the worker log")

    # --- routing -------------------------------------------------------------------------

    def _owner(self, site: str) -> str:
        owner = self.router.owner(site)
        if owner is None:
            raise NotReady("no partition assignment yet (the group is rebalancing); retry")
        return owner

    async def for_site(self, request: Any, site: str, local: Callable[[], Any],
                       timeout: aiohttp.ClientTimeout | None = None) -> aioweb.Response:
        """Answer here if this worker owns the site (or a peer forwarded the request), else ask the owner.

        ``local`` may return an awaitable (an answer computed off the loop), awaited here.
        """
        _key("site", site)
        owner = None if request.headers.get(ROUTED_HEADER) else self._owner(site)
        if owner is None or self.router.is_self(owner):
            answer = local()
            return self.respond(200, await answer if inspect.isawaitable(answer) else answer)
        try:
            status, body, served_by = await self.router.forward(owner, request.raw_path, timeout)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return self.error(502, f"worker {owner}, owner of site {site!r}, did not answer: {exc!r}")
        response = self.respond(status, body)
        response.headers[WORKER_HEADER] = served_by
        return response

    def held_sites(self) -> list[str]:
        """Sites this worker owns now (memory may still hold sites of partitions it gave away)."""
        if not self.router.assigned():
            raise NotReady("no partition assignment yet (the group is rebalancing); retry")
        return sorted(s for s in self.engine.sites if self.router.is_self(self._owner(s)))

    async def everywhere(self, request: Any) -> list[tuple[int, dict[str, Any]]]:
        """The peers' answers (200 and 409: status, JSON) to the same request, for merging; none if forwarded."""
        if request.headers.get(ROUTED_HEADER):
            return []
        peers = self.router.peers()
        results = await asyncio.gather(*(self.router.forward(url, request.raw_path) for url in peers),
                                       return_exceptions=True)
        bodies = []
        for url, result in zip(peers, results, strict=True):
            if isinstance(result, BaseException):
                raise NotReady(f"worker {url} did not answer: {result!r}")
            status, body, _ = result
            if status in (200, 409):
                bodies.append((status, msgspec.json.decode(body)))
            elif status != 404:
                raise NotReady(f"worker {url} answered {status}: {body[:200]!r}")
        return bodies

    # --- endpoints -----------------------------------------------------------------------

    async def item(self, request: Any, site: str, item: str) -> aioweb.Response:
        _params(request, ())
        _key("item", item)
        return await self.for_site(request, site, lambda: queries.item_status(self.engine, site, item))

    async def mrp(self, request: Any, site: str, item: str) -> aioweb.Response:
        _params(request, ())
        _key("item", item)
        return await self.for_site(request, site, lambda: queries.mrp_record(self.engine, site, item))

    async def shortages(self, request: Any, site: str) -> aioweb.Response:
        _params(request, ())
        return await self.for_site(request, site, lambda: queries.shortages(self.engine, site))

    async def work_center_load(self, request: Any, site: str, work_center: str) -> aioweb.Response:
        _params(request, ())
        _key("work center", work_center)
        return await self.for_site(request, site,
                                   lambda: queries.work_center_load(self.engine, site, work_center))

    async def forecast(self, request: Any, site: str) -> aioweb.Response:
        """Fitted off the loop, in a thread, from a copy taken between batches: the worker keeps applying."""
        item = _params(request, ("item",)).get("item")

        async def compute() -> Any:
            snapshot = queries.forecast_snapshot(self.engine, site, item)
            return await asyncio.get_running_loop().run_in_executor(
                None, queries.forecast, snapshot, self.control, item is not None)

        return await self.for_site(request, site, compute, FORECAST_FORWARD_TIMEOUT)

    async def safety_stock(self, request: Any, site: str) -> aioweb.Response:
        item = _params(request, ("item",)).get("item")
        return await self.for_site(request, site, lambda: queries.safety_stock(self.engine, site, self.control, item))

    async def count_schedule(self, request: Any, site: str) -> aioweb.Response:
        text = _params(request, ("date",)).get("date")
        try:
            day = dt.date.fromisoformat(text) if text is not None else None
        except ValueError:
            raise BadRequest(f"date must be YYYY-MM-DD, got {text!r}") from None
        return await self.for_site(request, site,
                                   lambda: queries.count_schedule(self.engine, site, self.control, day))

    async def order(self, request: Any, order_id: str) -> aioweb.Response:
        params = _params(request, ("site", "kind"))
        _key("order id", order_id)
        kind, site = params.get("kind"), params.get("site")
        if kind not in (None, *queries.ORDER_KINDS):
            raise BadRequest(f"kind must be one of {', '.join(queries.ORDER_KINDS)}")
        if site is not None:
            return await self.for_site(request, site, lambda: queries.order(self.engine, order_id, site, kind))
        found = queries.find_orders(self.engine, order_id, self.held_sites(), kind)
        elsewhere: list[dict[str, Any]] = []   # matches of ambiguous answers from peers
        for status, body in await self.everywhere(request):
            if status == 200:
                found.append(body)
            else:
                elsewhere.extend(body.get("matches", []))
        if elsewhere:
            matches = [{"site": r["site"], "kind": r["kind"]} for r in found] + elsewhere
            raise queries.Ambiguous(f"{len(matches)} records have id {order_id!r}: narrow with ?site= or ?kind=",
                                    matches)
        return self.respond(200, queries.one_order(order_id, found))

    async def trace(self, request: Any, lot: str) -> aioweb.Response:
        params = _params(request, ("item", "site"))
        _key("lot", lot)
        item, site = params.get("item"), params.get("site")
        if site is not None:
            return await self.for_site(request, site, lambda: {
                "lot": lot, "traces": queries.lot_traces(self.engine, lot, item, [site])})
        try:
            traces = queries.lot_traces(self.engine, lot, item, self.held_sites())
        except queries.NotFound:
            traces = []
        for _status, body in await self.everywhere(request):
            traces.extend(body.get("traces", []))
        if not traces:
            raise queries.NotFound(f"unknown lot {lot!r}" + (f" of item {item!r}" if item else ""))
        traces.sort(key=lambda t: (t["site"], t["item"]))
        return self.respond(200, {"lot": lot, "traces": traces})


    async def status(self, request: Any) -> aioweb.Response:
        """Per site this worker owns (all it holds before any assignment): shortages, lag, busiest items;
        with the peers' answers merged in, a peer that does not answer listed with its error."""
        params = _params(request, ("top",))
        top = params.get("top", "5")
        if not (top.isascii() and top.isdigit()) or not 0 <= int(top) <= MAX_TOP:
            raise BadRequest(f"top must be a whole number from 0 to {MAX_TOP}")
        assigned = self.router.assigned()
        sites = [s for s in self.engine.sites if not assigned or self.router.owns(s)]
        partitions = self.router._partitions() or self.settings.partitions
        site_topics = {self.settings.topic(name) for name in INPUTS if name != "master"}
        local = site_status.local_status(self.metrics, self.router.url, sites,
                                         lambda s: site_partition(s, partitions), site_topics, int(top))
        if request.headers.get(ROUTED_HEADER):
            return self.respond(200, local)
        peers = self.router.peers()
        results = await asyncio.gather(*(self.router.forward(url, request.raw_path) for url in peers),
                                       return_exceptions=True)
        others: list[dict[str, Any]] = []
        for url, result in zip(peers, results, strict=True):
            if isinstance(result, BaseException):
                others.append({"workers": [{"worker": url, "error": repr(result)}]})
            elif result[0] != 200:
                others.append({"workers": [{"worker": url, "error": f"answered {result[0]}"}]})
            else:
                others.append(msgspec.json.decode(result[1]))
        return self.respond(200, site_status.merge(local, others))


def register_metrics_view(app: Any, metrics: Metrics) -> None:
    """``GET /metrics``: the worker's Prometheus metrics (text format; OpenMetrics if asked for)."""

    @app.page("/metrics")
    async def metrics_view(self: Any, request: Any) -> aioweb.Response:
        body, content_type = metrics_response(metrics, request.headers.get("Accept"))
        return aioweb.Response(body=body, headers={"Content-Type": content_type})


def register_views(app: Any, engine: Engine, settings: Settings, metrics: Metrics | None = None) -> None:
    """Add the query API, ``/status`` and (given metrics) ``/metrics`` to the worker's Faust web server."""
    router = SiteRouter(app, settings.topic("inventory"), token=settings.api_token)
    api = _Api(engine, router, settings, metrics)
    if metrics is not None:
        # per-site gauges from the owner only, so sums over workers count each site once
        metrics.owns = lambda site: not router.assigned() or router.owns(site)
        register_metrics_view(app, metrics)

    @app.page(ENDPOINTS[0])
    async def item_view(self: Any, request: Any, site: str, item: str) -> aioweb.Response:
        return await api.guarded(api.item(request, site, item))

    @app.page(ENDPOINTS[1])
    async def mrp_view(self: Any, request: Any, site: str, item: str) -> aioweb.Response:
        return await api.guarded(api.mrp(request, site, item))

    @app.page(ENDPOINTS[2])
    async def shortages_view(self: Any, request: Any, site: str) -> aioweb.Response:
        return await api.guarded(api.shortages(request, site))

    @app.page(ENDPOINTS[11])
    async def work_center_view(self: Any, request: Any, site: str, work_center: str) -> aioweb.Response:
        return await api.guarded(api.work_center_load(request, site, work_center))

    @app.page(ENDPOINTS[3])
    async def order_view(self: Any, request: Any, order_id: str) -> aioweb.Response:
        return await api.guarded(api.order(request, order_id))

    @app.page(ENDPOINTS[4])
    async def trace_view(self: Any, request: Any, lot: str) -> aioweb.Response:
        return await api.guarded(api.trace(request, lot))

    @app.page(ENDPOINTS[5])
    async def status_view(self: Any, request: Any) -> aioweb.Response:
        return await api.guarded(api.status(request))

    @app.page(ENDPOINTS[8])
    async def forecast_view(self: Any, request: Any, site: str) -> aioweb.Response:
        return await api.guarded(api.forecast(request, site))

    @app.page(ENDPOINTS[9])
    async def safety_stock_view(self: Any, request: Any, site: str) -> aioweb.Response:
        return await api.guarded(api.safety_stock(request, site))

    @app.page(ENDPOINTS[10])
    async def count_schedule_view(self: Any, request: Any, site: str) -> aioweb.Response:
        return await api.guarded(api.count_schedule(request, site))

    ingest = Ingest(settings)   # POST /events: events from scanners and MES (connectors/ingest.py)

    class EventsView(View):
        async def post(self, request: Any) -> aioweb.Response:
            return await ingest.handle(request)

    app.page(ENDPOINTS[7])(EventsView)

    app.web.web_app.middlewares.append(_json_for_unmatched)
    app.web.web_app.middlewares.insert(0, access_guard(settings))   # outermost: before any view or lookup
    app.web.web_app.on_response_prepare.append(_no_sniffing)


def inert_json(data: bytes) -> bytes:
    """Encoded JSON with ``<``, ``>`` and ``&`` as ``\\u`` escapes (they only occur inside strings there).

    The same document to a JSON parser; to anything that takes it for HTML, echoed input stays text.
    """
    return data.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


def json_error(status: int, message: str, **headers: str) -> aioweb.Response:
    return aioweb.Response(body=inert_json(encode_json({"error": message})), status=status,
                           content_type="application/json", headers=headers)


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether ``Authorization: Bearer <token>`` carries ``token``, compared in constant time.

    Both sides are hashed first, so the comparison takes as long whatever the
    length or the prefix of what was sent.
    """
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(),
                               hashlib.sha256(token.encode()).digest())


def access_guard(settings: Settings) -> Any:
    """Middleware: URL length, bodies where none is taken, and the bearer token (``api_token``)."""

    @aioweb.middleware
    async def guard(request: aioweb.Request, handler: Any) -> aioweb.StreamResponse:
        if len(request.raw_path) > MAX_URL_BYTES:
            return json_error(414, f"URL over {MAX_URL_BYTES} bytes; keys are at most {MAX_KEY} characters")
        if request.path in SELF_GUARDED:
            return await handler(request)
        if request.body_exists and (request.content_length is None or request.content_length > MAX_QUERY_BODY):
            return json_error(413, f"this path takes no request body (at most {MAX_QUERY_BODY} bytes)")
        if settings.api_token and (request.path != ENDPOINTS[6] or settings.metrics_auth):
            if not request.headers.get("Authorization"):
                return json_error(401, "a bearer token is required: Authorization: Bearer <api_token>",
                                  **{"WWW-Authenticate": 'Bearer realm="millstream"'})
            if not bearer_matches(request.headers.get("Authorization"), settings.api_token):
                return json_error(401, "wrong bearer token",
                                  **{"WWW-Authenticate": 'Bearer realm="millstream", error="invalid_token"'})
        return await handler(request)

    return guard


async def _no_sniffing(_request: aioweb.Request, response: aioweb.StreamResponse) -> None:
    """Browsers must take every answer for what its Content-Type says (JSON, the metrics' text), never HTML."""
    response.headers["X-Content-Type-Options"] = "nosniff"


@aioweb.middleware
async def _json_for_unmatched(request: aioweb.Request, handler: Any) -> aioweb.StreamResponse:
    """A path no view serves is a bad request, answered in JSON like every other error."""
    try:
        return await handler(request)
    except aioweb.HTTPException as exc:
        if request.match_info.http_exception is None:
            raise
        status = 400 if exc.status == 404 else exc.status
        message = f"no endpoint {request.path!r}; endpoints: {', '.join(ENDPOINTS)}" if status == 400 else exc.reason
        return json_error(status, message)
