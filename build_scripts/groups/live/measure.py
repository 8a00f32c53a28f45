"""The live model: the encoder exported to ONNX in each storage choice, and the shipped one's error
against the JAX forward over the whole Winograd collection (the build's shared run of it)."""

from __future__ import annotations

import gzip

import numpy as np

MODE = "int8"  # the storage choice shipped (see the group's docstring for the measured choices)


def size(data: bytes) -> dict:
    """Bytes raw and gzipped (level 9, no timestamp: the same bytes give the same size)."""
    return {"bytes": len(data), "bytes_gzip": len(gzip.compress(data, 9, mtime=0))}


def export(encoder) -> tuple[bytes, dict]:
    """The shipped model's bytes (:data:`MODE`) and the size of every storage choice."""
    from attn_jax.export import MODES, export_attention, shrink, to_bytes

    exported = export_attention(encoder)
    shipped, sizes = b"", {}
    for mode in MODES:
        data = to_bytes(shrink(exported, mode))
        sizes[mode] = size(data)
        if mode == MODE:
            shipped = data
    return shipped, sizes


def error(shipped: bytes, results) -> dict:
    """Error of the exported graph, run by onnxruntime (one sentence at a time, one thread: the same
    sums in the same order on every run), against the JAX ``results``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(shipped, opts, providers=["CPUExecutionProvider"])
    worst, same, rows = 0.0, 0, 0
    for r in results:
        ids = r.input_ids[None].astype(np.int32)
        [att] = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        att = att[:, 0]  # [L, H, n, n]
        worst = max(worst, float(np.abs(att - r.attentions).max()))
        same += int((att.argmax(-1) == r.attentions.argmax(-1)).sum())
        rows += int(np.prod(att.shape[:-1]))
    return {"max_abs": round(worst, 4), "strongest_key_same": round(same / rows, 4), "rows": rows,
            "sentences": len(results)}
