"""Serving: the real HTTP server on a free loopback port answers a model that
learned to reverse phrases, refuses every bad request with a 400 and keeps
serving, batches concurrent requests without mixing them up, and the chat
keeps or forgets the conversation."""
import contextlib
import io
import json
import random
import re
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from lasagne_seq2seq.config import RunConfig
from lasagne_seq2seq.decode.options import DecodeOptions
from lasagne_seq2seq.decode.decoder import Decoder, Reply
from lasagne_seq2seq.errors import Seq2SeqError
from lasagne_seq2seq.serve.export import export_model, load_exported
from lasagne_seq2seq.serve.http import (BatchingDecoder, ServingLimits, make_server,
                                        parse_request)
from lasagne_seq2seq.serve.chat import run_chat
from lasagne_seq2seq.train.run import train_run

ROOT = Path(__file__).resolve().parents[1]
LETTERS = "abcdefghijkl"
LIMITS = ServingLimits(max_chars=200, max_beam=8, max_reply_len=20)


def phrases(count, seed):
    """Random three-letter-word phrases, e.g. ``"k a c"``."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(LETTERS) for _ in range(3)) for _ in range(count)]


def reversed_phrase(text):
    return " ".join(reversed(text.split()))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny v1 LSTM that learned to reverse 3-word phrases (~25 s), exported.

    The words are 12 letters, so 2,000 pairs teach the task in 4 epochs; the
    original toy corpus's 5,500-word vocabulary would need far longer.
    """
    root = tmp_path_factory.mktemp("serving")
    corpus = root / "reverse.txt"
    corpus.write_text("".join("%s\n%s\n" % (p, reversed_phrase(p)) for p in phrases(2000, 0)))
    config = RunConfig()
    config.data.corpus, config.data.format, config.data.pairing = str(corpus), "plain", "alternate"
    config.data.max_src_len = config.data.max_tgt_len = 4
    config.data.valid_fraction, config.data.test_fraction = 0.05, 0.0
    config.model.embedding_size = config.model.hidden_size = 32
    config.model.reverse_source = False
    config.train.batch_size, config.train.buckets, config.train.epochs = 32, 1, 4
    config.train.validate_every, config.train.sample_every = 100, 0
    config.train.learning_rate = 0.01
    run_dir = str(root / "run")
    train_run(config, run_dir, progress_bar=False, log=lambda line: None)
    exported = str(root / "reverse.npz")
    export_model(run_dir, exported)
    return run_dir, exported


@pytest.fixture(scope="module")
def server(model):
    """The HTTP server on a free loopback port, in a background thread."""
    config, vocab, net = load_exported(model[1])
    batcher = BatchingDecoder(Decoder(net, vocab, config), window=0.005, max_batch=32)
    http = make_server(batcher, LIMITS, "127.0.0.1", 0, name="reverse", log=lambda line: None)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % http.server_address[1], batcher
    http.shutdown()
    http.server_close()
    batcher.close()


def call(url, body=None, method=None, headers=None):
    """``(status, headers, parsed JSON)`` of a request; ``body`` is bytes or a JSON value."""
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def request(url, body=None, method=None, headers=None):
    """``(status, parsed JSON)`` of a request (see :func:`call`)."""
    status, _, value = call(url, body, method, headers)
    return status, value


def test_health(server):
    status, body = request(server[0] + "/health")
    assert status == 200 and body["status"] == "ok" and body["model"] == "reverse"


def test_replies_reverse_the_phrase(server):
    status, body = request(server[0] + "/reply", {"text": "a b c"})
    assert status == 200, body
    assert body["reply"] == "c b a" and body["unknown"] == []
    assert [entry["text"] for entry in body["nbest"]] == ["c b a"]
    best = body["nbest"][0]
    assert best["log_prob"] <= 0 and best["mean_log_prob"] <= 0
    assert isinstance(best["score"], float)
    held_out = phrases(20, 1)
    answers = [request(server[0] + "/reply", {"text": p})[1]["reply"] for p in held_out]
    assert np.mean([a == reversed_phrase(p) for a, p in zip(answers, held_out)]) >= 0.9


