"""bench/run.py: its table's ratios. Its same math as the PyTorch reference is
bench/test_torch_reference.py's, run where PyTorch is installed."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench_run():
    """bench/run.py as a module, with bench/ importable (as when it runs as a script)."""
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(BENCH))


def table_cells(table, rows):
    """``{label: {column: cell}}`` of a :func:`format_size_table` text."""
    width = max(len(label) for _, label, _ in rows) + 2
    lines = table.splitlines()

    def cells(line):
        return [line[i:i + 16].strip() for i in range(width, len(line), 16)]
    names = cells(lines[1])
    return {line[:width].strip(): dict(zip(names, cells(line) + [""] * len(names)))
            for line in lines[2:]}


def test_format_size_table_ratios_follow_each_rows_direction(bench_run):
    ours = {"train_tokens_per_s": 3000.0, "train_ms_per_step": 20.0, "greedy_ids_ms": 8.0,
            "batched_ids_replies_per_s": 600.0, "greedy_text_ms": 10.0, "beam10_text_ms": 40.0,
            "batched_text_replies_per_s": 400.0, "compile_s": None}
    faster = dict(ours, train_tokens_per_s=6000.0, greedy_ids_ms=2.0)
    pytorch = {"train_tokens_per_s": 2000.0, "train_ms_per_step": 30.0, "greedy_ids_ms": 4.0,
               "batched_ids_replies_per_s": 1200.0}
    table = bench_run.format_size_table("default", {"compat": ours, "avx512": faster,
                                                    "pytorch": pytorch})
    cells = table_cells(table, bench_run.ROWS)
    assert table.splitlines()[0].startswith("default  (vocabulary 8000, embedding 128, hidden 256")
    training, greedy_ids = cells["training (target tokens/s)"], cells["greedy ids, 1 question (ms)"]
    # Larger is better for throughput (ours / PyTorch), smaller for latency (PyTorch / ours).
    assert (training["compat/pytorch"], training["avx512/pytorch"]) == ("1.50x", "3.00x")
    assert (greedy_ids["compat/pytorch"], greedy_ids["avx512/pytorch"]) == ("0.50x", "2.00x")
    assert cells["greedy ids, batch 64 (replies/s)"]["compat/pytorch"] == "0.50x"
    assert training["compat"] == "3000" and greedy_ids["pytorch"] == "4.0"
    # No ratio where the two do not measure alike (text) or for non-speed rows;
    # a figure a system lacks is a dash.
    for label in ("greedy text, 1 question (ms)", "beam 10 text, 1 question (ms)",
                  "greedy text, batch 64 (replies/s)", "training (ms/step)"):
        assert cells[label]["compat/pytorch"] == "", label
    assert cells["greedy text, 1 question (ms)"]["pytorch"] == "-"
    assert cells["compile, cold (s)"]["compat"] == "-"
    alone = bench_run.format_size_table("default", {"compat": ours})
    assert "/pytorch" not in alone and "3000" in alone


def bench_module(name):
    spec = importlib.util.spec_from_file_location("bench_" + name, BENCH / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_job_targets_pass_and_miss_at_their_bounds():
    targets = bench_module("main_job_targets")
    figures = {"valid_ppl": 45.0, "unk_reply_share": 0.0, "top_reply_share": 0.05,
               "distinct_2": 0.10, "length_ratio": 0.7}
    text, passed = targets.report(figures)
    assert passed and "MISSED" not in text
    for key, worse in (("valid_ppl", 45.01), ("unk_reply_share", 0.001),
                       ("top_reply_share", 0.0501), ("distinct_2", 0.0999),
                       ("length_ratio", 1.31)):
        text, passed = targets.report(dict(figures, **{key: worse}))
        assert not passed and text.count("MISSED") == 1, key


def test_compare_models_table_has_a_row_and_samples_per_set_up():
    compare = bench_module("compare_models")
    row = {"name": "v1", "steps": 100, "tokens_per_second": 14034.3, "valid_ppl": 52.14,
           "bleu": 1.234,
           "distinct_1": 0.05, "distinct_2": 0.12, "top_reply_share": 0.031,
           "unk_reply_share": 0.0, "mean_length": 8.0, "reference_mean_length": 10.5,
           "samples": [["hi", "hey!"], ["how are you?", "good."]]}
    table = compare.markdown([row, dict(row, name="attention", valid_ppl=60.0)], "15 min each")
    lines = table.splitlines()
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert lines[2] == ("| v1 | 100 | 14,034 | 52.1 | 1.23 | 0.050 | 0.120 | 3.1% | 0.0% | "
                        "8.00 (10.50) |")
    assert "how are you? -> good." in table and table.count("```") == 4
    decodings = compare.markdown([{k: v for k, v in row.items()
                                   if k not in ("steps", "tokens_per_second", "valid_ppl")}],
                                 "runs/default")
    assert decodings.splitlines()[0].startswith("| decoding (runs/default) | BLEU | distinct-1 |")
    assert decodings.splitlines()[2].startswith("| v1 | 1.23 | 0.050 |")


def test_the_batch_study_validates_every_32000_pairs_whatever_the_batch():
    """A validation costs the same time at every batch size, so each row of
    ``--study batch`` spends the same share of its budget on them."""
    rows = bench_module("compare_models").STUDIES["batch"]
    sizes = []
    for key, name, flags in rows:
        size = int(flags[flags.index("--batch-size") + 1])
        assert size * int(flags[flags.index("--validate-every") + 1]) == 32000, key
        assert str(size) in key and str(size) in name
        sizes.append(size)
    assert len(set(sizes)) == len(rows) > 1


def test_the_learning_rate_study_holds_the_default_and_a_rate_each_side():
    from lasagne_seq2seq.config import preset
    rows = bench_module("compare_models").STUDIES["learning-rate"]
    rates = [float(flags[flags.index("--learning-rate") + 1]) for _, _, flags in rows]
    default = preset("default").train.learning_rate
    assert default in rates and min(rates) < default < max(rates)
