#!/usr/bin/env python
"""Serve a model as an HTTP JSON API (uvicorn).

    python bin/serve.py chatbot.npz --port 8080
    curl -s localhost:8080/reply -d '{"text": "how are you?", "strategy": "beam", "nbest": 3}'

POST /reply takes {"text": ..., plus any decoding option of bin/test.py} and
returns the reply, its n-best list with scores, and the unknown words;
GET /health reports the server's state. MODEL is a file written by
bin/export.py or a run directory. Listens on 127.0.0.1 unless --host says
otherwise; Ctrl-C or SIGTERM stops it after the questions in flight are answered.

On loopback only requests naming the server localhost, 127.x.x.x or [::1] in
their Host header are answered (a web page cannot reach it by DNS rebinding).
Any other --host needs a token, sent by clients as `Authorization: Bearer
TOKEN`: set LASAGNE_SEQ2SEQ_TOKEN (or --token, which other users can see in
the process list). Browser pages of other origins are refused unless
--allow-origin names them.
"""
import argparse
import os
import signal
import time

from lasagne_seq2seq.cli import ArgumentParser, add_device_flags, run_main, select_device


def parse_args(argv):
    parser = ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="exported model file (bin/export.py) or run directory")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="checkpoint to load when MODEL is a run directory")
    parser.add_argument("--lm", metavar="MODEL", help="language model for anti-LM decoding")
    parser.add_argument("--backward", metavar="MODEL",
                        help="backward model (trained with --reverse-pairs) for MMI-bidi")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; not loopback: needs a token")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = any free port)")
    parser.add_argument("--token", default=os.environ.get("LASAGNE_SEQ2SEQ_TOKEN"),
                        help="require 'Authorization: Bearer TOKEN' (default: "
                             "$LASAGNE_SEQ2SEQ_TOKEN)")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="let browser pages of ORIGIN (e.g. https://app.example) call the "
                             "API (CORS); repeat for more")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds from a request's arrival to its answer (then 408/503)")
    parser.add_argument("--max-connections", type=int, default=1024,
                        help="open connections beyond this get a 503")
    parser.add_argument("--backlog", type=int, default=2048,
                        help="connections queued before they are accepted")
    parser.add_argument("--max-chars", type=int, default=1000, help="longest question accepted")
    parser.add_argument("--max-beam", type=int, default=20, help="largest beam/nbest accepted")
    parser.add_argument("--max-reply-len", type=int, default=100,
                        help="largest max_len a request may ask for")
    parser.add_argument("--batch-window-ms", type=float, default=5.0,
                        help="wait this long for concurrent questions to decode together")
    parser.add_argument("--max-batch", type=int, default=32, help="most questions in one batch")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    add_device_flags(parser)
    args = parser.parse_args(argv)
    if min(args.max_chars, args.max_beam, args.max_reply_len, args.max_batch,
           args.max_connections, args.backlog) < 1:
        parser.error("--max-chars, --max-beam, --max-reply-len, --max-batch, "
                     "--max-connections and --backlog must be positive")
    if args.batch_window_ms < 0:
        parser.error("--batch-window-ms cannot be negative")
    if not 0 < args.timeout < float("inf"):
        parser.error("--timeout must be a positive number of seconds")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be in 0-65535 (0: any free port)")
    return args


def stop(signum, frame):
    """SIGTERM (service managers, `kill`) ends the script as Ctrl-C does.

    The server has stopped gracefully by then: uvicorn raises the signal
    again once the requests in flight are answered.
    """
    raise KeyboardInterrupt


def main(argv):
    args = parse_args(argv)
    select_device(args.device, args.backend)
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.serve.export import load_inference_model
    from lasagne_seq2seq.serve.http import BatchingDecoder, ServingLimits, make_server
    started = time.time()
    config, vocab, net = load_inference_model(args.model, args.checkpoint)
    lm = load_inference_model(args.lm) if args.lm else None
    backward = load_inference_model(args.backward) if args.backward else None
    decoder = Decoder(net, vocab, config, lm=lm, backward=backward)
    batcher = BatchingDecoder(decoder, args.batch_window_ms / 1000.0, args.max_batch)
    limits = ServingLimits(args.max_chars, args.max_beam, args.max_reply_len, args.timeout)
    server = make_server(batcher, limits, args.host, args.port, name=args.model,
                         has_lm=lm is not None, has_backward=backward is not None,
                         log=(lambda line: None) if args.quiet else None, token=args.token,
                         allow_origins=args.allow_origin, max_connections=args.max_connections,
                         backlog=args.backlog)
    host, port = server.server_address[:2]
    print("serving %s on http://%s:%d (POST /reply, GET /health); loaded and compiled in "
          "%.1f s" % (args.model, "[%s]" % host if ":" in host else host, port,
                      time.time() - started), flush=True)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
        batcher.close()
    return 0


if __name__ == "__main__":
    run_main(main)
