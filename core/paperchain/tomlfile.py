"""Reading TOML files with errors that name the file, the line and the column."""

from __future__ import annotations

import tomllib
from pathlib import Path

from paperchain_sdk import ConfigError


def load_toml(path: Path, what: str = "file") -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"The {what} {path} does not exist.", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The {what} {path} cannot be read: {exc}.", hint="check its permissions and encoding") from None
    return parse_toml(text, str(path))


def parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "Expected '=' after a key in a key/value pair (at line 3, column 7)".
        message = str(exc)
        raise ConfigError(
            f"{source} is not valid TOML: {message}.",
            hint="fix the syntax at that line and column (https://toml.io describes the format)",
        ) from None