def test_unknown_words_are_reported(server):
    status, body = request(server[0] + "/reply", {"text": "a zebra c"})
    assert status == 200 and body["unknown"] == ["zebra"]


def test_beam_returns_distinct_nbest_best_first(server):
    status, body = request(server[0] + "/reply", {"text": "a b c", "strategy": "beam",
                                                  "beam": 5, "nbest": 3})
    assert status == 200, body
    texts = [entry["text"] for entry in body["nbest"]]
    scores = [entry["score"] for entry in body["nbest"]]
    assert body["reply"] == texts[0] == "c b a"
    assert len(texts) == 3 == len(set(texts)) and scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not valid UTF-8 JSON"),
    (b"\xff\xfe", "not valid UTF-8 JSON"),
    (["a b c"], "must be a JSON object"),
    ({}, '"text" is missing'),
    ({"text": 3}, '"text" is a int'),
    ({"text": None}, '"text" is missing'),
    ({"text": "  "}, '"text" is empty'),
    ({"text": "a " * 101}, "at most 200"),
    ({"text": "a", "beams": 3}, "unknown decoding option beams"),
    ({"text": "a", "beam": "3"}, "decoding option beam must be int"),
    ({"text": "a", "strategy": "beam", "beam": 0}, "--beam must be at least 1"),
    ({"text": "a", "strategy": "beam", "beam": 2, "nbest": 3}, "exceeds --beam"),
    ({"text": "a", "strategy": "beam", "beam": 9}, '"beam" and "nbest" may be at most 8'),
    ({"text": "a", "max_len": 21}, '"max_len" may be at most 20'),
    ({"text": "a", "strategy": "sample", "temperature": 0}, "--temperature must be > 0"),
    ({"text": "a", "strategy": "sample", "top_p": 1.5}, "--top-p must be in (0, 1]"),
    ({"text": "a", "strategy": "nucleus"}, "--strategy must be one of"),
    ({"text": "a", "antilm_lambda": 0.5}, "needs a language model"),
    ({"text": "a", "strategy": "beam", "mmi_bidi_lambda": 0.5}, "needs a backward model"),
])
def test_bad_requests_get_a_one_line_400_and_the_server_keeps_serving(server, body, reason):
    status, answer = request(server[0] + "/reply", body)
    assert status == 400 and reason in answer["error"] and "\n" not in answer["error"], answer
    status, answer = request(server[0] + "/reply", {"text": "d e f"})
    assert status == 200 and answer["reply"] == "f e d"


