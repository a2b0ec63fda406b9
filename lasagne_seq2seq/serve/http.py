"""Serving a model over HTTP: a JSON API in front of a batching decoder.

HTTP/1.1 is parsed by uvicorn's h11 protocol (request line, headers, chunk
sizes, body framing: a malformed request gets a JSON 400 and its connection
closed); :class:`ReplyApp` is a bare ASGI application, so the only HTTP code
here is the two routes and the checks before them. The event loop reads and
validates requests and hands each question to a :class:`BatchingDecoder`,
whose single worker thread is the only one that ever calls Theano. Questions
that arrive within a few milliseconds of each other with identical decoding
options are decoded as one batch, so concurrent clients share the encoder
and decoder steps instead of queueing behind each other.

API::

    POST /reply   {"text": "how are you?", "strategy": "beam", "beam": 5, "nbest": 3}
              ->  {"reply": "...", "nbest": [{"text", "score", "log_prob",
                   "mean_log_prob"}, ...], "unknown": [...]}
    GET /health -> {"status": "ok", "model": ..., "requests": ..., ...}

Every key besides ``text`` is a :class:`~lasagne_seq2seq.decode.options.DecodeOptions`
field. Every answer is JSON; errors are ``{"error": "<one-line reason>"}``: 400
for a bad request, 401 without the token, 403 for a foreign ``Origin`` or a
``Host`` that is not this loopback server (DNS rebinding), 404 and 405 for
other paths and methods, 408 for a body that does not arrive in time, 413 for
one over the limit (whatever its transfer encoding), 503 when the queue or
the connections are full or the reply misses the request's deadline. The
server keeps serving.
"""
import asyncio
import dataclasses
import hmac
import ipaddress
import json
import math
import queue
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import Future, TimeoutError as FutureTimeout

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.errors import Seq2SeqError

#: The environment variable that holds the token when ``--token`` is not given.
TOKEN_VARIABLE = "LASAGNE_SEQ2SEQ_TOKEN"
# Bytes of an oversized body read (and dropped) before answering 413, so that
# the client reads the answer instead of a reset; beyond it the connection closes.
_DRAIN_BYTES = 1 << 20


@dataclasses.dataclass
class ServingLimits:
    """What one request may ask for (each a ``bin/serve.py`` flag).

    Attributes
    ----------
    max_chars : int
        Longest ``text`` in characters (``--max-chars``).
    max_beam : int
        Largest ``beam`` and ``nbest`` (``--max-beam``).
    max_reply_len : int
        Largest ``max_len`` in tokens (``--max-reply-len``).
    timeout : float
        Seconds from a request's arrival to its answer (``--timeout``): a
        body still arriving then gets a 408, a reply still decoding a 503.
    """
    max_chars: int = 1000
    max_beam: int = 20
    max_reply_len: int = 100
    timeout: float = 30.0

    @property
    def max_body_bytes(self):
        # A character is at most 6 bytes of JSON ("\\uXXXX"); leave room for options.
        return 6 * self.max_chars + 4096


class ServerBusy(Exception):
    """The decoding queue is full or a reply took longer than the timeout."""


class _Refused(Exception):
    """A request answered with an error: its status, one-line reason, headers."""

    def __init__(self, status, reason, headers=()):
        super().__init__(reason)
        self.status, self.headers = status, list(headers)


