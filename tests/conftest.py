"""Fixtures shared across test files: a v1 model trained once per session on
the original's phrase-reversal task (the costliest fixture of the suite)."""
import pytest

from toy import TOY, quiet, toy_config


@pytest.fixture(scope="session")
def v1_reverse(tmp_path_factory):
    """Run directory of v1 trained to reverse 3-word phrases (5 epochs)."""
    if not TOY.is_dir():
        pytest.skip("../shared reference data absent")
    from lasagne_seq2seq.train.run import train_run
    run_dir = str(tmp_path_factory.mktemp("runs") / "v1-reverse")
    train_run(toy_config("reversed_phrases"), run_dir, progress_bar=False, log=quiet)
    return run_dir
