"""Every ``keras-viz`` sub-command: its happy path in a real subprocess, and the same bad inputs
answered the same way (one line on stderr, exit code 2, no traceback)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from keras_viz import cli
from tests.test_cli import brightness_model, run_cli


def attention_model() -> keras.Model:
    ids = keras.Input((5,), dtype="int32", name="ids")
    x = layers.Embedding(10, 8, name="embedding")(ids)
    x = layers.MultiHeadAttention(2, 4, name="mha")(x, x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(ids, layers.Dense(2, activation="softmax", name="out")(x), name="tiny_attention")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("commands")
    keras.utils.set_random_seed(0)
    brightness_model().save(root / "image.keras")
    attention_model().save(root / "attention.keras")
    rng = np.random.default_rng(0)
    for label in ("bright", "dark"):
        (root / "folder" / label).mkdir(parents=True)
        for i in range(3):
            grey = rng.integers(128, 256) if label == "bright" else rng.integers(0, 128)
            Image.fromarray(np.full((20, 20), grey, np.uint8)).save(root / "folder" / label / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(root / "photo.png")
    (root / "junk.keras").write_text("not a model")
    (root / "broken.png").write_bytes(b"not an image")
    return root


def happy_paths(root, out):
    image, tokens = str(root / "image.keras"), str(root / "attention.keras")
    photo, folder = str(root / "photo.png"), str(root / "folder")
    return {
        "explain": ["explain", image, photo, "--method", "grad_cam", "--output", out],
        "diagram": ["diagram", image, "--kind", "block", "--output", out],
        "quality": ["quality", image, photo, "--method", "saliency", "--steps", "4", "--output", out],
        "attention": ["attention", tokens, "1 2 3 4 5", "--output", out],
        "projector": ["projector", image, folder, "--layer", "features", "--output", out],
        "top-patches": ["top-patches", image, folder, "--layer", "features", "--k", "2", "--output", out],
        "visualize": ["visualize", image, "--layer", "features", "--channels", "0", "--steps", "4", "--output", out],
        "dream": ["dream", image, photo, "--layer", "features", "--octaves", "1", "--steps", "2", "--output", out],
    }


def test_every_command_has_a_happy_path_here():
    assert set(happy_paths(pathlib.Path("root"), "out")) | {"demo"} == set(cli.COMMANDS)  # demo: tests/test_cli.py


def test_every_command_runs_in_a_subprocess(files, tmp_path):
    """All commands at once, in parallel processes (each imports TensorFlow on its own)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = {}
    for name, argv in happy_paths(files, None).items():
        out = tmp_path / name
        argv = [str(out) if a is None else a for a in argv]
        runs[name] = (out, subprocess.Popen([sys.executable, "-m", "keras_viz", *argv], stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True, env=env))
    for name, (out, process) in runs.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, (name, stderr[-2000:])
        assert "Traceback" not in stderr, name
        written = [p for p in out.rglob("*") if p.is_file()]
        assert written, f"{name} wrote nothing"
        for png in (p for p in written if p.suffix == ".png"):
            with Image.open(png) as picture:
                assert np.asarray(picture.convert("RGB")).std() > 0, (name, png.name)


def _bad_inputs(root):
    image, junk, broken = str(root / "image.keras"), str(root / "junk.keras"), str(root / "broken.png")
    photo, folder, missing = str(root / "photo.png"), str(root / "folder"), str(root / "missing.keras")
    return {
        # (command, argv with MODEL as {model} and an image as {image}, layer-taking, method-taking, target-taking)
        "explain": (["explain", "{model}", "{image}", "--method", "grad_cam"], True, True, True),
        "diagram": (["diagram", "{model}"], False, False, False),
        "quality": (["quality", "{model}", "{image}", "--method", "grad_cam", "--steps", "2"], True, True, True),
        "projector": (["projector", "{model}", folder, "--layer", "features"], True, False, False),
        "top-patches": (["top-patches", "{model}", "{image}", "--layer", "features"], True, False, False),
        "visualize": (["visualize", "{model}", "--layer", "features", "--channels", "0", "--steps", "1"], True, False, False),
        "dream": (["dream", "{model}", "{image}", "--layer", "features", "--steps", "1"], True, False, False),
        "attention": (["attention", "{model}", "1 2 3 4 5"], True, False, False),
    }, dict(image=image, junk=junk, broken=broken, photo=photo, missing=missing)


def _cases():
    cases = []
    for command in ("explain", "diagram", "quality", "projector", "top-patches", "visualize", "dream", "attention"):
        cases += [(command, "missing model"), (command, "not a keras model")]
        if command in ("explain", "quality", "top-patches", "dream"):
            cases.append((command, "not an image"))
        if command in ("explain", "quality", "projector", "top-patches", "visualize", "dream", "attention"):
            cases.append((command, "unknown layer"))
        if command in ("explain", "quality"):
            cases.append((command, "unknown method"))
        if command in ("explain", "quality"):
            cases.append((command, "target out of range"))
    cases.append(("visualize", "target out of range"))
    return cases


@pytest.mark.parametrize("command, case", _cases())
def test_bad_input_is_one_line_with_exit_code_2(files, tmp_path, capsys, command, case):
    table, paths = _bad_inputs(files)
    argv, *_ = table[command]
    model = str(files / ("attention.keras" if command == "attention" else "image.keras"))
    image = paths["photo"]
    expected = None
    if case == "missing model":
        model, expected = paths["missing"], "model file not found"
    elif case == "not a keras model":
        model, expected = paths["junk"], "could not load model"
    elif case == "not an image":
        image, expected = paths["broken"], "could not read image"
    argv = [model if a == "{model}" else image if a == "{image}" else a for a in argv]
    if case == "unknown layer":
        argv = [*argv, "--layer", "no_such_layer"] if "--layer" not in argv else [
            "no_such_layer" if argv[i - 1] == "--layer" else a for i, a in enumerate(argv)]
        expected = "no_such_layer"
    elif case == "unknown method":
        argv[argv.index("--method") + 1], expected = "magic", "unknown method 'magic'"
    elif case == "target out of range":
        if command == "visualize":
            argv = [a for a in argv if a not in ("--layer", "features", "--channels", "0")]
        argv, expected = [*argv, "--target", "7"], "out of range"
    code, out, err = run_cli(capsys, *argv, "--output", str(tmp_path / "out"))
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"keras-viz {command}: error:"), err
    assert expected in err, err
    assert "Traceback" not in err


def test_an_output_path_that_is_a_file_is_a_one_line_error(files, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    code, _, err = run_cli(capsys, "explain", files / "image.keras", files / "photo.png", "--method", "saliency",
                           "--output", blocker)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(blocker) in err and "Traceback" not in err
