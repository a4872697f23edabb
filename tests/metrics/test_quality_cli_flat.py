"""``keras-viz quality`` on a flat map: a pointing-game miss, and a note naming the image."""

from __future__ import annotations

import csv

import numpy as np
from PIL import Image

from tests.test_cli import SIZE, brightness_model, run_cli


def test_flat_map_is_a_pointing_miss_and_is_reported(tmp_path, capsys):
    brightness_model().save(tmp_path / "brightness.keras")
    left = np.zeros((SIZE, SIZE), np.uint8)
    left[:, :6] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(tmp_path / "black.png")  # CAM of class 0 = 4·x = 0
    Image.fromarray(left).save(tmp_path / "mask.png")
    code, out, err = run_cli(
        capsys, "quality", tmp_path / "brightness.keras", tmp_path / "left.png", tmp_path / "black.png",
        "--method", "cam", "--target", "0", "--steps", "4", "--masks", tmp_path / "mask.png", tmp_path / "mask.png",
        "--output", tmp_path / "out",
    )
    assert code == 0, err
    with open(tmp_path / "out" / "quality_cam.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert [r[4] for r in rows[1:3]] == ["1", "0"]  # the all-zero map of black.png no longer "hits"
    assert "1 of 2 map(s) are flat" in out and "black" in out.split("are flat", 1)[1].splitlines()[0]
