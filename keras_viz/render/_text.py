"""Text in pictures for any script: a chain of fonts, per-character fallback, truncation.

Pillow's built-in font covers Latin letters only, and Pillow has no font fallback. Token
labels can be any Unicode (accented Latin, Greek, Cyrillic, CJK, ...), so text is drawn
with a *chain* of TrueType/OpenType fonts found on the machine: each character is
drawn with the first font of the chain that has a glyph for it.

The chain, in order:

1. the font file named by the ``font`` argument of a render function, or else by the
   environment variable ``KERAS_VIZ_FONT`` (read at drawing time); a named file that
   does not exist or cannot be read as a font is a ValueError, not skipped;
2. DejaVu Sans (Latin, Greek, Cyrillic, Arabic, Hebrew, ...). It is installed on every
   Debian/Ubuntu machine that has fontconfig, hence on one with Debian's ``chromium``
   (``chromium`` → ``libfontconfig1`` → ``fontconfig-config`` → ``fonts-dejavu-core``);
   otherwise Liberation Sans, FreeSans, Noto Sans, Arial or Helvetica where present;
3. CJK fonts where present: Noto Sans CJK (Debian ``fonts-noto-cjk``), WenQuanYi
   (``fonts-wqy-zenhei``, ``fonts-wqy-microhei``), Droid Sans Fallback, AR PL UMing, IPA
   Gothic, Nanum/Un fonts, and the system CJK fonts of macOS and Windows;
4. Pillow's built-in font (when no font file is found at all).

A character that no font of the chain covers is drawn as the first font's "missing
glyph" (an empty box, "tofu"), and a warning names the characters once per process:
install a font that covers them (``apt-get install fonts-noto-cjk`` for Chinese,
Japanese and Korean) or point ``KERAS_VIZ_FONT`` at one.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

__all__ = ["FONT_ENV", "FontChain", "font_chain"]

FONT_ENV = "KERAS_VIZ_FONT"
"""Environment variable naming a font file tried before all others."""

ELLIPSIS = "…"

_PRIMARY = (
    "DejaVuSans.ttf",
    "LiberationSans-Regular.ttf",
    "FreeSans.ttf",
    "FreeSans.otf",
    "NotoSans-Regular.ttf",
    "Arial.ttf",
    "arial.ttf",
    "Helvetica.ttc",
)
_FALLBACKS = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansCJKjp-Regular.otf",
    "NotoSansSC-Regular.otf",
    "wqy-zenhei.ttc",
    "wqy-microhei.ttc",
    "DroidSansFallbackFull.ttf",
    "DroidSansFallback.ttf",
    "uming.ttc",
    "ukai.ttc",
    "ipag.ttf",
    "ipagp.ttf",
    "fonts-japanese-gothic.ttf",
    "NanumGothic.ttf",
    "UnDotum.ttf",
    "PingFang.ttc",
    "Hiragino Sans GB.ttc",
    "Arial Unicode.ttf",
    "msyh.ttc",
    "simsun.ttc",
    "meiryo.ttc",
    "malgun.ttf",
    "arialuni.ttf",
    # Broad coverage of other scripts and symbols, last.
    "FreeSerif.ttf",
)
_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/System/Library/Fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)
_MISSING_PROBE = "\U0010ffff"  # a private-use code point no font maps
_warned_missing: set[str] = set()


@functools.lru_cache(maxsize=1)
def _installed_fonts() -> dict[str, str]:
    """File name -> path of the font files in the usual font directories (scanned once)."""
    found: dict[str, str] = {}
    for root in _FONT_DIRS:
        root = os.path.expanduser(root)
        if not os.path.isdir(root):
            continue
        for folder, _, files in os.walk(root):
            for name in files:
                if name.lower().endswith((".ttf", ".otf", ".ttc")):
                    found.setdefault(name, os.path.join(folder, name))
    return found


def _chain_paths(font: str | None) -> tuple[tuple[str, ...], tuple[str, str] | None]:
    """The chain's font files, and ``(path, where it was named)`` of an explicit font."""
    installed = _installed_fonts()
    paths: list[str] = []
    named = None
    for explicit, source in ((font, "`font`"), (os.environ.get(FONT_ENV), FONT_ENV)):
        if explicit:
            if not os.path.isfile(explicit):
                raise ValueError(f"Font file {explicit!r} (from {source}) does not exist.")
            paths.append(explicit)
            named = (explicit, source)
            break
    primary = next((installed[name] for name in _PRIMARY if name in installed), None)
    if primary is not None:
        paths.append(primary)
    paths.extend(installed[name] for name in _FALLBACKS if name in installed)
    return tuple(dict.fromkeys(paths)), named


