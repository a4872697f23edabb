"""End-to-end fixtures: a real TensorBoard server, and helpers to read what it serves.

What these tests check is what a user sees: ``tensorboard --logdir D`` started as a
separate process, asked over HTTP on loopback through the JSON endpoints its web UI uses
(SPEC §3), and, in ``test_browser.py``, the web UI itself in headless Chromium.

Fixtures:

* ``tensorboard_server`` (function scope): a factory, ``base_url = tensorboard_server(logdir)``;
  every server it started is stopped at teardown.
* ``explained_logdir`` / ``explained_server`` (package scope: gone once ``tests/e2e`` is
  done): one log directory written by ``keras.callbacks.TensorBoard`` during a tiny
  ``model.fit`` plus keras-viz pictures (Grad-CAM via
  :func:`keras_viz.tensorboard.log_explanations`, one
  :func:`~keras_viz.tensorboard.image_summary`), and one server on it, shared by the
  server and browser tests.

Helpers (import them with ``from tests.e2e.conftest import ...``): :func:`serve_tensorboard`,
:func:`get_bytes`, :func:`get_json`, :func:`wait_for_json`, :func:`image_tags`,
:func:`fetch_images`.

TensorBoard 2.21 endpoints used (``tensorboard/plugins/image/images_plugin.py``):

* ``GET /data/runs`` -> ``["train", "validation", "keras_viz"]`` (any order).
* ``GET /data/plugin/images/tags`` -> ``{run: {tag: {"displayName", "description", "samples"}}}``;
  ``description`` is the tag's Markdown rendered to HTML, ``samples`` the pictures per step.
* ``GET /data/plugin/images/images?run=R&tag=T&sample=S`` -> ``[{"wall_time", "step", "query"}]``,
  one entry per kept step holding a sample ``S``; ``query`` is ``blob_key=...``.
* ``GET /data/plugin/images/individualImage?<query>`` -> the PNG bytes (``image/png``).
  The web UI requests the same URL with ``&ts=<wall_time>`` appended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

HOST = "127.0.0.1"
START_TIMEOUT_S = 90.0  # TensorBoard imports TensorFlow before it binds: ~3-5 s here.
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 10.0
DATA_TIMEOUT_S = 30.0  # first load of a small log dir takes well under a second

_URL_PATTERN = re.compile(r"TensorBoard \S+ at (http://127\.0\.0\.1:\d+/)")

# Loopback only: never route these requests through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- #
# HTTP helpers
# --------------------------------------------------------------------------- #


def _url(base_url: str, path: str, params: dict[str, Any] | None = None) -> str:
    url = urllib.parse.urljoin(base_url, path.lstrip("/"))
    if params:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"end-to-end requests stay on loopback; refusing {url!r}")
    return url


def get_bytes(
    base_url: str,
    path: str,
    params: dict[str, Any] | None = None,
    timeout: float = REQUEST_TIMEOUT_S,
) -> tuple[bytes, str]:
    """GETs ``base_url + path`` (plus ``params``); returns ``(body, content_type)``.

    Raises ``urllib.error.HTTPError`` for a status other than 2xx.
    """
    with _OPENER.open(_url(base_url, path, params), timeout=timeout) as response:
        return response.read(), response.headers.get("Content-Type", "")


def get_json(
    base_url: str,
    path: str,
    params: dict[str, Any] | None = None,
    timeout: float = REQUEST_TIMEOUT_S,
) -> Any:
    """GETs a JSON endpoint of the server and decodes it."""
    body, _ = get_bytes(base_url, path, params, timeout=timeout)
    return json.loads(body)


def wait_for_json(
    base_url: str,
    path: str,
    predicate: Callable[[Any], bool],
    params: dict[str, Any] | None = None,
    timeout: float = DATA_TIMEOUT_S,
    interval: float = 0.25,
) -> Any:
    """Polls a JSON endpoint until ``predicate(answer)`` holds; returns that answer.

    TensorBoard answers before it has read the log directory (and re-reads it every
    ``--reload_interval`` seconds), so tests wait for the data they expect, with a bound.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = get_json(base_url, path, params)
            if predicate(last):
                return last
        except (urllib.error.URLError, OSError, ValueError) as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{path} {params or ''} did not show the expected data within {timeout:g} s; "
                f"last answer: {last!r}"
            )
        time.sleep(interval)


# --------------------------------------------------------------------------- #
# Images plugin
# --------------------------------------------------------------------------- #


@dataclasses.dataclass(frozen=True)
class ServedImage:
    """One picture as TensorBoard's images dashboard serves it."""

    step: int
    sample: int
    wall_time: float
    query: str  # "blob_key=..." as the /images endpoint gives it
    url: str  # the individualImage URL (without the UI's "&ts=" suffix)
    content_type: str
    image: Image.Image  # decoded (and fully loaded) by Pillow

    @property
    def pixels(self) -> np.ndarray:
        return np.asarray(self.image)


