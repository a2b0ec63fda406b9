"""The package's structure: stages that import only the stages before them,
no import cycles, and an import that leaves the process ready for Lasagne."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lasagne_seq2seq"

#: The stages in import order: a module may import its own stage and those before it.
STAGES = [("errors", "files"), ("config", "plots"), ("backend",), ("data", "nn"), ("rundir",),
          ("models",), ("decode",), ("train", "serve"), ("evaluation",), ("cli",)]
RANK = {stage: rank for rank, names in enumerate(STAGES) for stage in names}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(path):
    """The package modules ``path`` imports, at module level or in a function."""
    package = module_name(path) if path.name == "__init__.py" else \
        module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base + "." + alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        yield from (name for name in names if name.startswith("lasagne_seq2seq."))


def stage(name):
    return name.split(".")[1]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or
                 p.parent != PACKAGE)


def test_every_module_belongs_to_a_stage():
    assert {stage(module_name(p)) for p in MODULES} == set(RANK)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_imports_point_down_the_stages(path):
    own = stage(module_name(path))
    for name in package_imports(path):
        other = stage(name)
        assert other == own or RANK[other] < RANK[own] and (RANK[other], RANK[own]) != (3, 3), \
            "%s imports %s: %s comes after %s" % (module_name(path), name, other, own)


def test_the_package_has_no_import_cycles():
    graph = {module_name(p): set() for p in PACKAGE.rglob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        for name in package_imports(path):
            while name not in graph:
                name = name.rpartition(".")[0]
            if name != module_name(path) and not module_name(path).startswith(name + "."):
                graph[module_name(path)].add(name)
    done, path_stack = set(), []

    def visit(node):
        assert node not in path_stack, "import cycle: %s" % " -> ".join(path_stack + [node])
        if node in done:
            return
        path_stack.append(node)
        for target in sorted(graph[node]):
            visit(target)
        path_stack.pop()
        done.add(node)
    for node in sorted(graph):
        visit(node)


@pytest.mark.parametrize("statement", [
    "import lasagne_seq2seq, lasagne",
    "import lasagne_seq2seq, theano, lasagne",
    "import lasagne_seq2seq; from lasagne.layers import InputLayer, DenseLayer; "
    "DenseLayer(InputLayer((None, 3)), 2)",
])
def test_importing_the_package_makes_the_stack_ready_in_a_fresh_process(statement):
    result = subprocess.run([sys.executable, "-c", statement + "; print('ok')"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def test_importing_the_package_alone_does_not_load_theano():
    # So that a script can still choose the device (cli.select_device).
    result = subprocess.run([sys.executable, "-c", "import sys, lasagne_seq2seq.config, "
                             "lasagne_seq2seq.decode.options; print('theano' in sys.modules)"],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout == "False\n", result.stderr


def test_the_package_finds_the_repository_data_folder():
    from lasagne_seq2seq.data.corpora import DATA_DIR, corpus_path
    from lasagne_seq2seq.data.embeddings import EMBEDDINGS_DIR
    root = PACKAGE.parent
    assert (DATA_DIR, EMBEDDINGS_DIR) == (root / "data" / "movie_scripts",
                                          root / "data" / "embeddings")
    assert Path(corpus_path("chitchat")).parent == DATA_DIR and (DATA_DIR / "README.md").exists()
