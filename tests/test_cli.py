"""The scripts fail with one line naming the problem and the fix, never a traceback."""
import dataclasses
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
    (["--model", "v9"], "argument --model: invalid choice: 'v9'"),
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
    # The scripts run as where pygpu is not installed, whether or not it is here.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['pygpu'] = None\n")
    env = {"THEANO_FLAGS": "device=cuda",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path),
                                                       os.environ.get("PYTHONPATH")]))}
    result = run("train.py", "--run-dir", str(tmp_path / "run"), "--corpus", "/no/such/corpus.txt",
                 env=env)
    assert_one_line_error(result, "THEANO_FLAGS device=cuda needs pygpu")
    # --device cpu overrides the flag: the script goes on to its next check.
    result = run("test.py", str(tmp_path / "missing"), "--device", "cpu", env=env)
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


def train_script():
    sys.path.insert(0, str(ROOT / "bin"))
    import train
    return train


def test_every_config_field_is_a_train_flag_of_the_same_name(tmp_path):
    from lasagne_seq2seq.config import SECTIONS
    train = train_script()
    help_text = run("train.py", "--help").stdout
    for section, settings in SECTIONS.items():
        for spec in dataclasses.fields(settings):
            flag = "--" + spec.name.replace("_", "-")
            assert flag in help_text, flag
    config = train.build_config(train.parse_args(
        ["--encoder-depth", "2", "--cell", "gru", "--no-tie-embeddings", "--learning-rate", "0.01",
         "--reverse-pairs", "--peek"]))
    assert (config.model.encoder_depth, config.model.cell, config.model.tie_embeddings,
            config.train.learning_rate, config.data.reverse_pairs, config.model.peek) == \
        (2, "gru", False, 0.01, True, True)
    untouched = train.build_config(train.parse_args([]))
    assert untouched.model.peek is None and untouched.model.tie_embeddings is True


def test_a_saved_config_file_is_the_starting_point_and_flags_override_it(tmp_path):
    from lasagne_seq2seq.config import preset, save_config
    train = train_script()
    saved = preset("paper")
    saved.model.cell = "gru"
    save_config(saved, str(tmp_path / "config.json"))
    config = train.build_config(train.parse_args(
        ["--config", str(tmp_path / "config.json"), "--hidden-size", "64"]))
    assert (config.model.cell, config.data.vocab_size, config.model.hidden_size) == \
        ("gru", 22000, 64)
    result = run("train.py", "--config", str(tmp_path / "config.json"), "--preset", "paper")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_resume_refuses_every_flag_but_the_schedule(tmp_path):
    from lasagne_seq2seq.config import preset, save_config
    train = train_script()
    (tmp_path / "run").mkdir()
    save_config(preset("default"), str(tmp_path / "run" / "config.json"))
    resumed = train.build_config(train.parse_args(
        ["--resume", str(tmp_path / "run"), "--max-steps", "7", "--patience", "2"]))
    assert (resumed.train.max_steps, resumed.train.patience) == (7, 2)
    for flag in (["--no-unroll"], ["--hidden-size", "8"], ["--corpus", "x"], ["--optimizer",
                                                                             "adadelta"]):
        result = run("train.py", "--resume", str(tmp_path / "run"), *flag)
        assert_one_line_error(result, "%s cannot change when resuming (only --lr-schedule, "
                                      "--warmup-steps, --epochs, --max-minutes, --max-steps"
                              % flag[0].replace("no-", ""))


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed must be in [0, 2**32) (got -1)"),
    (["--epochs", "-1"], "--epochs must be at least 1 (got -1)"),
    (["--max-steps", "-1"], "--max-steps must be >= 0"),
    (["--patience", "-1"], "--patience must be >= 0"),
    (["--validate-every", "-1"], "--validate-every must be >= 0"),
    (["--max-pairs", "-5"], "--max-pairs must be at least 1"),
    (["--min-count", "-3"], "--min-count must be at least 1 (got -3)"),
    (["--encoder-depth", "0"], "sizes and depths must be positive"),
])
def test_out_of_range_train_flags_are_one_line_errors(tmp_path, args, message):
    result = run("train.py", "--run-dir", str(tmp_path / "run"), *args)
    assert_one_line_error(result, message)


