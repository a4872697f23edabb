"""The Embedding Projector export, as a real TensorBoard server and its web page show it.

A log directory holds Keras' ``train`` run and two keras-viz projector exports (a checkpoint
tensor with two metadata columns and a sprite; a TSV tensor with one column). A
``tensorboard`` process serves it; the projector plugin's JSON/binary endpoints must return
what was exported, and the projector page, in headless Chromium, must load the points.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import get_bytes, get_json, serve_tensorboard, wait_for_json
from tests.e2e.conftest import PAGE_TIMEOUT_MS

POINTS = 12
LABELS = ["zero", "tab\there", "new\nline", "café ✓ 日本", "cr\rlf", *[f"digit {i}" for i in range(5, POINTS)]]
PLUGIN = "data/plugin/projector"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Any]:
    import keras

    import keras_viz as kv

    log_dir = tmp_path_factory.mktemp("projector_logs")
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(rng.normal(size=(8, 4)), rng.normal(size=(8, 2)), epochs=1, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(os.fspath(log_dir))])
    codes = rng.normal(size=(POINTS, 5)).astype(np.float32)
    images = rng.integers(0, 256, size=(POINTS, 10, 8, 3), dtype=np.uint8)
    checkpoint_run = kv.tensorboard.export_projector(
        log_dir, codes, metadata={"label": LABELS, "index": list(range(POINTS))}, images=images, name="codes"
    )
    tsv_run = kv.tensorboard.export_projector(log_dir, codes[:, :3], metadata=LABELS, run="tsv_export", tensor_format="tsv")
    return {"log_dir": log_dir, "codes": codes, "images": images,
            "runs": {"checkpoint": os.path.basename(checkpoint_run), "tsv": os.path.basename(tsv_run)}}


@pytest.fixture(scope="module")
def server(exported) -> Iterator[str]:
    with serve_tensorboard(exported["log_dir"]) as base_url:
        yield base_url


def _escaped(label: str) -> str:
    from keras_viz.projector import escape_label

    return escape_label(label)


def test_runs_list_both_exports(server, exported):
    runs = wait_for_json(server, f"{PLUGIN}/runs", lambda runs: len(runs) >= 2)
    assert set(exported["runs"].values()) <= set(runs)
    assert "train" not in runs  # Keras' run has no embedding


def test_tensor_is_served_as_the_same_float32_values(server, exported):
    run = exported["runs"]["checkpoint"]
    body, _ = get_bytes(server, f"{PLUGIN}/tensor", {"run": run, "name": "codes"})
    np.testing.assert_array_equal(np.frombuffer(body, np.float32).reshape(POINTS, 5), exported["codes"])
    body, _ = get_bytes(server, f"{PLUGIN}/tensor", {"run": exported["runs"]["tsv"], "name": "embedding"})
    np.testing.assert_array_equal(np.frombuffer(body, np.float32).reshape(POINTS, 3), exported["codes"][:, :3])
    info = get_json(server, f"{PLUGIN}/info", {"run": run})
    [embedding] = info["embeddings"]
    assert embedding["tensorName"] == "codes" and [int(n) for n in embedding["tensorShape"]] == [POINTS, 5]


def test_metadata_rows_one_per_point(server, exported):
    body, _ = get_bytes(server, f"{PLUGIN}/metadata", {"run": exported["runs"]["checkpoint"], "name": "codes"})
    rows = body.decode("utf-8").split("\n")[:-1]
    assert rows[0] == "label\tindex" and len(rows) == POINTS + 1
    assert rows[1:] == [f"{_escaped(label)}\t{i}" for i, label in enumerate(LABELS)]
    assert "café ✓ 日本\t3" in rows  # non-ASCII text arrives as written
    body, _ = get_bytes(server, f"{PLUGIN}/metadata", {"run": exported["runs"]["tsv"], "name": "embedding"})
    assert body.decode("utf-8").split("\n")[:-1] == [_escaped(label) for label in LABELS]  # one column: no header


def test_sprite_image_is_a_png_of_the_grid(server, exported):
    body, content_type = get_bytes(server, f"{PLUGIN}/sprite_image", {"run": exported["runs"]["checkpoint"], "name": "codes"})
    sprite = Image.open(io.BytesIO(body))
    assert sprite.format == "PNG" and "image/png" in content_type
    assert sprite.size == (4 * 8, 4 * 10)  # ceil(sqrt(12)) = 4 thumbnails per side, 8 x 10 px each
    np.testing.assert_array_equal(np.asarray(sprite.convert("RGB"))[10:20, 0:8], exported["images"][4])


# --------------------------------------------------------------------------- the web page

_DEEP_TEXT_JS = """
() => {
  const parts = [];
  const walk = (root) => {
    const texts = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (texts.nextNode()) {
      const parent = texts.currentNode.parentNode;
      if (parent && !['STYLE', 'SCRIPT'].includes(parent.nodeName) && texts.currentNode.nodeValue.trim()) {
        parts.push(texts.currentNode.nodeValue.trim());
      }
    }
    for (const element of root.querySelectorAll('*')) if (element.shadowRoot) walk(element.shadowRoot);
  };
  walk(document);
  return parts.join('\\n');
}
"""

_POINTS_JS = """
() => {
  let found = null;
  const walk = (root) => {
    for (const element of root.querySelectorAll('*')) {
      if (element.classList && element.classList.contains('numDataPoints')) found = element.textContent.trim();
      if (element.shadowRoot) walk(element.shadowRoot);
    }
  };
  walk(document);
  return found;
}
"""


def test_projector_page_loads_the_points_and_metadata(browser, server, exported, tmp_path):
    wait_for_json(server, f"{PLUGIN}/runs", lambda runs: len(runs) >= 2)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{server}#projector", timeout=PAGE_TIMEOUT_MS)
        frame_points = None
        deadline = PAGE_TIMEOUT_MS // 250
        for _ in range(deadline):
            for frame in page.frames:
                try:
                    value = frame.evaluate(_POINTS_JS)
                except Exception:  # a frame still loading
                    continue
                if value and value.replace(",", "").isdigit() and int(value.replace(",", "")) > 0:
                    frame_points = (frame, int(value.replace(",", "")))
            if frame_points:
                break
            page.wait_for_timeout(250)
        assert frame_points, "the projector page never showed its number of points"
        frame, count = frame_points
        assert count == POINTS
        for _ in range(deadline):  # the metadata arrives after the points
            text = frame.evaluate(_DEEP_TEXT_JS)
            if "metadata.tsv" in text:
                break
            page.wait_for_timeout(250)
        assert "metadata.tsv" in text, "the projector never showed the metadata file"
        assert "do not match the number of lines in metadata" not in text
        assert any("/metadata?" in url for url in requested)
        assert "label" in text.split("\n")  # the "Label by" menu shows the first metadata column
        outside = [url for url in requested if not url.startswith((server, "data:", "blob:"))]
        assert not outside, outside
    finally:
        page.screenshot(path=str(tmp_path / "projector.png"))
        context.close()