class FontChain:
    """Fonts tried in order for each character; see the module docstring.

    Args:
        paths: font files, in order.
        size: pixel size.
        explicit: ``(path, where it was named)`` of a font the user named (``font=`` or
            ``KERAS_VIZ_FONT``): if it cannot be read, a ValueError says so. Fonts found
            on the machine that cannot be read are skipped.
    """

    def __init__(self, paths: Sequence[str], size: int, explicit: tuple[str, str] | None = None):
        self.size = int(size)
        self.paths = tuple(paths)
        self.fonts: list[ImageFont.FreeTypeFont | ImageFont.ImageFont] = []
        for path in self.paths:
            try:
                self.fonts.append(ImageFont.truetype(path, self.size))
            except OSError as error:
                if explicit is not None and path == explicit[0]:
                    raise ValueError(
                        f"Font file {path!r} (from {explicit[1]}) could not be read as a TrueType "
                        f"or OpenType font: {error}."
                    ) from None
                continue  # a font found on the machine that cannot be read: skip it
        if not self.fonts:
            self.fonts.append(ImageFont.load_default(self.size))
        self._missing = [_signature(font, _MISSING_PROBE) for font in self.fonts]
        primary = self.fonts[0]
        if hasattr(primary, "getmetrics"):
            ascent, descent = primary.getmetrics()
        else:  # pragma: no cover - Pillow without FreeType
            ascent, descent = self.size, self.size // 4
        self.ascent, self.descent = int(ascent), int(descent)

    @property
    def line_height(self) -> int:
        return self.ascent + self.descent

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - chains are few and cached themselves
    def font_index(self, char: str) -> int:
        """The first font of the chain that has a glyph for ``char`` (0 if none has)."""
        if char.isspace() or char == _MISSING_PROBE:
            return 0
        for index, font in enumerate(self.fonts):
            if _signature(font, char) != self._missing[index]:
                return index
        _warn_missing(char)
        return 0

    def runs(self, text: str) -> list[tuple[int, str]]:
        """``text`` split into runs drawn with one font each: ``[(font index, run)]``."""
        runs: list[tuple[int, str]] = []
        for char in text:
            index = self.font_index(char)
            if runs and runs[-1][0] == index:
                runs[-1] = (index, runs[-1][1] + char)
            else:
                runs.append((index, char))
        return runs

    def width(self, text: str) -> int:
        """Advance width of ``text`` in pixels."""
        return int(round(sum(self.fonts[i].getlength(run) for i, run in self.runs(text))))

    def fit(self, text: str, max_width: int) -> str:
        """``text``, cut and ended with "…" if wider than ``max_width`` pixels."""
        if self.width(text) <= max_width:
            return text
        low, high = 0, len(text)
        while low < high:  # the longest prefix that fits with the ellipsis
            middle = (low + high + 1) // 2
            if self.width(text[:middle] + ELLIPSIS) <= max_width:
                low = middle
            else:
                high = middle - 1
        return text[:low] + ELLIPSIS if low else ELLIPSIS

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill) -> None:
        """Draws ``text`` with its top-left corner at ``xy`` (baseline at ``y + ascent``)."""
        x, y = xy
        baseline = y + self.ascent
        for index, run in self.runs(text):
            font = self.fonts[index]
            if isinstance(font, ImageFont.FreeTypeFont):
                draw.text((x, baseline), run, font=font, fill=fill, anchor="ls")
            else:  # pragma: no cover - bitmap font: no anchors
                draw.text((x, y), run, font=font, fill=fill)
            x += font.getlength(run)

    def image(self, text: str, fill=(0, 0, 0), background=(255, 255, 255), padding: int = 1) -> Image.Image:
        """``text`` on its own tight RGB image (e.g. to be rotated)."""
        width = max(self.width(text), 1) + 2 * padding
        picture = Image.new("RGB", (width, self.line_height + 2 * padding), background)
        self.draw(ImageDraw.Draw(picture), (padding, padding), text, fill)
        return picture


def _signature(font, char: str) -> tuple:
    mask = font.getmask(char)
    return mask.size, bytes(mask)


def _warn_missing(char: str) -> None:
    """Warns once per process (at the first character no font covers)."""
    first = not _warned_missing
    _warned_missing.add(char)
    if first:
        warnings.warn(
            f"No font on this machine has a glyph for {char!r} (U+{ord(char):04X}); such "
            f"characters are drawn as empty boxes. Install a font that covers them (e.g. "
            f"`apt-get install fonts-noto-cjk` for Chinese, Japanese and Korean) or set "
            f"{FONT_ENV} to a font file.",
            RuntimeWarning,
            stacklevel=4,
        )


@functools.lru_cache(maxsize=32)
def _cached_chain(paths: tuple[str, ...], size: int, explicit: tuple[str, str] | None = None) -> FontChain:
    return FontChain(paths, size, explicit)


def font_chain(size: int = 12, font: str | None = None) -> FontChain:
    """The font chain at ``size`` pixels (``font``: a font file tried first)."""
    if font is not None and not isinstance(font, (str, os.PathLike)):
        raise TypeError(f"`font` must be a path to a font file or None; received {font!r}")
    paths, explicit = _chain_paths(None if font is None else os.fspath(font))
    return _cached_chain(paths, int(size), explicit)
