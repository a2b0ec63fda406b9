"""Every corpus format on real files, the prepared corpora, and every error."""
import importlib.util
import json
import os
import pwd
import re
import tempfile
from pathlib import Path

import pytest

from lasagne_seq2seq.data import corpora
from lasagne_seq2seq.data.corpora import (corpus_path,
    load_conversations,
    make_pairs,
    prepare_chitchat,
    prepare_shakespeare,
    split_conversations)
from lasagne_seq2seq.errors import Seq2SeqError
from toy import SIZES, toy_path

#: Movie lines as the original project kept them (movie_lines_cleaned_10k.txt):
#: one utterance a line, consecutive lines a question and its reply, and the
#: odd stray blank line that is no conversation boundary.
MOVIE_LINES = ("Where were you last night?\n"
               "Out. With friends, if you must know.\n"
               "You said you'd call.\n"
               "\n"
               "I didn't have a phone, Dad!\n"
               "That's what they all say... every single one of them, and then "
               "they come home at three in the morning.\n"
               "\n"
               "Okay.\n")


def test_the_original_plain_movie_lines(tmp_path):
    # Its stray blank lines would make auto-detection read it as a script.
    path = tmp_path / "movie_lines_cleaned.txt"
    path.write_text(MOVIE_LINES, encoding="utf-8")
    assert len(load_conversations(str(path))) == 3
    [lines] = load_conversations(str(path), fmt="plain")
    assert len(lines) == 6 and lines[:2] == ["Where were you last night?",
                                             "Out. With friends, if you must know."]
    pairs = make_pairs([lines])
    assert len(pairs) == 5 and pairs[2] == ("You said you'd call.", "I didn't have a phone, Dad!")


def test_the_original_toy_task_pairs_alternate_lines():
    pairs = make_pairs(load_conversations(str(toy_path("train", "reversed_phrases"))),
                       mode="alternate")
    assert len(pairs) == SIZES["train_pairs"]
    assert all(reply.split() == question.split()[::-1] for question, reply in pairs)


def test_script_format_pairs_never_cross_conversations(tmp_path):
    path = tmp_path / "script.txt"
    path.write_text("a1\na2\na3\n\n\nb1\nb2\n", encoding="utf-8")
    conversations = load_conversations(str(path))
    assert conversations == [["a1", "a2", "a3"], ["b1", "b2"]]
    assert make_pairs(conversations) == [("a1", "a2"), ("a2", "a3"), ("b1", "b2")]
    assert make_pairs(conversations, "alternate") == [("a1", "a2"), ("b1", "b2")]


def test_tsv_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("hi\thello\nhow are you?\tfine.\n", encoding="utf-8")
    assert make_pairs(load_conversations(str(path))) == [("hi", "hello"),
                                                          ("how are you?", "fine.")]


def write_cornell(folder):
    sep = " +++$+++ "
    lines = ["L3%su0%sm0%sBIANCA%sCaf\xe9 tonight?" % (sep, sep, sep, sep),
             "L1%su0%sm0%sBIANCA%sHi there." % (sep, sep, sep, sep),
             "L2%su1%sm0%sCAMERON%sHello." % (sep, sep, sep, sep),
             "L9%su1%sm0%sCAMERON%sBye." % (sep, sep, sep, sep)]
    (folder / "movie_lines.txt").write_bytes("\n".join(lines).encode("iso-8859-1"))
    conversations = ["u0%su1%sm0%s['L1', 'L2', 'L3']" % (sep, sep, sep),
                     "u0%su1%sm0%s['L9']" % (sep, sep, sep)]
    (folder / "movie_conversations.txt").write_bytes("\n".join(conversations).encode("latin-1"))


def test_raw_cornell_corpus_in_conversation_order(tmp_path):
    write_cornell(tmp_path)
    conversations = load_conversations(str(tmp_path))
    assert conversations == [["Hi there.", "Hello.", "Caf\xe9 tonight?"], ["Bye."]]
    assert make_pairs(conversations) == [("Hi there.", "Hello."), ("Hello.", "Caf\xe9 tonight?")]
    assert load_conversations(str(tmp_path / "movie_lines.txt")) == conversations


