"""TensorBoard's web UI, in headless Chromium, shows the pictures keras-viz logged.

Drives Debian's ``/usr/bin/chromium`` with Python Playwright (``pip install playwright``
ships its own driver; its own browser download is never used). Without Chromium or
Playwright the tests skip with the reason, except under ``CI=true``, where they fail:
``scripts/test.sh`` installs Chromium there.

The images dashboard is ``BASE/#images``; ``&tagFilter=<regex>`` (URI-encoded) in the
hash fills its search-results group, shown first and opened, with just the matching tags.
All runs are selected on a fresh profile and the first groups are opened by default.
Each picture is an ``<img>`` (inside the shadow roots of ``tf-image-loader``) whose
``src`` is ``data/plugin/images/individualImage?blob_key=...&ts=<wall_time>``: the
``query`` of the JSON endpoint plus ``&ts=``.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

# The `browser` fixture (headless Chromium) is the package's, in conftest.py.
from tests.e2e.conftest import (
    GRID_TAG,
    IN_CI,
    MISSING,
    PAGE_TIMEOUT_MS,
    PREFIX,
    SAMPLES,
    fetch_images,
)

if MISSING and not IN_CI:
    # Skip before the (package-scoped) log directory and server are built for nothing.
    pytestmark = pytest.mark.skip(reason=MISSING)

RUN = "keras_viz"

# Every <img> of the page, through the open shadow roots of TensorBoard's Polymer elements.
_ALL_IMAGES_JS = """
() => {
  const found = [];
  const walk = (root) => {
    for (const element of root.querySelectorAll('*')) {
      if (element.tagName === 'IMG') found.push(element);
      if (element.shadowRoot) walk(element.shadowRoot);
    }
  };
  walk(document);
  return found;
}
"""

_RENDERED_JS = f"""
(queries) => {{
  const images = ({_ALL_IMAGES_JS})();
  return queries.every((query) => images.some((img) =>
      img.src.includes('individualImage?' + query) && img.complete && img.naturalWidth > 0));
}}
"""

# For each query: the rendered <img>'s src, natural size, on-screen size and its pixels
# (RGB, row-major), read back through a canvas (same origin, so not tainted).
_DESCRIBE_JS = f"""
(queries) => {{
  const images = ({_ALL_IMAGES_JS})();
  return queries.map((query) => {{
    const img = images.find((one) => one.src.includes('individualImage?' + query));
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const rgb = [];
    for (let i = 0; i < rgba.length; i += 4) rgb.push(rgba[i], rgba[i + 1], rgba[i + 2]);
    const box = img.getBoundingClientRect();
    return {{src: img.src, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
             shownWidth: box.width, shownHeight: box.height, rgb}};
  }});
}}
"""


@dataclasses.dataclass
class Tab:
    page: Any  # playwright.sync_api.Page
    requested: list[str]  # every URL the page asked for


@pytest.fixture
def tab(browser, explained_server, tmp_path) -> Iterator[Tab]:
    """A fresh page (new profile: default run selection), with its requests recorded.

    A screenshot of the page is saved to ``tmp_path/tensorboard.png`` at teardown.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    opened = Tab(page=context.new_page(), requested=[])
    opened.page.on("request", lambda request: opened.requested.append(request.url))
    try:
        yield opened
    finally:
        try:
            opened.page.screenshot(path=str(tmp_path / "tensorboard.png"), timeout=10_000)
        finally:
            context.close()


def _dashboard_url(base_url: str, tag_filter: str | None = None) -> str:
    url = f"{base_url}#images"
    if tag_filter is not None:
        url += "&tagFilter=" + urllib.parse.quote(tag_filter, safe="")
    return url


def _wait_rendered(page, queries: list[str]) -> list[dict]:
    """Waits (bounded) until an <img> per query has loaded; returns what each shows."""
    try:
        page.wait_for_function(_RENDERED_JS, arg=queries, timeout=PAGE_TIMEOUT_MS, polling=200)
    except Exception as error:
        shown = page.evaluate(f"() => ({_ALL_IMAGES_JS})().map((img) => img.src)")
        raise AssertionError(
            f"TensorBoard rendered no <img> for {queries} within {PAGE_TIMEOUT_MS} ms; "
            f"images on the page: {shown}"
        ) from error
    return page.evaluate(_DESCRIBE_JS, queries)


def _assert_loopback_only(tab: Tab, base_url: str) -> None:
    outside = [url for url in tab.requested if not url.startswith((base_url, "data:", "blob:"))]
    assert not outside, f"the UI requested something off the server: {outside}"


def test_images_dashboard_renders_keras_viz_overlays(tab, explained_server, explained_logdir):
    page = tab.page
    tag = f"{PREFIX}/overlay"
    served = fetch_images(explained_server, RUN, tag)  # what the JSON endpoints give
    assert len(served) == SAMPLES

    page.goto(_dashboard_url(explained_server, f"^{tag}$"), timeout=PAGE_TIMEOUT_MS)
    shown = _wait_rendered(page, [one.query for one in served])

    expected = explained_logdir.expected[tag]
    for one, rendered in zip(served, shown):
        assert "/data/plugin/images/individualImage?blob_key=" in rendered["src"]
        assert (rendered["naturalWidth"], rendered["naturalHeight"]) == one.image.size
        assert rendered["shownWidth"] > 0 and rendered["shownHeight"] > 0
        pixels = np.array(rendered["rgb"], dtype=np.uint8).reshape(expected[one.sample].shape)
        np.testing.assert_array_equal(pixels, expected[one.sample])
    _assert_loopback_only(tab, explained_server)


def test_images_dashboard_lists_run_and_every_keras_viz_group(tab, explained_server):
    page = tab.page
    page.goto(_dashboard_url(explained_server), timeout=PAGE_TIMEOUT_MS)
    queries = [
        one.query
        for tag in (f"{PREFIX}/input", f"{PREFIX}/heatmap", f"{PREFIX}/overlay", GRID_TAG)
        for one in fetch_images(explained_server, RUN, tag)
    ]
    shown = _wait_rendered(page, queries)
    assert all(one["naturalWidth"] > 0 for one in shown)
    # The runs selector lists the keras_viz run next to Keras' runs.
    selector = page.locator("tf-runs-selector")
    for run in ("train", "validation", RUN):
        selector.get_by_text(run, exact=True).wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    # Both tag groups, grad_cam and grid, are on the page.
    groups = page.locator("tf-category-paginated-view").evaluate_all(
        "views => views.map((view) => view.category && view.category.name)"
    )
    assert PREFIX in groups and GRID_TAG in groups
    _assert_loopback_only(tab, explained_server)