class BatchingDecoder(object):
    """Decode questions from many threads on one worker thread, in batches.

    Parameters
    ----------
    decoder : Decoder
        Its compiled functions are only ever called from the worker thread.
    window : float
        Seconds to wait after a question for others to batch with it.
    max_batch : int
        Most questions decoded together.
    max_pending : int
        Most questions waiting; more raise :class:`ServerBusy`.

    Examples
    --------
    >>> batcher = BatchingDecoder(Decoder(net, vocab, config))  # doctest: +SKIP
    >>> batcher.decode("hi", DecodeOptions())[0].text           # doctest: +SKIP
    'hello.'
    >>> batcher.close()                                         # doctest: +SKIP
    """

    def __init__(self, decoder, window=0.005, max_batch=32, max_pending=1024):
        self.decoder, self.window, self.max_batch = decoder, window, max_batch
        self.requests = self.batches = 0
        self._queue = queue.Queue(maxsize=max_pending)
        self._worker = threading.Thread(target=self._run, name="decoder", daemon=True)
        self._worker.start()

    def submit(self, text, options):
        """Queue one question; returns a Future of its n-best replies.

        Cancelling the future before its batch starts drops the question.
        """
        future = Future()
        try:
            self._queue.put_nowait((text, options, future))
        except queue.Full:
            raise ServerBusy("%d questions are waiting already: retry later"
                             % self._queue.maxsize)
        return future

    def decode(self, text, options, timeout=None):
        """The n-best replies to ``text`` (list of Reply), waiting at most ``timeout`` s."""
        try:
            return self.submit(text, options).result(timeout)
        except FutureTimeout:
            raise ServerBusy("no reply within %g s: the server is overloaded" % timeout)

    @property
    def pending(self):
        return self._queue.qsize()

    def close(self):
        """Finish the queued questions, then stop the worker."""
        self._queue.put(None)
        self._worker.join()

    def _collect(self):
        """Block for one question, then gather those arriving within the window.

        Returns
        -------
        batch : list of (text, options, future)
        stop : bool
            :meth:`close` was called; the worker ends after this batch.
        """
        first = self._queue.get()
        if first is None:
            return [], True
        batch, deadline = [first], time.monotonic() + self.window
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self):
        stop = False
        while not stop:
            batch, stop = self._collect()
            groups = {}
            for item in batch:
                groups.setdefault(self._group_key(item), []).append(item)
            for group in groups.values():
                self._decode_group(group)

    @staticmethod
    def _group_key(item):
        """Questions with equal keys are decoded together (sampled ones too:
        each question draws from its own seeded stream)."""
        return tuple(sorted(dataclasses.asdict(item[1]).items()))

    def _decode_group(self, group):
        """Decode questions that share their options; failures go to their futures."""
        # Questions whose request gave up (deadline, client gone) are not decoded.
        group = [item for item in group if item[2].set_running_or_notify_cancel()]
        if not group:
            return
        texts, options, futures = zip(*group)
        try:
            results = self.decoder.decode(list(texts), options[0])
        except Exception as error:  # handed to the waiting request threads
            for future in futures:
                future.set_exception(error)
            return
        self.requests += len(group)
        self.batches += 1
        for future, replies in zip(futures, results):
            future.set_result(replies)


def parse_request(body, limits, has_lm=False, has_backward=False):
    """Validate a ``POST /reply`` body.

    Parameters
    ----------
    body : bytes
        The request body: a JSON object with ``text`` and optional
        :class:`~lasagne_seq2seq.decode.options.DecodeOptions` fields.
    limits : ServingLimits
    has_lm, has_backward : bool
        Whether the server holds the models that anti-LM and MMI-bidi need.

    Returns
    -------
    text : str
    options : DecodeOptions

    Raises
    ------
    Seq2SeqError
        With a one-line reason, for every invalid body.

    Examples
    --------
    >>> parse_request(b'{"text": "hi", "strategy": "beam", "beam": 3}', ServingLimits())[1].beam
    3
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise Seq2SeqError("the body is not valid UTF-8 JSON (%s)" % str(error).splitlines()[0])
    if not isinstance(payload, dict):
        raise Seq2SeqError('the body must be a JSON object such as {"text": "hi"}')
    text = payload.pop("text", None)
    if not isinstance(text, str):
        raise Seq2SeqError('"text" is %s: give the question as a JSON string'
                           % ("missing" if text is None else "a %s" % type(text).__name__))
    if not text.strip():
        raise Seq2SeqError('"text" is empty')
    if len(text) > limits.max_chars:
        raise Seq2SeqError('"text" has %d characters; this server takes at most %d'
                           % (len(text), limits.max_chars))
    options = DecodeOptions.from_dict(payload)
    options.validate(has_lm=has_lm, has_backward=has_backward)
    # Greedy and plain sampling never use the beam width (its default is 10).
    uses_beam = options.strategy == "beam" or options.mmi_bidi_lambda > 0
    if max(options.beam if uses_beam else 1, options.nbest) > limits.max_beam:
        raise Seq2SeqError('"beam" and "nbest" may be at most %d on this server' % limits.max_beam)
    if options.max_len is not None and options.max_len > limits.max_reply_len:
        raise Seq2SeqError('"max_len" may be at most %d on this server' % limits.max_reply_len)
    return text, options


def _finite(value):
    """A float for JSON: NaN and infinities (not valid JSON) become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def reply_json(replies):
    """The response body for one question's n-best replies (best first)."""
    return {
        "reply": replies[0].text if replies else "",
        "nbest": [{"text": reply.text, "score": _finite(reply.score),
                   "log_prob": _finite(reply.log_prob),
                   "mean_log_prob": _finite(reply.mean_log_prob)} for reply in replies],
        "unknown": replies[0].unknown if replies else [],
    }