def image_tags(base_url: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``/data/plugin/images/tags``: ``{run: {tag: {displayName, description, samples}}}``."""
    return get_json(base_url, "data/plugin/images/tags")


def fetch_images(
    base_url: str,
    run: str,
    tag: str,
    sample: int | Sequence[int] | None = None,
) -> list[ServedImage]:
    """Fetches and decodes the pictures of one image tag, as the dashboard would.

    Asks ``/data/plugin/images/images?run=&tag=&sample=`` for each sample (all samples the
    tag holds when ``sample`` is None), then GETs every returned ``query`` from
    ``/data/plugin/images/individualImage`` and decodes it with Pillow.

    Returns:
        The pictures sorted by ``(step, sample)``.
    """
    if sample is None:
        count = image_tags(base_url)[run][tag]["samples"]
        samples: Sequence[int] = range(count)
    elif isinstance(sample, int):
        samples = [sample]
    else:
        samples = sample
    found = []
    for index in samples:
        entries = get_json(
            base_url, "data/plugin/images/images", {"run": run, "tag": tag, "sample": index}
        )
        for entry in entries:
            path = "data/plugin/images/individualImage?" + entry["query"]
            body, content_type = get_bytes(base_url, path)
            picture = Image.open(io.BytesIO(body))
            picture.load()
            found.append(
                ServedImage(
                    step=int(entry["step"]),
                    sample=index,
                    wall_time=float(entry["wall_time"]),
                    query=entry["query"],
                    url=_url(base_url, path),
                    content_type=content_type,
                    image=picture,
                )
            )
    return sorted(found, key=lambda served: (served.step, served.sample))


# --------------------------------------------------------------------------- #
# The server process
# --------------------------------------------------------------------------- #


def _tensorboard_command() -> list[str]:
    """The ``tensorboard`` script of this interpreter's environment (the venv's)."""
    script = Path(sys.executable).with_name("tensorboard")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "tensorboard.main"]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (TensorBoard and its data server), then SIGKILL."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        try:
            os.killpg(process.pid, sig)  # our own new session: the group id is its pid
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _server_log(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "<no output>"


@contextlib.contextmanager
def serve_tensorboard(
    logdir: str | os.PathLike[str],
    extra_args: Sequence[str] = (),
    start_timeout: float = START_TIMEOUT_S,
) -> Iterator[str]:
    """Runs ``tensorboard --logdir LOGDIR --host 127.0.0.1 --port 0``; yields its base URL.

    The URL is read from the line TensorBoard prints ("TensorBoard 2.21.0 at
    http://127.0.0.1:PORT/ (Press CTRL+C to quit)"); the server counts as up once
    ``/data/runs`` answers. On exit the process group is terminated and reaped. Every
    wait is bounded; a server that dies or never answers raises with its output.

    Args:
        logdir: The log directory to serve.
        extra_args: More flags, e.g. ``["--reload_interval", "1"]`` for tests that write
            while the server runs, or ``["--samples_per_plugin", "images=100"]``.
        start_timeout: Seconds to wait for the URL and the first answer.
    """
    workdir = Path(tempfile.mkdtemp(prefix="keras_viz_tb_"))
    log_path = workdir / "tensorboard.log"
    command = [
        *_tensorboard_command(),
        "--logdir",
        os.fspath(Path(logdir).resolve()),
        "--host",
        HOST,
        "--port",
        "0",
        *extra_args,
    ]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("CUDA_VISIBLE_DEVICES", "-1")  # the server needs no GPU
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + start_timeout
        base_url = None
        while base_url is None:
            match = _URL_PATTERN.search(_server_log(log_path, limit=1_000_000))
            if match:
                base_url = match.group(1)
            elif process.poll() is not None:
                raise RuntimeError(
                    f"tensorboard exited with code {process.returncode} before serving:\n"
                    + _server_log(log_path)
                )
            elif time.monotonic() > deadline:
                raise RuntimeError(
                    f"tensorboard printed no URL within {start_timeout:g} s:\n"
                    + _server_log(log_path)
                )
            else:
                time.sleep(0.1)
        while True:
            try:
                get_json(base_url, "data/runs", timeout=2.0)
                break
            except (urllib.error.URLError, OSError, ValueError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"tensorboard at {base_url} never answered /data/runs:\n"
                        + _server_log(log_path)
                    ) from None
                time.sleep(0.1)
        yield base_url
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def tensorboard_server() -> Iterator[Callable[..., str]]:
    """Factory: ``base_url = tensorboard_server(logdir, extra_args=(...))``.

    Each call starts one server (see :func:`serve_tensorboard`); all are stopped at teardown.
    """
    with contextlib.ExitStack() as stack:

        def start(logdir: str | os.PathLike[str], extra_args: Sequence[str] = ()) -> str:
            return stack.enter_context(serve_tensorboard(logdir, extra_args))

        yield start


# --------------------------------------------------------------------------- #
# A log directory as a user's training script writes it
# --------------------------------------------------------------------------- #

SIZE = 8  # model input height and width
SCALE = 4  # keras-viz upscaling of the pictures: 32 x 32 in TensorBoard
SAMPLES = 4  # pictures per keras-viz tag
EXPLAIN_STEP = 1  # summary step of the keras-viz pictures (the last epoch)
PREFIX = "grad_cam"
GRID_TAG = "grid"
GRID_SHAPE = (20, 30, 3)


@dataclasses.dataclass(frozen=True)
class ExplainedLogdir:
    """What ``explained_logdir`` wrote, and the pictures it expects TensorBoard to serve."""

    path: Path
    tags: tuple[str, ...]  # the three tags of log_explanations, input/heatmap/overlay
    labels: tuple[int, ...]
    expected: dict[str, np.ndarray]  # tag -> (SAMPLES, h, w, 3) uint8


@pytest.fixture(scope="package")
def explained_logdir(tmp_path_factory: pytest.TempPathFactory) -> ExplainedLogdir:
    """A 2-epoch fit with ``keras.callbacks.TensorBoard`` and a ``GradCAMCallback``.

    The callback logs at the last epoch (``freq=2``); one more picture (``grid``) is
    written with :func:`keras_viz.tensorboard.image_summary` afterwards.
    """
    import keras

    import keras_viz as kv
    from keras_viz import callbacks as kvc
    from keras_viz import tensorboard as kvtb

    logdir = tmp_path_factory.mktemp("e2e_logs")
    rng = np.random.default_rng(0)
    x = rng.random((24, SIZE, SIZE, 3), dtype=np.float32)
    y = rng.integers(0, 3, size=24)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(4, 3, padding="same", name="conv"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(3, activation="softmax", name="head"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    images, labels = x[:SAMPLES], [int(label) for label in y[:SAMPLES]]
    grad_cam = kvc.GradCAMCallback(
        images, targets=labels, log_dir=os.fspath(logdir), freq=2, value_range=(0, 1), scale=SCALE,
        raise_errors=True,
    )
    model.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        validation_split=0.25,
        callbacks=[keras.callbacks.TensorBoard(os.fspath(logdir)), grad_cam],
        verbose=0,
    )
    tags = [f"{PREFIX}/input", f"{PREFIX}/heatmap", f"{PREFIX}/overlay"]
    maps = np.asarray(kv.GradCAM(model)(images, targets=labels))  # the weights the callback saw
    writer = kvtb.run_writer(logdir)
    try:
        grid = np.arange(np.prod(GRID_SHAPE), dtype=np.uint32).reshape(GRID_SHAPE) % 256
        grid = grid.astype(np.uint8)
        with writer.as_default():
            assert kvtb.image_summary(GRID_TAG, grid, step=0)
        writer.flush()
    finally:
        writer.close()

    heatmaps, overlays = kvtb.explanation_images(images, maps, value_range=(0, 1), scale=SCALE)
    inputs = np.stack([kv.render.to_uint8_image(one, value_range=(0, 1)) for one in images])
    inputs = inputs.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    expected = {tags[0]: inputs, tags[1]: heatmaps, tags[2]: overlays, GRID_TAG: grid[None]}
    return ExplainedLogdir(path=logdir, tags=tuple(tags), labels=tuple(labels), expected=expected)


@pytest.fixture(scope="package")
def explained_server(explained_logdir: ExplainedLogdir) -> Iterator[str]:
    """A TensorBoard serving ``explained_logdir``, up and with the keras-viz run loaded."""
    with serve_tensorboard(explained_logdir.path) as base_url:
        wait_for_json(base_url, "data/plugin/images/tags", lambda tags: "keras_viz" in tags)
        yield base_url


# --------------------------------------------------------------------------- #
# Headless Chromium (shared: one Playwright per thread, so one package-scoped browser)
# --------------------------------------------------------------------------- #

CHROMIUM = os.environ.get("KERAS_VIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--no-proxy-server",
]
LAUNCH_TIMEOUT_MS = 60_000
PAGE_TIMEOUT_MS = 30_000  # the UI loads lazily; seen here: pictures within ~2 s


def _missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Chromium not found at {CHROMIUM}: install Debian's browser with "
            "`apt-get install -y chromium` (scripts/test.sh does so under CI=true)"
        )
    if importlib.util.find_spec("playwright") is None:
        return "Python package `playwright` is not installed: pip install -e '.[test]'"
    return None


MISSING = _missing()
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, shared by the package's browser tests
    (a second ``sync_playwright`` cannot start while one runs in the same thread)."""
    if MISSING:  # under CI=true a missing browser is a failure, elsewhere a skip
        if IN_CI:
            pytest.fail(f"{MISSING} (CI=true: the browser test must run in CI, not skip)", pytrace=False)
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            launched.close()
