"""``keras-viz quality``: the table, CSV and pictures it writes, and its argument errors."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import keras_viz as kv
from keras_viz.cli._common import model_input, read_image
from tests.test_cli import _NO_TF_PROBE, SIZE, brightness_model, run_cli


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The hand-weighted brightness model (CAM of class 0 = 4·x), two images and masks."""
    root = tmp_path_factory.mktemp("quality_cli")
    brightness_model().save(root / "brightness.keras")
    left = np.zeros((SIZE, SIZE), np.uint8)
    left[:, :6] = 255  # bright on the left
    Image.fromarray(left).save(root / "left.png")
    top = np.zeros((SIZE, SIZE), np.uint8)
    top[:5, :] = 255  # bright at the top
    Image.fromarray(top).save(root / "top.png")
    Image.fromarray(left).save(root / "left_mask.png")  # the bright region
    bottom = np.zeros((SIZE, SIZE), np.uint8)
    bottom[12:, :] = 255
    Image.fromarray(bottom).save(root / "bottom_mask.png")  # far from top.png's bright band
    return root


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_quality_table_csv_and_curves_match_the_library(workspace, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "quality", workspace / "brightness.keras", workspace / "left.png", workspace / "top.png",
        "--method", "cam", "--target", "0", "--steps", "8", "--masks", workspace / "left_mask.png",
        workspace / "bottom_mask.png", "--tolerance", "2", "--output", tmp_path,
    )
    assert code == 0, err
    rows = _rows(tmp_path / "quality_cam.csv")
    assert rows[0] == ["image", "class", "deletion", "insertion", "pointing", "energy"]
    assert [r[0] for r in rows[1:]] == ["left", "top", "mean"]
    # The same numbers from the library directly.
    model = brightness_model()
    images = np.concatenate([model_input(read_image(str(workspace / f"{n}.png")), SIZE, SIZE, 1, (0, 1))
                             for n in ("left", "top")])
    maps = kv.CAM(model)(images, targets=0)
    deletion = kv.metrics.deletion(model, images, maps, 0, steps=8)
    insertion = kv.metrics.insertion(model, images, maps, 0, steps=8)
    for row, d, i in zip(rows[1:3], deletion, insertion):
        assert float(row[2]) == pytest.approx(d, abs=1e-5) and float(row[3]) == pytest.approx(i, abs=1e-5)
    # CAM is hot on the bright pixels: on left.png's mask; top.png's band is far from its mask.
    assert [r[4] for r in rows[1:3]] == ["1", "0"]
    assert float(rows[1][5]) == pytest.approx(1.0) and float(rows[2][5]) == pytest.approx(0.0)
    assert "deletion" in out and "left" in out and "mean" in out
    with Image.open(tmp_path / "quality_cam_curves.png") as picture:
        assert np.asarray(picture).std() > 5


def test_quality_sanity_check_writes_its_table_and_chart(workspace, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "quality", workspace / "brightness.keras", workspace / "left.png", "--method", "saliency",
        "--sanity", "--output", tmp_path,
    )
    assert code == 0, err
    rows = _rows(tmp_path / "quality_saliency_sanity.csv")
    assert rows[0] == ["randomized down to", "left", "mean"]
    assert [r[0] for r in rows[1:]] == ["predictions", "features"]  # from the output down
    assert (tmp_path / "quality_saliency_sanity.png").is_file()
    assert "Sanity check" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method", "saliency", "--layer", "features"], "--layer applies to"),
        (["--method", "cam", "--tolerance", "2"], "needs --masks"),
        (["--method", "cam", "--masks", "left_mask.png", "left_mask.png"], "one mask per image"),
        (["--method", "cam", "--deletion-baseline", "black"], "expected a number, 'mean' or 'blur'"),
        (["--method", "cam", "--steps", "0"], "--steps"),
        (["--method", "cam", "--tolerance", "-1"], "--tolerance"),
        (["--method", "magic"], "unknown method"),
    ],
)
def test_argument_errors_print_one_line_before_tensorflow_is_imported(workspace, extra, message):
    argv = ["quality", str(workspace / "brightness.keras"), str(workspace / "left.png"), *extra]
    argv = [str(workspace / a) if a.endswith("_mask.png") else a for a in argv]
    result = subprocess.run([sys.executable, "-c", _NO_TF_PROBE, *argv], capture_output=True, text=True,
                            timeout=60, cwd=workspace)
    assert "TF-NOT-IMPORTED 2" in result.stdout, (result.stdout, result.stderr)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_empty_mask_is_an_error(workspace, tmp_path, capsys):
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(tmp_path / "empty.png")
    code, _, err = run_cli(capsys, "quality", workspace / "brightness.keras", workspace / "left.png",
                           "--method", "cam", "--masks", tmp_path / "empty.png")
    assert code == 2 and "mask of left is empty" in err
