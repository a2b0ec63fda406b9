"""The scripts fail with one line naming the problem and the fix, never a traceback."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(script, *args, cwd=None, env=None):
    return subprocess.run([sys.executable, str(ROOT / "bin" / script)] + list(args),
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=300,
                          env=dict(os.environ, **(env or {})))


def assert_one_line_error(result, message):
    """The script exited 2 with one ``error:`` line on stderr holding ``message``."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], \
        result.stderr


@pytest.mark.parametrize("args, message", [
    (["--corpus", "/no/such/corpus.txt"], "corpus file /no/such/corpus.txt not found"),
    (["--corpus", "reddit"], "unknown corpus 'reddit'"),
    (["--model", "v9"], "--model must be one of"),
    (["--resume", "/no/such/run"], "run directory /no/such/run does not exist"),
    (["--device", "cuda"], "needs pygpu"),
])
def test_train_errors_are_one_line(tmp_path, args, message):
    result = run("train.py", "--run-dir", str(tmp_path / "run"), *args)
    assert_one_line_error(result, message)


@pytest.mark.parametrize("args, message", [
    (["--remember"], "--remember carries state between typed questions: add --interactive"),
    (["--interactive", "--attention-plot", "map.png"],
     "--attention-plot draws the replies to --questions (or the sample questions): "
     "drop --interactive"),
    (["--questions", "{tmp}"], "--questions {tmp} is a directory: pass a file with one "
                               "question per line"),
])
def test_test_script_errors_are_one_line(tmp_path, args, message):
    # A run directory that does not exist: each error comes before loading.
    args = [arg.format(tmp=tmp_path) for arg in args]
    result = run("test.py", str(tmp_path / "missing"), *args)
    assert_one_line_error(result, message.format(tmp=tmp_path))


def test_a_gpu_in_theano_flags_without_pygpu_is_one_line(tmp_path):
    # Theano alone would log "pygpu was configured but could not be imported"
    # with a traceback and go on on the CPU (here: to the missing corpus).
    if importlib.util.find_spec("pygpu") is not None:
        pytest.skip("pygpu is installed")
    result = run("train.py", "--run-dir", str(tmp_path / "run"), "--corpus", "/no/such/corpus.txt",
                 env={"THEANO_FLAGS": "device=cuda"})
    assert_one_line_error(result, "THEANO_FLAGS device=cuda needs pygpu")
    # --device cpu overrides the flag: the script goes on to its next check.
    result = run("test.py", str(tmp_path / "missing"), "--device", "cpu",
                 env={"THEANO_FLAGS": "device=cuda"})
    assert_one_line_error(result, "run directory %s does not exist" % (tmp_path / "missing"))


def test_test_script_without_a_trained_model_says_how_to_train(tmp_path):
    result = run("test.py", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "bin/train.py" in result.stderr and "Traceback" not in result.stderr


def test_non_utf8_corpus_names_file_and_line(tmp_path):
    corpus = tmp_path / "bad.txt"
    corpus.write_bytes(b"hello\nthere\n\ncaf\xe9\nyes\n")
    result = run("train.py", "--corpus", str(corpus), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "line 4" in result.stderr and "--encoding latin-1" in result.stderr


def test_depth_is_an_int_or_an_encoder_decoder_pair():
    sys.path.insert(0, str(ROOT / "bin"))
    import train
    assert train.parse_depth("2") == (2, 2) and train.parse_depth("3,1") == (3, 1)
    config = train.build_config(train.parse_args(["--depth", "2,1", "--cell", "gru"]))
    assert (config.model.encoder_depth, config.model.decoder_depth, config.model.cell) == \
        (2, 1, "gru")
    result = run("train.py", "--depth", "0")
    assert result.returncode == 2 and "positive integers" in result.stderr