def raw_exchange(url, data, timeout=60):
    """Send raw bytes to the server; its answer's status line, headers (lowercase) and body."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(data)
        answer = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return lines[0], headers, json.loads(body)


def raw_request(url, data, timeout=60):
    """Send raw bytes to the server; the status line and body of its answer."""
    status, _, body = raw_exchange(url, data, timeout)
    return status, body


def test_oversized_body_missing_length_and_chunked_bodies(server):
    status, answer = request(server[0] + "/reply", b'{"text": "' + b"a" * 10 ** 6 + b'"}')
    assert status == 413 and "bytes; this server takes at most" in answer["error"]
    status, answer = raw_request(server[0], b"POST /reply HTTP/1.0\r\n\r\n")
    assert " 400 " in status and "Content-Length header" in answer["error"]
    # HTTP/1.1 requires a Host header (h11 refuses a request without one).
    chunked = (b'POST /reply HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n'
               b'Connection: close\r\n\r\n')
    body = b'6\r\n{"text\r\n9\r\n": "a b c\r\n2\r\n"}\r\n0\r\n\r\n'  # {"text": "a b c"}
    status, answer = raw_request(server[0], chunked + body)
    assert " 200 " in status and answer["reply"] == "c b a"
    status, answer = raw_request(server[0], chunked + b"zz\r\n")
    assert " 400 " in status and "malformed" in answer["error"]


def test_no_chunk_size_or_encoding_gets_past_the_body_limit(server):
    chunked = (b'POST /reply HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n'
               b'\r\n')
    # Once read until the client closed: the server must answer without the rest.
    status, headers, answer = raw_exchange(server[0], chunked + b"-1\r\n" + b"a" * 40000,
                                           timeout=10)
    assert " 400 " in status and "malformed" in answer["error"]
    assert headers["content-type"].startswith("application/json")
    over = LIMITS.max_body_bytes + 1
    body = b"".join(b"%x\r\n%s\r\n" % (size, b"a" * size) for size in (over // 2, over - over // 2))
    status, answer = raw_request(server[0], chunked + body + b"0\r\n\r\n", timeout=10)
    assert " 413 " in status and "this server takes at most %d" % LIMITS.max_body_bytes in \
        answer["error"]
    # A Content-Length far over the limit is refused before its body is read.
    head = b"POST /reply HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n"
    status, answer = raw_request(server[0], head, timeout=10)
    assert " 413 " in status and "99999999 bytes" in answer["error"]


@contextlib.contextmanager
def serving(batcher, limits=LIMITS, **options):
    """A server of ``batcher`` on a free loopback port, in a thread; yields its URL."""
    options.setdefault("log", lambda line: None)
    http = make_server(batcher, limits, "127.0.0.1", 0, name="fake", **options)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % http.server_address[1]
    finally:
        http.shutdown()
        http.server_close()


class Echo(object):
    """A decoder whose reply is the question in capitals."""

    def decode(self, questions, options):
        return [[Reply([q.upper()], q.upper(), -1.0, -1.0)] for q in questions]


@pytest.fixture
def fake_batcher():
    """A batcher of an :class:`Echo` decoder."""
    batcher = BatchingDecoder(Echo(), window=0.001)
    yield batcher
    batcher.close()


def test_control_bytes_in_the_path_are_escaped_in_the_log(fake_batcher):
    lines = []
    with serving(fake_batcher, log=lines.append) as url:
        port = int(url.rsplit(":", 1)[1])
        for target in (b"/\x1b[2J\x1b[31mred\rfake", b"/%1b[2Jred%0d%0a127.0.0.1%20fake%e2%80%a8"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
                connection.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Connection: close\r\n\r\n" % target)
                while connection.recv(65536):  # the answer, whatever it is
                    pass
    assert not [line for line in lines if any(ord(c) < 32 or ord(c) >= 127 for c in line)]
    assert any("\\x1b[2Jred\\r\\n127.0.0.1 fake\\u2028" in line for line in lines), lines


def test_error_pages_are_json_without_a_version_banner(fake_batcher):
    with serving(fake_batcher) as url:
        for data, code in [(b"GARBAGE\r\n\r\n", 400),
                           (b"PUT /reply HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                            b"Connection: close\r\n\r\n", 405),
                           (b"GET /reply HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            b"\r\n", 405),
                           (b"DELETE /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            b"\r\n", 404)]:
            status, headers, answer = raw_exchange(url, data, timeout=10)
            assert " %d " % code in status and "\n" not in answer["error"], (data, answer)
            assert headers["content-type"] == "application/json; charset=utf-8"
            assert "server" not in headers


def test_loopback_answers_loopback_host_names_only(fake_batcher):
    with serving(fake_batcher) as url:
        port = url.rsplit(":", 1)[1]
        for host in ("localhost:" + port, "127.0.0.1:" + port, "127.9.9.9", "[::1]:" + port,
                     "LOCALHOST"):
            status, answer = request(url + "/reply", {"text": "hi"}, headers={"Host": host})
            assert status == 200 and answer["reply"] == "HI", host
        for host in ("evil.example", "evil.example:" + port, "localhost:1", "localhost.evil",
                     "127.0.0.1.evil.example:" + port, "[::2]:" + port):
            for path, body in (("/reply", {"text": "hi"}), ("/health", None)):
                status, answer = request(url + path, body, headers={"Host": host})
                assert status == 403 and "DNS rebinding" in answer["error"], host
    assert fake_batcher.requests == 5


def test_foreign_origins_are_refused_unless_allowed(fake_batcher):
    simple = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    with serving(fake_batcher) as url:
        status, answer = request(url + "/reply", b'{"text": "hi"}', headers=simple)
        assert status == 403 and "--allow-origin http://evil.example" in answer["error"]
        status, headers, _ = call(url + "/reply", {"text": "hi"})
        assert status == 200 and "access-control-allow-origin" not in headers
    assert fake_batcher.requests == 1
    with serving(fake_batcher, allow_origins=["https://app.example"]) as url:
        status, headers, answer = call(url + "/reply", {"text": "hi"},
                                       headers={"Origin": "https://app.example"})
        assert status == 200 and headers["access-control-allow-origin"] == "https://app.example"
        status, headers, _ = call(url + "/reply", method="OPTIONS",
                                  headers={"Origin": "https://app.example",
                                           "Access-Control-Request-Method": "POST"})
        assert status == 204 and "POST" in headers["access-control-allow-methods"]
        assert request(url + "/reply", {"text": "hi"}, headers=simple)[0] == 403


def test_a_token_is_required_off_loopback_and_checked(fake_batcher, monkeypatch):
    with pytest.raises(Seq2SeqError, match="--token"):
        make_server(fake_batcher, LIMITS, "0.0.0.0", 0)
    with serving(fake_batcher, token="s3cret") as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                        {"Authorization": "Basic s3cret"}):
            status, got, answer = call(url + "/health", headers=headers)
            assert status == 401 and got["www-authenticate"] == "Bearer", headers
            assert "Authorization: Bearer" in answer["error"]
        assert request(url + "/reply", {"text": "hi"},
                       headers={"Authorization": "Bearer s3cret"})[0] == 200
    monkeypatch.setenv("LASAGNE_SEQ2SEQ_TOKEN", "from-env")
    serve = runpy.run_path(str(ROOT / "bin" / "serve.py"))
    assert serve["parse_args"](["model.npz", "--host", "0.0.0.0"]).token == "from-env"
    assert serve["parse_args"](["model.npz", "--token", "flag"]).token == "flag"


class Slow(Echo):
    """An :class:`Echo` that takes ``seconds`` per batch and records what it decoded."""

    def __init__(self, seconds):
        self.seconds, self.decoded = seconds, []

    def decode(self, questions, options):
        time.sleep(self.seconds)
        self.decoded += questions
        return super().decode(questions, options)


def test_each_request_has_a_deadline():
    slow = Slow(0.8)
    batcher = BatchingDecoder(slow, window=0, max_batch=1)
    limits = ServingLimits(timeout=0.5)
    with serving(batcher, limits) as url:
        results = [None] * 3

        def client(i):
            results[i] = request(url + "/reply", {"text": "q%d" % i})
        threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(status for status, _ in results) == [503] * 3
        assert all("no reply within 0.5 s" in answer["error"] for _, answer in results)
        # A body that stops arriving is given up at the deadline too.
        started = time.monotonic()
        status, answer = raw_request(url, b"POST /reply HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          b"Content-Length: 50\r\n\r\n{", timeout=10)
        assert " 408 " in status and time.monotonic() - started < 5
    batcher.close()
    # The worker skipped the questions whose requests had given up.
    assert len(slow.decoded) < 3


def test_connections_beyond_the_limit_get_a_json_503(fake_batcher):
    with serving(fake_batcher, max_connections=2) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        try:
            time.sleep(0.2)  # both accepted
            status, answer = raw_request(url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                              b"\r\n", timeout=10)
            assert " 503 " in status and "2 connections" in answer["error"]
        finally:
            for connection in idle:
                connection.close()
        time.sleep(0.2)
        assert request(url + "/health")[0] == 200


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/", 404), ("GET", "/nope", 404), ("POST", "/health", 405),
    ("POST", "/reply/extra", 404), ("GET", "/reply", 405),
])
def test_other_paths(server, method, path, status):
    body = {"text": "a"} if method == "POST" else None
    code, answer = request(server[0] + path, body, method)
    assert code == status and "error" in answer


def test_load_500_requests_from_8_threads_all_answered_correctly(server):
    url, batcher = server
    questions = phrases(500, 2)
    # A fifth ask for a beam: requests are grouped by options within a batch.
    bodies = [{"text": q, "strategy": "beam", "beam": 3, "nbest": 2} if i % 5 == 0
              else {"text": q} for i, q in enumerate(questions)]
    results, latencies = [None] * len(bodies), [None] * len(bodies)
    before = batcher.batches, batcher.requests

    def client(worker):
        for i in range(worker, len(bodies), 8):
            started = time.perf_counter()
            results[i] = request(url + "/reply", bodies[i])
            latencies[i] = time.perf_counter() - started

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert all(status == 200 for status, _ in results)
    assert all(len(body["nbest"]) == bodies[i].get("nbest", 1) for i, (_, body) in
               enumerate(results))
    correct = np.mean([body["reply"] == reversed_phrase(q)
                       for q, (_, body) in zip(questions, results)])
    batches, answered = batcher.batches - before[0], batcher.requests - before[1]
    print("\nload test: 500 requests from 8 threads in %.1f s (%.0f req/s); latency p50 %.0f ms, "
          "p95 %.0f ms; %d decoder batches (%.1f questions each); %.1f%% correct"
          % (elapsed, 500 / elapsed, 1000 * np.percentile(latencies, 50),
             1000 * np.percentile(latencies, 95), batches, answered / batches, 100 * correct))
    assert answered == 500 and batches < answered  # concurrent requests were batched
    assert correct >= 0.9


def test_seeded_sampling_does_not_depend_on_concurrent_requests(server):
    """Seeded requests may be batched with others (each question draws from
    its own stream): the same replies as alone, their scores within float32
    rounding of a batch's products."""
    url, _ = server
    body = {"text": "a b c", "strategy": "sample", "temperature": 5.0, "nbest": 3, "seed": 7}
    alone = request(url + "/reply", body)
    results = [None] * 8

    def client(i):
        results[i] = request(url + "/reply", body if i % 2 else dict(body, text="d e f"))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert alone[0] == 200 and len({entry["text"] for entry in alone[1]["nbest"]}) > 1
    for status, answer in results[1::2]:
        assert status == 200
        assert [e["text"] for e in answer["nbest"]] == [e["text"] for e in alone[1]["nbest"]]
        np.testing.assert_allclose([e["score"] for e in answer["nbest"]],
                                   [e["score"] for e in alone[1]["nbest"]], rtol=1e-5)


