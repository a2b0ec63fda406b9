#!/usr/bin/env python
"""Serve a model as an HTTP JSON API (standard library only).

    python bin/serve.py chatbot.npz --port 8080
    curl -s localhost:8080/reply -d '{"text": "how are you?", "strategy": "beam", "nbest": 3}'

POST /reply takes {"text": ..., plus any decoding option of bin/test.py} and
returns the reply, its n-best list with scores, and the unknown words;
GET /health reports the server's state. MODEL is a file written by
bin/export.py or a run directory. Listens on 127.0.0.1 unless --host says
otherwise; Ctrl-C or SIGTERM stops it after the questions in flight are answered.
"""
import argparse
import signal
import time

from lasagne_seq2seq.cli import run_main, select_device


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="exported model file (bin/export.py) or run directory")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="checkpoint to load when MODEL is a run directory")
    parser.add_argument("--lm", metavar="MODEL", help="language model for anti-LM decoding")
    parser.add_argument("--backward", metavar="MODEL",
                        help="backward model (trained with --reverse) for MMI-bidi reranking")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = any free port)")
    parser.add_argument("--max-chars", type=int, default=1000, help="longest question accepted")
    parser.add_argument("--max-beam", type=int, default=20, help="largest beam/nbest accepted")
    parser.add_argument("--max-reply-len", type=int, default=100,
                        help="largest max_len a request may ask for")
    parser.add_argument("--batch-window-ms", type=float, default=5.0,
                        help="wait this long for concurrent questions to decode together")
    parser.add_argument("--max-batch", type=int, default=32, help="most questions in one batch")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument("--device", help="cpu (default) or cuda; needs pygpu for cuda")
    args = parser.parse_args(argv)
    if min(args.max_chars, args.max_beam, args.max_reply_len, args.max_batch) < 1:
        parser.error("--max-chars, --max-beam, --max-reply-len and --max-batch must be positive")
    if args.batch_window_ms < 0:
        parser.error("--batch-window-ms cannot be negative")
    return args


def stop(signum, frame):
    """SIGTERM (service managers, `kill`) stops the server as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv):
    args = parse_args(argv)
    select_device(args.device)
    from lasagne_seq2seq.decode.decoder import Decoder
    from lasagne_seq2seq.serve.export import load_inference_model
    from lasagne_seq2seq.serve.http import BatchingDecoder, ServingLimits, make_server
    started = time.time()
    config, vocab, net = load_inference_model(args.model, args.checkpoint)
    lm = load_inference_model(args.lm) if args.lm else None
    backward = load_inference_model(args.backward) if args.backward else None
    decoder = Decoder(net, vocab, config, lm=lm, backward=backward)
    batcher = BatchingDecoder(decoder, args.batch_window_ms / 1000.0, args.max_batch)
    limits = ServingLimits(args.max_chars, args.max_beam, args.max_reply_len)
    server = make_server(batcher, limits, args.host, args.port, name=args.model,
                         has_lm=lm is not None, has_backward=backward is not None,
                         log=(lambda line: None) if args.quiet else None)
    host, port = server.server_address[:2]
    print("serving %s on http://%s:%d (POST /reply, GET /health); loaded and compiled in "
          "%.1f s" % (args.model, host, port, time.time() - started), flush=True)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        server.server_close()
        batcher.close()
    return 0


if __name__ == "__main__":
    run_main(main)
