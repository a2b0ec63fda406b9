"""Serving a model over HTTP: a JSON API in front of a batching decoder.

The HTTP server (:func:`make_server`) is the standard library's
``ThreadingHTTPServer``: one thread per connection parses and validates the
request, then hands the question to a :class:`BatchingDecoder`, whose single
worker thread is the only one that ever calls Theano. Questions that arrive
within a few milliseconds of each other with identical decoding options are
decoded as one batch, so concurrent clients share the encoder and decoder
steps instead of queueing behind each other.

API::

    POST /reply   {"text": "how are you?", "strategy": "beam", "beam": 5, "nbest": 3}
              ->  {"reply": "...", "nbest": [{"text", "score", "log_prob",
                   "mean_log_prob"}, ...], "unknown": [...]}
    GET /health -> {"status": "ok", "model": ..., "requests": ..., ...}

Every key besides ``text`` is a :class:`~lasagne_seq2seq.decode.options.DecodeOptions`
field. Bad requests get a 400 with ``{"error": "<one-line reason>"}``, unknown
paths a 404, a full queue a 503; the server keeps serving.
"""
import dataclasses
import json
import math
import queue
import sys
import threading
import time
import traceback
from concurrent.futures import Future, TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.errors import Seq2SeqError


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
        Seconds a request waits for its reply before a 503.
    """
    max_chars: int = 1000
    max_beam: int = 20
    max_reply_len: int = 100
    timeout: float = 60.0

    @property
    def max_body_bytes(self):
        # A character is at most 6 bytes of JSON ("\\uXXXX"); leave room for options.
        return 6 * self.max_chars + 4096


class ServerBusy(Exception):
    """The decoding queue is full or a reply took longer than the timeout."""


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
        """Queue one question; returns a Future of its n-best replies."""
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
        """Questions with equal keys are decoded together."""
        options = item[1]
        key = tuple(sorted(dataclasses.asdict(options).items()))
        if options.strategy == "sample" and options.seed is not None:
            # Batched rows share one generator: a seeded request is decoded
            # alone so that its reply depends on its seed only.
            return key, id(item)
        return key

    def _decode_group(self, group):
        """Decode questions that share their options; failures go to their futures."""
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


class ReplyHandler(BaseHTTPRequestHandler):
    """``POST /reply`` and ``GET /health``; the server carries the state."""
    server_version = "lasagne_seq2seq"
    # Seconds a client may stall mid-request before its connection is dropped.
    timeout = 30

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/health":
            self._send(200, self.server.health())
        elif path == "/reply":
            self._send(405, {"error": "use POST /reply with a JSON body"})
        else:
            self._not_found(path)

    def do_POST(self):
        path = urlsplit(self.path).path
        if path != "/reply":
            return self._not_found(path)
        server = self.server
        try:
            text, options = parse_request(self._read_body(), server.limits,
                                          server.has_lm, server.has_backward)
            replies = server.batcher.decode(text, options, server.limits.timeout)
        except Seq2SeqError as error:
            return self._send(400, {"error": str(error)})
        except ServerBusy as error:
            return self._send(503, {"error": str(error)})
        except Exception:  # a bug: log it, answer, keep serving
            server.log(traceback.format_exc().rstrip())
            return self._send(500, {"error": "internal error (logged by the server)"})
        self._send(200, reply_json(replies))

    def _read_body(self):
        limit = self.server.limits.max_body_bytes
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunks(limit)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise Seq2SeqError("a Content-Length header (or a chunked body) is required")
        if not 0 <= length <= limit:
            # Drain what the client sends so it reads our answer, not a reset.
            self.rfile.read(min(max(length, 0), 1 << 20))
            self.close_connection = True
            raise Seq2SeqError("the body is %d bytes; this server takes at most %d"
                               % (length, limit))
        return self.rfile.read(length)

    def _read_chunks(self, limit):
        """A ``Transfer-Encoding: chunked`` body of at most ``limit`` bytes."""
        body = b""
        while True:
            try:
                size = int(self.rfile.readline(80).split(b";")[0], 16)
            except ValueError:
                self.close_connection = True
                raise Seq2SeqError("the chunked body is malformed")
            if len(body) + size > limit:
                self.close_connection = True
                raise Seq2SeqError("the body is over %d bytes; this server takes at most %d"
                                   % (limit, limit))
            if size == 0:
                while self.rfile.readline(1024).strip():  # optional trailer lines
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline(8)  # the CRLF closing the chunk

    def _not_found(self, path):
        self._send(404, {"error": "no such path %s: use POST /reply or GET /health" % path})

    def _send(self, status, value):
        body = json.dumps(value, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        self.server.log("%s %s" % (self.address_string(), format % args))


class ReplyServer(ThreadingHTTPServer):
    """An HTTP server bound to one :class:`BatchingDecoder` (see :func:`make_server`)."""
    # server_close() waits for the requests in flight, so stopping answers them.
    daemon_threads = False

    def __init__(self, address, batcher, limits, name, has_lm, has_backward, log):
        super().__init__(address, ReplyHandler)
        self.batcher, self.limits, self.name = batcher, limits, name
        self.has_lm, self.has_backward, self.log = has_lm, has_backward, log
        self.started = time.time()

    def health(self):
        return {"status": "ok", "model": self.name, "requests": self.batcher.requests,
                "batches": self.batcher.batches, "pending": self.batcher.pending,
                "uptime_s": round(time.time() - self.started, 1)}


def make_server(batcher, limits=None, host="127.0.0.1", port=8080, name="model",
                has_lm=False, has_backward=False, log=None):
    """An HTTP server answering ``POST /reply`` with ``batcher``; call ``serve_forever()``.

    Parameters
    ----------
    batcher : BatchingDecoder
    limits : ServingLimits, optional
    host : str
        The address to listen on; loopback by default.
    port : int
        0 picks a free port (read it from ``server.server_address[1]``).
    name : str
        The model's name for ``GET /health``.
    has_lm, has_backward : bool
        Whether the decoder holds an LM / a backward model.
    log : callable, optional
        Takes one line per request; stderr by default.

    Returns
    -------
    ReplyServer

    Raises
    ------
    Seq2SeqError
        If the address cannot be bound (port in use, unknown host).
    """
    def to_stderr(line):
        print(line, file=sys.stderr, flush=True)
    try:
        return ReplyServer((host, port), batcher, limits or ServingLimits(), name,
                           has_lm, has_backward, log or to_stderr)
    except OSError as error:
        raise Seq2SeqError("cannot listen on %s:%d (%s): pick another --port or --host"
                           % (host, port, error.strerror or error))
