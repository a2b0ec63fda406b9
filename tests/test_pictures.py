"""bin/draw_architectures.py draws the three architecture diagrams, and the
committed pics/ are what it draws now."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NAMES = ("v1", "v2", "attention")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    spec = importlib.util.spec_from_file_location(
        "draw_architectures", REPO / "bin" / "draw_architectures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path_factory.mktemp("pics") / "new"   # --out is created when missing
    assert script.main(["--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", NAMES)
def test_every_architecture_is_drawn_as_a_png(drawn, name):
    from matplotlib.image import imread
    path = drawn / ("%s.png" % name)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(str(path))
    # 11 inches wide at 80 dpi, and not blank: boxes, arrows and text.
    assert pixels.shape[1] == 880 and pixels.std() > 0.05


@pytest.mark.parametrize("name", NAMES)
def test_committed_pictures_are_up_to_date(drawn, name):
    from matplotlib.image import imread
    new, committed = (imread(str(folder / ("%s.png" % name))) for folder in (drawn, REPO / "pics"))
    assert new.shape == committed.shape, "run bin/draw_architectures.py and commit pics/"
    assert np.abs(new - committed).mean() < 0.002, "run bin/draw_architectures.py and commit pics/"