def printable(text):
    r"""``text`` with backslashes, control and non-ASCII characters escaped, for a log line.

    Examples
    --------
    >>> print(printable("/a\x1b[31m\nfake line"))
    /a\x1b[31m\nfake line
    """
    return text.encode("unicode_escape").decode("ascii")


def is_loopback_host(value, port):
    """Whether a ``Host`` header names a loopback server listening on ``port``.

    Parameters
    ----------
    value : str
        ``localhost``, ``127.x.x.x`` or ``[::1]``, optionally with ``:port``.
    port : int

    Examples
    --------
    >>> is_loopback_host("localhost:8080", 8080), is_loopback_host("[::1]", 8080)
    (True, True)
    >>> is_loopback_host("evil.example:8080", 8080), is_loopback_host("127.0.0.1:80", 8080)
    (False, False)
    """
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return False
        given = rest[1:] if rest else None
    else:
        name, colon, given = value.partition(":")
        given = given if colon else None
    if given is not None and given != str(port):
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _json_body(value):
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _json_headers(body, close=False):
    headers = [(b"content-type", b"application/json; charset=utf-8"),
               (b"content-length", str(len(body)).encode("ascii"))]
    return headers + [(b"connection", b"close")] if close else headers


class ReplyApp(object):
    """The ASGI application: ``POST /reply`` and ``GET /health`` behind access checks.

    Parameters
    ----------
    batcher : BatchingDecoder
    limits : ServingLimits
    name : str
        The model's name for ``GET /health``.
    has_lm, has_backward : bool
        Whether the decoder holds an LM / a backward model.
    log : callable
        Takes one line per request (control characters escaped).
    loopback : bool
        The server listens on a loopback address: only loopback ``Host``
        names are answered, so a foreign web page cannot reach it through
        DNS rebinding.
    token : str, optional
        Every request needs ``Authorization: Bearer <token>``.
    allow_origins : sequence of str
        Origins (``https://app.example``) whose browser pages may call the
        API (CORS); a request with any other ``Origin`` gets a 403.
    max_connections : int
        Connections beyond this many get a 503 to their first request.
    """

    def __init__(self, batcher, limits, name, has_lm, has_backward, log, loopback,
                 token=None, allow_origins=(), max_connections=1024):
        self.batcher, self.limits, self.name = batcher, limits, name
        self.has_lm, self.has_backward, self.log = has_lm, has_backward, log
        self.loopback, self.token = loopback, token
        self.allow_origins = frozenset(origin.encode("latin-1") for origin in allow_origins)
        self.max_connections = max_connections
        self.started = time.time()

    async def __call__(self, scope, receive, send):
        started = time.monotonic()
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        extra = []
        if origin is not None and origin in self.allow_origins:
            extra = [(b"access-control-allow-origin", origin), (b"vary", b"origin")]
        try:
            status, value = await self._respond(scope, receive, headers, started)
        except _Refused as refused:
            status, value = refused.status, {"error": str(refused)}
            extra += refused.headers
        except _ClientGone:
            return
        except Exception:  # a bug: log it, answer, keep serving
            self.log(traceback.format_exc().rstrip())
            status, value = 500, {"error": "internal error (logged by the server)"}
        await self._send(send, status, value, extra)
        self.log('%s "%s %s" %d %.1f ms' % (
            self._client(scope), scope["method"], printable(scope["path"]), status,
            1000 * (time.monotonic() - started)))

    async def _respond(self, scope, receive, headers, started):
        """``(status, JSON value)`` of one request; raises :class:`_Refused`."""
        self._check_access(scope, headers)
        method, path = scope["method"], scope["path"]
        if method == "OPTIONS" and b"origin" in headers and path in ("/reply", "/health"):
            return 204, None
        self._check_token(headers)
        if path == "/health" and method == "GET":
            return 200, self.health()
        if path == "/reply" and method == "POST":
            return 200, await self._reply(receive, headers, started)
        if path in ("/reply", "/health"):
            allowed = "POST" if path == "/reply" else "GET"
            raise _Refused(405, "use %s %s%s" % (allowed, path, " with a JSON body"
                                                 if path == "/reply" else ""),
                           [(b"allow", allowed.encode("ascii"))])
        raise _Refused(404, "no such path %s: use POST /reply or GET /health" % printable(path))

    def _check_access(self, scope, headers):
        """Refuse foreign Host names on loopback and origins not allowed."""
        host = headers.get(b"host")
        if (self.loopback and host is not None
                and not is_loopback_host(host.decode("latin-1"), scope["server"][1])):
            raise _Refused(403, "Host %s is not this loopback server: connect to localhost, "
                                "127.0.0.1 or [::1] (foreign names are refused against DNS "
                                "rebinding)" % printable(host.decode("latin-1")))
        origin = headers.get(b"origin")
        if origin is not None and origin not in self.allow_origins:
            raise _Refused(403, "requests from the web page origin %s are refused: start the "
                                "server with --allow-origin %s to permit it"
                           % ((printable(origin.decode("latin-1")),) * 2))

    def _check_token(self, headers):
        if self.token is None:
            return
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if not (scheme.lower() == b"bearer"
                and hmac.compare_digest(given.strip(), self.token.encode("utf-8"))):
            raise _Refused(401, "this server needs its token: send the header "
                                "'Authorization: Bearer TOKEN' (the server's --token or %s)"
                           % TOKEN_VARIABLE, [(b"www-authenticate", b"Bearer")])

    async def _reply(self, receive, headers, started):
        """The reply to a ``POST /reply``, within the request's deadline."""
        timeout = self.limits.timeout
        try:
            body = await asyncio.wait_for(self._read_body(receive, headers), timeout)
        except asyncio.TimeoutError:
            raise _Refused(408, "the body did not arrive within %g s" % timeout,
                           [(b"connection", b"close")])
        try:
            text, options = parse_request(body, self.limits, self.has_lm, self.has_backward)
            future = self.batcher.submit(text, options)
        except Seq2SeqError as error:
            raise _Refused(400, str(error))
        except ServerBusy as error:
            raise _Refused(503, str(error), [(b"retry-after", b"1")])
        remaining = max(started + timeout - time.monotonic(), 0)
        try:
            # A timeout cancels the future: the worker then skips the question.
            replies = await asyncio.wait_for(asyncio.wrap_future(future), remaining)
        except asyncio.TimeoutError:
            raise _Refused(503, "no reply within %g s: the server is overloaded" % timeout,
                           [(b"retry-after", b"1")])
        except Seq2SeqError as error:
            raise _Refused(400, str(error))
        return reply_json(replies)

    async def _read_body(self, receive, headers):
        """The request body, refused (413) over ``limits.max_body_bytes``."""
        limit = self.limits.max_body_bytes
        length = headers.get(b"content-length")
        if length is None and b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            raise _Refused(400, "a Content-Length header (or a chunked body) is required")
        declared = None if length is None else int(length)  # h11 accepts digits only
        body, received, more = bytearray(), 0, True
        # Read on past the limit only to drain what the client sends anyway.
        while more and received <= _DRAIN_BYTES and (declared or 0) <= _DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received <= limit:
                body += chunk
            more = message.get("more_body", False)
        if (declared or 0) > limit:
            raise _Refused(413, "the body is %d bytes; this server takes at most %d"
                           % (declared, limit), [(b"connection", b"close")])
        if received > limit:
            raise _Refused(413, "the body is over %d bytes; this server takes at most %d"
                           % (limit, limit), [(b"connection", b"close")])
        return bytes(body)

    def health(self):
        return {"status": "ok", "model": self.name, "requests": self.batcher.requests,
                "batches": self.batcher.batches, "pending": self.batcher.pending,
                "uptime_s": round(time.time() - self.started, 1)}

    async def over_capacity(self, scope, receive, send):
        """The ASGI app of a connection beyond ``max_connections``: a 503, then close."""
        await self._send(send, 503, {"error": "%d connections are open already: retry later"
                                              % self.max_connections},
                         [(b"connection", b"close"), (b"retry-after", b"1")])
        self.log('%s "%s %s" 503 (over %d connections)' % (
            self._client(scope), scope["method"], printable(scope["path"]),
            self.max_connections))

    @staticmethod
    async def _send(send, status, value, headers=()):
        if value is None:  # a CORS preflight
            headers = list(headers) + [
                (b"access-control-allow-methods", b"GET, POST"),
                (b"access-control-allow-headers", b"authorization, content-type"),
                (b"access-control-max-age", b"600"), (b"content-length", b"0")]
            body = b""
        else:
            body = _json_body(value)
            headers = _json_headers(body) + list(headers)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _client(scope):
        client = scope.get("client")
        return "%s:%d" % tuple(client) if client else "-"


