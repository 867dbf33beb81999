"""Tesseract through pytesseract: finding the binary and its languages, and OCR of one page.

Every call runs with ``OMP_THREAD_LIMIT=1``: tesseract's OpenMP threads make it several times
slower on small machines; parallelism comes from one tesseract process per page instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import attrs

from paperchain_sdk import InputError, MissingDependency

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa (Debian/Ubuntu)"


def single_thread_environment() -> None:
    """Make every tesseract this process starts use one OpenMP thread (pytesseract passes
    ``os.environ`` to its subprocesses)."""
    os.environ["OMP_THREAD_LIMIT"] = "1"


def find_tesseract(command: str) -> str:
    """The absolute path of the tesseract command, or MissingDependency saying what to install."""
    found = shutil.which(command)
    if found is None:
        raise MissingDependency(
            f"OCR needs the tesseract program, and {command!r} was not found"
            + (" on PATH." if os.sep not in command else "."),
            hint=f"install it: {INSTALL_HINT}; or set the tesseract option to the program's path",
        )
    return found


@lru_cache(maxsize=8)
def installed_languages(tesseract: str) -> frozenset[str]:
    """Languages the tesseract at this path has data for (``tesseract --list-langs``)."""
    done = subprocess.run(
        [tesseract, "--list-langs"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    if done.returncode != 0:
        raise MissingDependency(
            f"{tesseract} --list-langs failed: {(done.stderr or done.stdout).strip()[:300]}",
            hint=f"reinstall tesseract: {INSTALL_HINT}",
        )
    lines = done.stdout.splitlines()
    return frozenset(line.strip() for line in lines[1:] if line.strip())  # line 0 is a heading


def check_languages(tesseract: str, languages: str) -> None:
    """MissingDependency naming the Debian packages of every language that is not installed."""
    have = installed_languages(tesseract)
    missing = [lang for lang in languages.split("+") if lang not in have]
    if missing:
        packages = " ".join("tesseract-ocr-" + lang.lower().replace("_", "-") for lang in missing)
        raise MissingDependency(
            f"tesseract has no data for language(s) {', '.join(missing)} "
            f"(installed: {', '.join(sorted(have)) or 'none'}).",
            hint=f"install them: apt-get install {packages} (Debian/Ubuntu); "
            "or choose installed languages in the languages option",
        )


@attrs.frozen(kw_only=True)
class Word:
    text: str
    confidence: float
    box: tuple[int, int, int, int]  # left, top, width, height in pixels
    line: tuple[int, int, int]  # block, paragraph, line


@attrs.frozen(kw_only=True)
class PageOcr:
    words: tuple[Word, ...]
    tsv: str
    hocr: bytes | None
    text_pdf: bytes | None  # one page: the invisible text layer only, sized like the image OCRed
    crop: object = None  # the crop.Crop of the page that tesseract read (None: the image as given)

    @property
    def text(self) -> str:
        """Lines joined by newlines, blocks and paragraphs by a blank line."""
        parts: list[str] = []
        last = None
        for word in self.words:
            if last is None:
                parts.append(word.text)
            elif word.line == last:
                parts.append(" " + word.text)
            elif word.line[:2] == last[:2]:
                parts.append("\n" + word.text)
            else:
                parts.append("\n\n" + word.text)
            last = word.line
        return "".join(parts)


def recognize_file(
    image_path: Path, *, tesseract: str, languages: str, psm: int, dpi: int, timeout: float,
    hocr: bool, pdf: bool, page_label: str,
) -> PageOcr:
    """OCR one page image file: always TSV, hOCR and a text-only PDF when asked."""
    import pytesseract

    single_thread_environment()
    pytesseract.pytesseract.tesseract_cmd = tesseract
    base = image_path.with_suffix("")
    config = f"--psm {psm} --dpi {dpi} -c tessedit_create_tsv=1"
    if hocr:
        config += " -c tessedit_create_hocr=1"
    if pdf:
        config += " -c tessedit_create_pdf=1 -c textonly_pdf=1"
    try:
        pytesseract.pytesseract.run_tesseract(
            str(image_path), str(base), extension="", lang=languages, config=config, timeout=timeout,
        )
    except RuntimeError as exc:
        if "timeout" not in str(exc).lower():
            raise
        raise InputError(
            f"{page_label}: tesseract did not finish within {timeout:g} s and was stopped.",
            hint="raise the step's timeout option, or check the page (a huge or noisy page can stall "
            "tesseract; try a lower dpi or binarize = 'otsu')",
        ) from None
    except pytesseract.TesseractNotFoundError:
        raise MissingDependency(
            f"tesseract could not be started from {tesseract!r}.", hint=f"install it: {INSTALL_HINT}"
        ) from None
    except pytesseract.TesseractError as exc:
        raise InputError(
            f"{page_label}: tesseract failed: {exc.message or exc.status}",
            hint="check that the page is a readable image; try another psm or dpi",
        ) from None
    tsv = Path(f"{base}.tsv").read_text(encoding="utf-8")
    return PageOcr(
        words=tuple(parse_tsv(tsv)),
        tsv=tsv,
        hocr=Path(f"{base}.hocr").read_bytes() if hocr else None,
        text_pdf=Path(f"{base}.pdf").read_bytes() if pdf else None,
    )


def parse_tsv(tsv: str):
    """Words (level 5 rows with text) of tesseract's TSV output, in reading order."""
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        yield Word(
            text=cells[11].strip(),
            confidence=float(cells[10]),
            box=(int(cells[6]), int(cells[7]), int(cells[8]), int(cells[9])),
            line=(int(cells[2]), int(cells[3]), int(cells[4])),
        )
