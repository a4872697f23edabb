"""Every script in examples/ runs with --fast and writes real pictures (the gallery never rots)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest
from PIL import Image

EXAMPLES_DIR = pathlib.Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(p for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_") and p.stem != "make_gallery")


def _load(path: pathlib.Path):
    if str(EXAMPLES_DIR) not in sys.path:
        sys.path.insert(0, str(EXAMPLES_DIR))  # as when run as a script: `_shared` is importable
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_examples():
    assert EXAMPLES, "examples/ holds no example script"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_fast_and_writes_a_non_trivial_png(path, tmp_path):
    module = _load(path)
    assert callable(getattr(module, "main", None)), f"{path.name} has no main(argv)"
    assert module.__doc__, f"{path.name} has no docstring saying what it shows"
    module.main(["--fast", "--out", str(tmp_path)])
    pngs = sorted(tmp_path.rglob("*.png"))
    assert pngs, f"{path.name} wrote no PNG"
    for png in pngs:
        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
        assert min(pixels.shape[:2]) >= 16, (png.name, pixels.shape)
        assert pixels.std() > 5.0, f"{png.name} is blank"


def test_make_gallery_keeps_small_copies(tmp_path):
    gallery = _load(EXAMPLES_DIR / "make_gallery.py")
    assert {p.stem for p in gallery.examples()} == {p.stem for p in EXAMPLES}
    gallery.main(["--fast", "--only", "occlusion", "--out", str(tmp_path), "--max-width", "200"])
    with Image.open(tmp_path / "occlusion.png") as picture:
        assert picture.width <= 200 and picture.mode == "P"
    with pytest.raises(SystemExit):
        gallery.main(["--only", "no_such_example", "--out", str(tmp_path)])


def test_readme_gallery_pictures_are_in_the_repository():
    """Every picture the README shows is committed under docs/gallery (a clean clone has it)."""
    import re

    root = EXAMPLES_DIR.parent
    shown = sorted(set(re.findall(r"\(docs/gallery/([\w.-]+\.png)\)", (root / "README.md").read_text())))
    assert len(shown) >= 20, shown
    missing = [name for name in shown if not (root / "docs" / "gallery" / name).is_file()]
    assert not missing, f"README shows pictures that docs/gallery lacks: {missing}"
