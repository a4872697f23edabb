"""Regenerates the gallery: runs every example in full mode and stores small copies of its figures.

    python examples/make_gallery.py                    # every example -> docs/gallery/
    python examples/make_gallery.py --only occlusion   # some of them
    python examples/make_gallery.py --fast             # quick check (what the tests run)

Each example writes its full-size figures into a scratch folder; the gallery keeps a copy of
each PNG, at most ``--max-width`` pixels wide and reduced to a 256-colour palette, so the
pictures committed under ``docs/gallery/`` stay small. The README shows them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import sys
import tempfile
import time

from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent


def examples() -> list[pathlib.Path]:
    """Every example script (not the helpers, not this one)."""
    return sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.stem != "make_gallery")


def _load(path: pathlib.Path):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shrink(source: pathlib.Path, target: pathlib.Path, max_width: int) -> None:
    """A copy at most ``max_width`` wide (nearest neighbour: pixel art stays crisp), 256 colours."""
    with Image.open(source) as image:
        picture = image.convert("RGB")
    if picture.width > max_width:
        height = max(1, round(picture.height * max_width / picture.width))
        picture = picture.resize((max_width, height), Image.Resampling.LANCZOS)
    picture.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(target, optimize=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "gallery"), help="gallery folder")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="example names to run (default: all)")
    parser.add_argument("--fast", action="store_true", help="run the examples with --fast")
    parser.add_argument("--max-width", type=int, default=960, help="widest picture kept (default: %(default)s)")
    args = parser.parse_args(argv)
    chosen = [p for p in examples() if not args.only or p.stem in args.only]
    unknown = sorted(set(args.only or ()) - {p.stem for p in chosen})
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(p.stem for p in examples())}")
    os.makedirs(args.out, exist_ok=True)
    for path in chosen:
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            _load(path).main(["--out", scratch, *(["--fast"] if args.fast else [])])
            # the figures only: files a run writes below its folder (TensorBoard logs, a
            # projector sprite) are not gallery pictures
            for png in sorted(pathlib.Path(scratch).glob("*.png")):
                shrink(png, pathlib.Path(args.out) / png.name, args.max_width)
            print(f"{path.stem}: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
