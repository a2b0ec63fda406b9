"""The toy tasks of the original project, generated: reverse a three-word
phrase, repeat one, repeat a word three times.

Each task is a plain corpus of alternating question and answer lines (read
with ``format="plain", pairing="alternate"``), over made-up two-syllable
words (``"bako"``, ``"tesu"``) from a fixed, built-in list, so that a task of
any vocabulary size can be made anywhere, the same for the same seed. A
task's held-out test pairs never occur among its training pairs.

The folder layout is the original's: ``train/TASK.txt`` and ``test/TASK.txt``.

Examples
--------
>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> train, test = write_toy_task(folder, "reversed_phrases", train_pairs=4, test_pairs=2,
...                              vocab_size=20)
>>> open(train).read().splitlines()[:2]
['gufu gufu gazo', 'gazo gufu gufu']
>>> len(open(test).read().splitlines())
4
"""
import itertools
import os
import random

from lasagne_seq2seq.files import atomic_open

__all__ = ["TASKS", "toy_words", "toy_task_pairs", "write_toy_task", "write_toy_tasks"]

#: What each task answers to a question of three words.
TASKS = {
    "reversed_phrases": lambda words: words[::-1],
    "repeated_phrases": lambda words: words,
    "repeated_words": lambda words: words,
}
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"
#: Every two-syllable word of the built-in list, in a fixed order.
_WORDS = tuple("".join(parts) for parts in itertools.product(
    _CONSONANTS, _VOWELS, _CONSONANTS, _VOWELS))


def toy_words(count):
    """The first ``count`` words of the built-in list (4,900 in all).

    Parameters
    ----------
    count : int

    Returns
    -------
    list of str
        Distinct lowercase words, the same ones in the same order every time.

    Raises
    ------
    ValueError
        If ``count`` is not between 1 and the list's size.
    """
    if not 1 <= count <= len(_WORDS):
        raise ValueError("a toy vocabulary has 1 to %d words, not %d" % (len(_WORDS), count))
    return list(random.Random(len(_WORDS)).sample(_WORDS, len(_WORDS))[:count])


def toy_task_pairs(task, train_pairs=10000, test_pairs=50, vocab_size=1000, seed=0):
    """A toy task's training and held-out (question, answer) pairs.

    Questions of the phrase tasks are distinct phrases of three words drawn
    uniformly from ``toy_words(vocab_size)``. Questions of
    ``repeated_words`` are one word three times, drawn with replacement (as
    the original's): its held-out words are words its training pairs never
    have, since a pair is its word.

    Parameters
    ----------
    task : {"reversed_phrases", "repeated_phrases", "repeated_words"}
    train_pairs, test_pairs : int
    vocab_size : int
        Words to draw from.
    seed : int

    Returns
    -------
    train, test : list of (str, str)
        Questions and answers as space-separated words; no test pair is a
        training pair.

    Raises
    ------
    ValueError
        For an unknown task, or more pairs than the vocabulary allows.
    """
    if task not in TASKS:
        raise ValueError("unknown toy task %r: choose from %s" % (task, ", ".join(TASKS)))
    words, rng = toy_words(vocab_size), random.Random("%s/%d" % (task, seed))
    if task == "repeated_words":
        if test_pairs >= vocab_size:
            raise ValueError("%d held-out words leave none of %d to train on"
                             % (test_pairs, vocab_size))
        rng.shuffle(words)
        held_out, seen = words[:test_pairs], words[test_pairs:]
        test = [[word] * 3 for word in held_out]
        train = [[rng.choice(seen)] * 3 for _ in range(train_pairs)]
    else:
        if train_pairs + test_pairs > vocab_size ** 3 // 2:
            raise ValueError("%d distinct phrases are too many for %d words"
                             % (train_pairs + test_pairs, vocab_size))
        phrases = set()
        while len(phrases) < train_pairs + test_pairs:
            phrases.add(tuple(rng.choice(words) for _ in range(3)))
        # Sorted before the shuffle: the order of a set of strings varies by run.
        phrases = sorted(phrases)
        rng.shuffle(phrases)
        test, train = phrases[:test_pairs], phrases[test_pairs:]
    answer = TASKS[task]
    return tuple([(" ".join(question), " ".join(answer(list(question)))) for question in split]
                 for split in (train, test))


def write_toy_task(folder, task, train_pairs=10000, test_pairs=50, vocab_size=1000, seed=0):
    """Write a toy task's ``train/TASK.txt`` and ``test/TASK.txt`` under ``folder``.

    Parameters
    ----------
    folder : str or Path
        Created if needed; files already there are replaced (atomically).
    task, train_pairs, test_pairs, vocab_size, seed
        As for :func:`toy_task_pairs`.

    Returns
    -------
    train_path, test_path : str
        Plain corpora of alternating question and answer lines.
    """
    paths = []
    for split, pairs in zip(("train", "test"), toy_task_pairs(
            task, train_pairs, test_pairs, vocab_size, seed)):
        paths.append(os.path.join(os.fspath(folder), split, "%s.txt" % task))
        with atomic_open(paths[-1]) as handle:
            handle.writelines("%s\n%s\n" % pair for pair in pairs)
    return tuple(paths)


def write_toy_tasks(folder, tasks=tuple(TASKS), **sizes):
    """Write several toy tasks under ``folder`` (see :func:`write_toy_task`).

    Parameters
    ----------
    folder : str or Path
    tasks : sequence of str
        Default: all three.
    **sizes
        ``train_pairs``, ``test_pairs``, ``vocab_size``, ``seed``.

    Returns
    -------
    dict
        Each task's ``(train_path, test_path)``.
    """
    return {task: write_toy_task(folder, task, **sizes) for task in tasks}