class FakeDecoder(object):
    """Echoes questions, fails on "boom", records the batches it was given."""

    def __init__(self):
        self.batches = []

    def decode(self, questions, options):
        self.batches.append((list(questions), options.strategy))
        if "boom" in questions:
            raise RuntimeError("boom")
        return [[q.upper()] for q in questions]


def test_batching_groups_by_options_and_isolates_failures():
    fake = FakeDecoder()
    # The batch closes when its 4th question arrives (or after a 1 s window).
    batcher = BatchingDecoder(fake, window=1.0, max_batch=4)
    greedy, beam = DecodeOptions(), DecodeOptions(strategy="beam")
    futures = [batcher.submit(text, options) for text, options in
               [("a", greedy), ("b", beam), ("c", greedy), ("boom", beam)]]
    assert futures[0].result(5) == ["A"] and futures[2].result(5) == ["C"]
    with pytest.raises(RuntimeError):
        futures[1].result(5)
    with pytest.raises(RuntimeError):
        futures[3].result(5)
    assert sorted(fake.batches) == [(["a", "c"], "greedy"), (["b", "boom"], "beam")]
    assert batcher.decode("d", greedy, timeout=5) == ["D"]
    batcher.close()
    assert batcher.requests == 3


def test_full_queue_is_refused_not_lost():
    started, release = threading.Event(), threading.Event()

    class Slow(FakeDecoder):
        def decode(self, questions, options):
            started.set()
            release.wait(10)
            return super().decode(questions, options)

    batcher = BatchingDecoder(Slow(), window=0, max_batch=1, max_pending=2)
    first = batcher.submit("a", DecodeOptions())
    assert started.wait(10)  # the worker holds "a"; the queue is empty again
    queued = [batcher.submit(t, DecodeOptions()) for t in "bc"]
    with pytest.raises(Exception, match="waiting already"):
        batcher.submit("d", DecodeOptions())
    release.set()
    assert [f.result(5) for f in [first] + queued] == [["A"], ["B"], ["C"]]
    batcher.close()


