"""Fixtures shared across test files: the generated toy tasks, and a v1 model
trained once per session on phrase reversal (the costliest fixture of the suite)."""
import pytest

from toy import quiet, toy_config, write_session_tasks


@pytest.fixture(scope="session", autouse=True)
def toy_tasks(tmp_path_factory):
    """The folder of this session's toy tasks (``train/TASK.txt``, ``test/TASK.txt``)."""
    folder = tmp_path_factory.mktemp("toy")
    write_session_tasks(folder)
    return folder


@pytest.fixture(scope="session")
def v1_reverse(tmp_path_factory):
    """Run directory of v1 trained to reverse 3-word phrases (2 epochs)."""
    from lasagne_seq2seq.train.run import train_run
    run_dir = str(tmp_path_factory.mktemp("runs") / "v1-reverse")
    train_run(toy_config("reversed_phrases"), run_dir, progress_bar=False, log=quiet)
    return run_dir