def test_splits_are_by_conversation_and_seeded():
    conversations = [["q%d" % i, "r%d" % i] for i in range(100)]
    train, valid, test = split_conversations(conversations, 0.1, 0.2, seed=3)
    assert (len(train), len(valid), len(test)) == (70, 10, 20)
    keys = [{c[0] for c in split} for split in (train, valid, test)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert split_conversations(conversations, 0.1, 0.2, seed=3) == (train, valid, test)
    assert split_conversations(conversations, 0.1, 0.2, seed=4) != (train, valid, test)


def test_chitchat_is_prepared_from_its_package(tmp_path):
    prepared = prepare_chitchat(tmp_path / "chitchat.txt")
    assert prepared.conversations == 7168
    conversations = load_conversations(str(tmp_path / "chitchat.txt"))
    assert len(conversations) == 7168
    assert 125000 < len(make_pairs(conversations)) < 140000


def test_shakespeare_speeches_and_scenes_without_stage_directions(tmp_path):
    prepare_shakespeare(tmp_path / "shakespeare.txt")
    conversations = load_conversations(str(tmp_path / "shakespeare.txt"))
    assert 600 < len(conversations) < 1000
    speeches = [s for c in conversations for s in c]
    assert any(s.startswith("Tush! never tell me; I take it much unkindly") for s in speeches)
    assert not any("_" in s or "[" in s or s.startswith("**") for s in speeches)


def test_named_corpora_resolve_to_prepared_files():
    assert corpus_path("chitchat").name == "chitchat.txt"
    assert corpus_path("chitchat").parent.name == "movie_scripts"


@pytest.mark.parametrize("content, fmt, message", [
    (None, "auto", "not found"),
    (b"", "auto", "is empty"),
    (b"\n\n  \n", "auto", "is empty"),
    (b"hello\nwor\xffld\n", "auto", r"line 2: bytes that are not utf-8 .* --encoding latin-1"),
    (b"only one line\n", "auto", "holds no .* pairs"),
    (b"a\tb\nno tab here\n", "tsv", "line 2: expected 'utterance<TAB>reply'"),
    (b"a\nb\n", "xml", "unknown corpus format 'xml'"),
    (b"a\n" + b"x" * 10001 + b"\n", "auto", "line 2 has 10001 characters"),
])
def test_bad_input_is_a_one_line_error_naming_the_file(tmp_path, content, fmt, message):
    path = tmp_path / "corpus.tsv" if fmt == "tsv" else tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(Seq2SeqError, match=message) as error:
        load_conversations(str(path), fmt=fmt)
    assert "\n" not in str(error.value)
    if fmt != "xml":
        assert str(path) in str(error.value)


def test_unknown_corpus_names_list_the_known_ones():
    with pytest.raises(Seq2SeqError, match="unknown corpus 'reddit': use one of chitchat"):
        load_conversations("reddit")


def test_latin1_files_read_with_the_encoding_option(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("caf\xe9?\noui.\n".encode("latin-1"))
    assert load_conversations(str(path), encoding="latin-1") == [["caf\xe9?", "oui."]]


def test_shakespeare_speeches_go_on_after_a_stage_direction(tmp_path):
    prepare_shakespeare(tmp_path / "shakespeare.txt")
    speeches = [s for c in load_conversations(str(tmp_path / "shakespeare.txt")) for s in c]
    # Theseus's speech is cut by "_Exit PHILOSTRATE_" in the Markdown.
    [speech] = [s for s in speeches if s.startswith("Go, Philostrate")]
    assert "for our pomp. Hippolyta, I woo'd thee with my sword" in speech
    assert not any("*" in s for s in speeches)  # Edward III's *[asides]*


def test_an_unprepared_named_corpus_says_how_to_prepare_it(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "DATA_DIR", tmp_path / "data" / "movie_scripts")
    with pytest.raises(Seq2SeqError, match=r"corpus 'chitchat' is not prepared "
                       r"\(data/movie_scripts/chitchat.txt missing\): run `bash setup.sh`"):
        load_conversations("chitchat")


def test_cornell_errors_name_the_file_and_line(tmp_path):
    write_cornell(tmp_path)
    (tmp_path / "movie_conversations.txt").write_text("u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L7']")
    with pytest.raises(Seq2SeqError, match=r"movie_conversations.txt line 1: line id L7"):
        load_conversations(str(tmp_path))
    (tmp_path / "movie_lines.txt").write_text("L1 +++$+++ u0 +++$+++ only three")
    with pytest.raises(Seq2SeqError, match=r"movie_lines.txt line 1: expected 5 fields"):
        load_conversations(str(tmp_path))
    (tmp_path / "movie_conversations.txt").unlink()
    with pytest.raises(Seq2SeqError, match="movie_conversations.txt not found"):
        load_conversations(str(tmp_path), fmt="cornell")


@pytest.mark.parametrize("ids", ["42", "'L1'", "[['L1', 'L2']]", "{['L1']: 1}", "[L1, L2"])
def test_a_cornell_ids_field_that_is_not_a_list_of_ids_names_file_and_line(tmp_path, ids):
    write_cornell(tmp_path)
    sep = " +++$+++ "
    (tmp_path / "movie_conversations.txt").write_text(
        "u0%su1%sm0%s['L1', 'L2']\nu0%su1%sm0%s%s\n" % (sep, sep, sep, sep, sep, sep, ids))
    with pytest.raises(Seq2SeqError, match=r"movie_conversations.txt line 2: the last field "
                       r"must be a list of line ids such as \['L194', 'L195'\], found ") as error:
        load_conversations(str(tmp_path))
    assert str(error.value).endswith(ids) and "\n" not in str(error.value)


@pytest.mark.parametrize("fmt", ["auto", "script", "tsv"])
def test_a_corpus_without_read_permission_is_a_one_line_error(tmp_path, monkeypatch, fmt):
    # Root reads a chmod 000 file anyway: the refusal is simulated.
    path = tmp_path / "corpus.txt"
    path.write_text("hi\nhello\n")
    real_open = open

    def refusing_open(name, *args, **kwargs):
        if str(name) == str(path):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)
    monkeypatch.setattr(corpora, "open", refusing_open, raising=False)
    with pytest.raises(Seq2SeqError, match=r"corpus file .*corpus.txt cannot be read "
                       r"\(Permission denied\): check its permissions \(chmod a\+r "):
        load_conversations(str(path), fmt=fmt)


def load_error_without_privileges(path):
    """The one-line error of ``load_conversations(path)`` (None if it loads),
    as a user without root's right to read every file: this process's, or,
    under root, a forked child's that has become ``nobody``."""
    def error_message():
        try:
            load_conversations(str(path))
        except Seq2SeqError as error:
            return str(error)
        return None
    if os.geteuid() != 0:
        return error_message()
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            answer = {"message": error_message()}
        except BaseException as error:
            answer = {"child failed": repr(error)}
        finally:
            os.write(write_end, json.dumps(answer).encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = json.loads(pipe.read())
    os.waitpid(child, 0)
    assert "message" in answer, answer
    return answer["message"]


def test_a_chmod_000_corpus_is_a_one_line_error():
    # In a folder anyone may enter, so that only the file's own mode refuses.
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        readable, refused = Path(folder) / "readable.txt", Path(folder) / "corpus.txt"
        for path in (readable, refused):
            path.write_text("hi\nhello\n")
        readable.chmod(0o644)
        refused.chmod(0)
        assert load_error_without_privileges(readable) is None
        message = load_error_without_privileges(refused)
    assert re.search(r"corpus file .*corpus.txt cannot be read \(Permission denied\)", message), \
        message


def test_an_empty_cornell_line_splits_its_conversation(tmp_path):
    write_cornell(tmp_path)
    sep = " +++$+++ "
    with open(tmp_path / "movie_lines.txt", "ab") as handle:
        handle.write(("\nL4%su0%sm0%sBIANCA%s" % (sep, sep, sep, sep)).encode("latin-1"))
    (tmp_path / "movie_conversations.txt").write_text("u0%su1%sm0%s['L1', 'L2', 'L4', 'L3', 'L9']"
                                                      % (sep, sep, sep))
    assert make_pairs(load_conversations(str(tmp_path))) == [("Hi there.", "Hello."),
                                                             ("Caf\xe9 tonight?", "Bye.")]


def test_unknown_pairing_and_a_byte_order_mark(tmp_path):
    with pytest.raises(Seq2SeqError, match="unknown --pairing 'random'"):
        make_pairs([["a", "b"]], mode="random")
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffhi\nhello\n".encode("utf-8"))
    assert load_conversations(str(path)) == [["hi", "hello"]]


def load_prepare_data_script():
    spec = importlib.util.spec_from_file_location(
        "prepare_data", Path(__file__).resolve().parents[1] / "bin" / "prepare_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_data_script_is_idempotent(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(corpora, "DATA_DIR", tmp_path)
    script = load_prepare_data_script()
    assert script.main(["shakespeare"]) == 0
    first = capsys.readouterr().out
    assert re.match(r"shakespeare: \d+ conversations, \d+ utterances -> .*shakespeare.txt "
                    r"\(\d+\.\d s\)\n$", first)
    written = (tmp_path / "shakespeare.txt").stat().st_mtime_ns
    assert script.main(["shakespeare"]) == 0
    assert capsys.readouterr().out.startswith("shakespeare: already prepared")
    assert (tmp_path / "shakespeare.txt").stat().st_mtime_ns == written
    with pytest.raises(SystemExit):
        script.main(["reddit"])