@pytest.mark.parametrize("args, strategy", [
    ([], "default"), (["--beam", "1"], "default"), (["--beam", "5"], "beam"),
    (["--strategy", "beam"], "beam"), (["--strategy", "greedy"], "greedy"),
    (["--strategy", "sample", "--top-p", "0.9"], "sample"),
])
def test_beam_wider_than_one_selects_beam_search(args, strategy):
    from lasagne_seq2seq.decode.options import DEFAULT_DECODING
    if strategy == "default":
        strategy = DEFAULT_DECODING["strategy"]
    sys.path.insert(0, str(ROOT / "bin"))
    import test as test_script
    from lasagne_seq2seq.cli import decode_options
    options = decode_options(test_script.parse_args(args))
    assert options.strategy == strategy


@pytest.mark.parametrize("args, message", [
    (["--strategy", "greedy", "--beam", "5"], "--beam 5 does nothing with --strategy greedy"),
    (["--strategy", "greedy", "--temperature", "0.5"], "--temperature only affects sampling"),
    (["--beam", "4", "--top-k", "3"], "--top-k only affects sampling"),
])
def test_decoding_flags_the_strategy_would_ignore_are_refused(tmp_path, args, message):
    for script in ("test.py", "evaluate.py", "chat.py"):
        result = run(script, str(tmp_path / "missing"), *args)
        assert_one_line_error(result, message)


# setup.sh runs in a copy of the repository with stand-ins for Python, apt-get,
# sudo and ldconfig: what it decides is checked, nothing is installed.
FAKE_PYTHON = """#!/bin/sh
# Python %s as far as setup.sh asks; every call is logged to $FAKE_LOG.
[ -z "$FAKE_LOG" ] || echo "$*" >> "$FAKE_LOG"
case "$*" in
  *version_info*) echo %s ;;
  --version) echo "Python %s.0" ;;
  *sysconfig*) echo "$FAKE_SITE" ;;
  "-m venv "*) mkdir -p "$3/bin" && cp "$0" "$3/bin/python" ;;
  *"blas_choice --check") exit ${FAKE_BLAS_RECORDED:-0} ;;
  *"blas_choice --show") echo "$FAKE_BLAS" ;;
esac
"""
FAKE_TOOLS = {
    "apt-get": "echo \"E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease "
               "Temporary failure resolving 'deb.debian.org'\" >&2; exit 100",
    "sudo": '[ "$1" = -n ] && shift; exec "$@"',
    "ldconfig": "[ -z \"$FAKE_OPENBLAS\" ] || "
                "printf '\\tlibopenblas.so (libc6,x86-64) => /usr/lib/libopenblas.so\\n'",
}