class _ClientGone(Exception):
    """The client closed its connection before the request was answered."""


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with JSON error pages and a bound on connections."""

    def connection_made(self, transport):
        super().connection_made(transport)
        app = self.config.loaded_app
        # uvicorn's limit_concurrency refuses in plain text: the same bound, in JSON.
        if len(self.connections) > app.max_connections:
            self.app = app.over_capacity
        # A connection that never sends a request is closed like an idle keep-alive one.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                            self.timeout_keep_alive_handler)

    def send_400_response(self, msg):
        """Answer a request h11 cannot parse with a JSON 400, then close."""
        body = _json_body({"error": "malformed HTTP request (request line, headers, chunk "
                                    "sizes or body framing): fix the client"})
        for event in (h11.Response(status_code=400, headers=_json_headers(body, close=True),
                                   reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
        client = "%s:%d" % tuple(self.client) if self.client else "-"
        self.config.loaded_app.log("%s malformed HTTP request: 400" % client)


class ReplyServer(object):
    """uvicorn serving a :class:`ReplyApp` on a bound socket (see :func:`make_server`).

    Attributes
    ----------
    app : ReplyApp
    server_address : tuple
        The bound address; its port is the one picked when 0 was asked for.
    """

    def __init__(self, app, sock, backlog):
        self.app, self._socket = app, sock
        self.server_address = sock.getsockname()
        config = uvicorn.Config(
            app, http=_Protocol, ws="none", lifespan="off", interface="asgi3", loop="asyncio",
            # No proxy in front: X-Forwarded-* headers are not trusted.
            proxy_headers=False, server_header=False, access_log=False, log_config=None,
            log_level="error", backlog=backlog,
            # Stopping answers the requests in flight, within their deadline.
            timeout_graceful_shutdown=math.ceil(app.limits.timeout))
        self._server = uvicorn.Server(config)
        self._stopped = threading.Event()

    def serve_forever(self):
        """Serve until :meth:`shutdown` (or, in the main thread, SIGINT / SIGTERM).

        uvicorn stops gracefully on a signal, then raises it again, so a
        SIGTERM handler of the caller's runs once the server has stopped.
        """
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._stopped.set()

    def shutdown(self):
        """Stop :meth:`serve_forever` (from another thread) and wait for it."""
        self._server.should_exit = True
        self._stopped.wait()

    def server_close(self):
        self._socket.close()


def make_server(batcher, limits=None, host="127.0.0.1", port=8080, name="model",
                has_lm=False, has_backward=False, log=None, token=None, allow_origins=(),
                max_connections=1024, backlog=2048):
    """An HTTP server answering ``POST /reply`` with ``batcher``; call ``serve_forever()``.

    Parameters
    ----------
    batcher : BatchingDecoder
    limits : ServingLimits, optional
    host : str
        The address to listen on; loopback by default. Any other address
        needs a ``token``.
    port : int
        0 picks a free port (read it from ``server.server_address[1]``).
    name : str
        The model's name for ``GET /health``.
    has_lm, has_backward : bool
        Whether the decoder holds an LM / a backward model.
    log : callable, optional
        Takes one line per request; stderr by default.
    token : str, optional
        Required of every request as ``Authorization: Bearer <token>``.
    allow_origins : sequence of str
        Web page origins allowed to call the API from a browser (CORS).
    max_connections : int
        Open connections beyond this many get a 503.
    backlog : int
        Connections the kernel queues before they are accepted (capped by
        ``net.core.somaxconn``).

    Returns
    -------
    ReplyServer

    Raises
    ------
    Seq2SeqError
        If the address cannot be bound (port in use, unknown host), or is
        not loopback and no token is given.
    """
    def to_stderr(line):
        print(line, file=sys.stderr, flush=True)
    if not 0 <= port <= 65535:
        raise Seq2SeqError("--port %d is not a TCP port: pick one in 0-65535 (0: any free one)"
                           % port)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise Seq2SeqError("cannot listen on %s:%d (%s): pick another --host"
                           % (host, port, error.strerror or error))
    loopback = ipaddress.ip_address(address[0]).is_loopback
    if not (loopback or token):
        sock.close()
        raise Seq2SeqError("--host %s is not a loopback address, so anyone who reaches it could "
                           "use the model: give --token (or set %s), or serve on 127.0.0.1"
                           % (host, TOKEN_VARIABLE))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # Listening now: connections made before serve_forever() starts wait in the queue.
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise Seq2SeqError("cannot listen on %s:%d (%s): pick another --port or --host"
                           % (host, port, error.strerror or error))
    app = ReplyApp(batcher, limits or ServingLimits(), name, has_lm, has_backward,
                   log or to_stderr, loopback, token, allow_origins, max_connections)
    return ReplyServer(app, sock, backlog)