def test_parse_request_accepts_defaults():
    from lasagne_seq2seq.decode.options import DEFAULT_DECODING
    text, options = parse_request(b'{"text": "hi there"}', LIMITS)
    assert text == "hi there" and options == DecodeOptions(**DEFAULT_DECODING)
    with pytest.raises(Seq2SeqError):
        parse_request(b'{"text": "hi", "nbest": 9, "strategy": "sample"}', LIMITS)


def chat(conversation, script):
    out = io.StringIO()
    run_chat(conversation, DecodeOptions(), io.StringIO(script), out, prompt="")
    return [line[len("bot> "):] for line in out.getvalue().splitlines()
            if line.startswith("bot> ")], out.getvalue()


def test_chat_without_memory(model):
    config, vocab, net = load_exported(model[1])
    conversation = Decoder(net, vocab, config).start_conversation()
    replies, text = chat(conversation, "a b c\n\n/reset\nd e f\n/quit\ng h i\n")
    assert replies == ["c b a", "f e d"] and "(conversation reset)" in text


class Recording(object):
    """A conversation that keeps every reply it gives."""

    def __init__(self, conversation):
        self.conversation, self.replies = conversation, []

    def reply(self, text, options):
        self.replies.append(self.conversation.reply(text, options))
        return self.replies[-1]

    def reset(self):
        self.conversation.reset()


