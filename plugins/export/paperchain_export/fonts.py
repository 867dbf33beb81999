"""Finding a TrueType font for PDF exports.

fpdf2's built-in fonts are Latin-1 only, so Greek, Cyrillic or even "—" need an embedded TrueType
font. We use DejaVu Sans (wide coverage, free licence) from the places systems install it, and
never fall back to a font that would drop characters.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import attrs

from paperchain_sdk import ConfigError, MissingDependency

REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"

# Debian/Ubuntu (fonts-dejavu-core), Fedora, Arch, Alpine and openSUSE, then Homebrew.
FONT_DIRS = [
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/truetype",
    "/opt/homebrew/share/fonts",
    "/usr/local/share/fonts",
]

INSTALL_HINT = (
    "install DejaVu Sans (Debian/Ubuntu: apt-get install fonts-dejavu-core; Fedora: dnf install "
    "dejavu-sans-fonts), or set the font_path option of export.pdf to a .ttf file"
)


@attrs.frozen
class FontFiles:
    regular: str
    bold: str  # the regular file again when the family has no bold face


def find_font(font_path: str = "") -> FontFiles:
    """The font to embed: ``font_path`` when given, else DejaVu Sans from the system.

    Raises ConfigError for a ``font_path`` that is not a TrueType file, and MissingDependency
    (with what to install) when no DejaVu Sans is found.
    """
    if font_path:
        path = Path(font_path).expanduser()
        if not path.is_file() or path.suffix.lower() not in (".ttf", ".otf"):
            raise ConfigError(
                f"font_path {font_path!r} of export.pdf is not a font file",
                hint="give the path of a TrueType (.ttf) or OpenType (.otf) font, or leave it empty for DejaVu Sans",
            )
        return FontFiles(str(path), str(path))
    for directory in _search_dirs():
        regular = directory / REGULAR
        if regular.is_file():
            bold = directory / BOLD
            return FontFiles(str(regular), str(bold if bold.is_file() else regular))
    raise MissingDependency("export.pdf needs a Unicode TrueType font and found no DejaVu Sans", hint=INSTALL_HINT)


def _search_dirs() -> list[Path]:
    dirs = [Path(d) for d in FONT_DIRS]
    # matplotlib ships DejaVu Sans; find its copy without importing matplotlib.
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    return dirs