def write_script(path, body):
    path.write_text(body if body.startswith("#!") else "#!/bin/sh\n%s\n" % body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def setup_sandbox(tmp_path):
    """Run setup.sh in a copy of the repository: ``(python_version, **env)``."""
    repo, tools, site, libs = (tmp_path / name for name in ("repo", "tools", "site", "libs"))
    for folder in (repo, tools, site, libs):
        folder.mkdir()
    for name in ("setup.sh", "requirements.txt", "requirements-mkl.txt", "pyproject.toml"):
        (repo / name).write_bytes((ROOT / name).read_bytes())
    for name, body in FAKE_TOOLS.items():
        write_script(tools / name, body)
    for version in ("3.11", "3.12"):
        write_script(tools / ("python" + version), FAKE_PYTHON % ((version,) * 3))

    def run_setup(**env):
        env = dict(os.environ, PATH="%s:%s" % (tools, os.environ["PATH"]), FAKE_SITE=str(site),
                   SETUP_LIB_DIRS=str(libs), **env)
        return subprocess.run(["bash", "setup.sh"], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=60)
    run_setup.repo, run_setup.tools, run_setup.libs = repo, tools, libs
    return run_setup


def test_setup_refuses_a_python_the_stack_is_not_pinned_for(setup_sandbox):
    result = setup_sandbox(PYTHON="python3.12", FAKE_OPENBLAS="1")
    assert result.returncode == 2 and result.stderr == (
        "setup.sh: python3.12 is Python 3.12, but the stack is pinned for Python 3.11: "
        "run PYTHON=python3.11 bash setup.sh\n")
    result = setup_sandbox(PYTHON="/no/such/python", FAKE_OPENBLAS="1")
    assert result.returncode == 2 and "/no/such/python not found" in result.stderr
    assert not (setup_sandbox.repo / ".venv").exists()


def test_setup_recreates_a_venv_made_by_another_python(setup_sandbox):
    venv = setup_sandbox.repo / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_bytes((setup_sandbox.tools / "python3.12").read_bytes())
    (venv / "python").chmod(0o755)
    result = setup_sandbox(PYTHON="python3.12", FAKE_OPENBLAS="1")
    assert result.returncode == 2 and "(and .venv was made by Python 3.12)" in result.stderr
    result = setup_sandbox(PYTHON="python3.11", FAKE_OPENBLAS="1")
    assert result.returncode == 0, result.stderr
    assert "recreating .venv: it was made by Python 3.12, the stack needs 3.11" in result.stdout
    assert subprocess.run([str(venv / "python"), "-c", "sys.version_info"], capture_output=True,
                          text=True).stdout == "3.11\n"
    assert result.stdout.endswith("ready: .venv/bin/python bin/train.py\n")


APT_FAILED = ("[setup] WARNING: cannot install libopenblas-openmp-dev (apt-get failed: E: Failed "
              "to fetch http://deb.debian.org/debian/dists/bookworm/InRelease Temporary failure "
              "resolving 'deb.debian.org'): Theano will use ")


def test_setup_warns_once_and_goes_on_when_apt_fails(setup_sandbox):
    result = setup_sandbox(PYTHON="python3.11")  # no OpenBLAS: apt-get is tried, and fails
    assert result.returncode == 0, result.stderr
    assert result.stderr == APT_FAILED + "NumPy's BLAS, several times slower\n"
    assert result.stdout.endswith("ready: .venv/bin/python bin/train.py\n")
    result = setup_sandbox(PYTHON="python3.11", FAKE_OPENBLAS="1")  # the pthreads build only
    assert result.stderr == APT_FAILED + "the OpenBLAS it has, on its own threads (slower)\n"


def test_setup_takes_an_installed_openmp_openblas_as_it_is(setup_sandbox):
    openmp = setup_sandbox.libs / "openblas-openmp"
    openmp.mkdir()
    (openmp / "libopenblas.so").write_bytes(b"\x7fELF")
    result = setup_sandbox(PYTHON="python3.11")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "apt" not in result.stdout


@pytest.mark.parametrize("fastest", ["mkl", "openblas-openmp"])
def test_setup_times_the_blas_once_and_keeps_mkl_only_where_it_wins(setup_sandbox, tmp_path,
                                                                     fastest):
    log = tmp_path / "python.log"
    result = setup_sandbox(PYTHON="python3.11", FAKE_OPENBLAS="1", FAKE_LOG=str(log),
                           FAKE_BLAS_RECORDED="1", FAKE_BLAS=fastest)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    measured = [k for k, call in enumerate(calls) if call.endswith("train.blas_choice")]
    installed = [k for k, call in enumerate(calls) if "-r requirements-mkl.txt" in call]
    removed = [call for call in calls if call.startswith("-m pip uninstall")]
    assert len(measured) == 1 and installed and installed[0] < measured[0]
    assert bool(removed) == (fastest != "mkl")
    assert all(" mkl " in call for call in removed)
    log.unlink()  # recorded: no MKL, no timing
    result = setup_sandbox(PYTHON="python3.11", FAKE_OPENBLAS="1", FAKE_LOG=str(log))
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "requirements-mkl.txt" not in calls and "train.blas_choice\n" not in calls


def test_a_model_too_large_for_the_memory_is_refused_before_it_is_built(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("hello there\nhi\n\nhow are you\nfine\n")
    result = run("train.py", "--corpus", str(corpus), "--format", "plain", "--hidden-size",
                 "100000", "--run-dir", str(tmp_path / "run"))
    assert_one_line_error(result, "--hidden-size 100000")
    assert "GB of memory are free: lower --hidden-size" in result.stderr


def test_train_help_names_the_default_presets_values():
    """bin/train.py without --preset starts from the default preset, so its
    --help shows that preset's values, not the config classes' own."""
    import subprocess
    import sys
    from lasagne_seq2seq.config import preset
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = " ".join(subprocess.run([sys.executable, os.path.join(root, "bin", "train.py"),
                                    "--help"], capture_output=True, text=True,
                                   check=True).stdout.split())
    default = preset("default")
    assert "pairs per batch (default: %d)" % default.train.batch_size in text
    assert "dropout between layers (default: %s)" % default.model.dropout in text
    assert "one embedding for questions and replies (default: on)" in text
    assert "every decoder step (default: by --model) --" in text  # said once, by its own help