def test_chat_with_memory_reset_forgets(model):
    config, vocab, net = load_exported(model[1])
    decoder = Decoder(net, vocab, config)
    fresh = decoder.start_conversation(remember=True).reply("a b c", DecodeOptions())
    last = []
    for script in ("g h i\nj k l\na b c\n", "g h i\nj k l\n/reset\na b c\n"):
        conversation = Recording(decoder.start_conversation(remember=True))
        replies, _ = chat(conversation, script)
        assert len(replies) == 3
        last.append(conversation.replies[-1])
    remembered, after_reset = last
    assert remembered.log_prob != pytest.approx(fresh.log_prob, abs=1e-6)  # memory counts
    assert after_reset.log_prob == pytest.approx(fresh.log_prob, abs=1e-6)
    assert after_reset.text == fresh.text


def test_serve_script(model):
    serve = subprocess.Popen([sys.executable, str(ROOT / "bin" / "serve.py"), model[1],
                              "--port", "0", "--quiet"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = serve.stdout.readline()
        assert line.startswith("serving "), line + serve.stderr.read()
        url = line.split(" on ")[1].split()[0]
        assert request(url + "/reply", {"text": "a b c"})[1]["reply"] == "c b a"
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
    finally:
        serve.kill()
        serve.wait()


def test_chat_script_on_a_run_directory(model, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a b c\n/quit\n"))
    assert runpy.run_path(str(ROOT / "bin" / "chat.py"))["main"]([model[0]]) == 0
    assert "bot> c b a" in capsys.readouterr().out


@pytest.mark.parametrize("body, message", [
    (b'{"text": "hi", "strategy": "sample", "seed": -1}', "--seed must be in [0, 2**32)"),
    (b'{"text": "hi", "strategy": "sample", "seed": 1180591620717411303424}',
     "--seed must be in [0, 2**32)"),
    (b'{"text": "hi", "alpha": 1e308}', "--alpha must be at most 10"),
    (b'{"text": "hi", "strategy": "sample", "temperature": 1e999}',
     "--temperature must be a finite number"),
])
def test_out_of_range_numbers_in_a_request_are_bad_requests(body, message):
    # They used to reach the decoder and come back as 500s.
    with pytest.raises(Seq2SeqError, match=re.escape(message)):
        parse_request(body, LIMITS)
