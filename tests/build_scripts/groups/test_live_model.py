"""The committed live model (docs/generated/live/): what model.json states about it holds."""

import gzip
import hashlib
import json

import numpy as np
import pytest

from build_scripts.pipeline.artifacts import GENERATED_REL, ROOT

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the charts extra: pip install -e '.[charts]'")

LIVE = ROOT / GENERATED_REL / "live"


@pytest.fixture(scope="module")
def info():
    return json.loads((LIVE / "model.json").read_text())


def test_model_file_is_the_one_described_and_small(info):
    data = (LIVE / info["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"] and len(data) == info["bytes"]
    assert len(gzip.compress(data, 9, mtime=0)) == info["bytes_gzip"] <= 25_000_000
    assert info["bytes"] < 100_000_000  # GitHub Pages refuses larger files


def test_stated_error_holds_on_new_sentences(info, encoder):
    """Sentences that are neither in the site nor in the corpus the error was measured on, run
    through the committed file: within the stated max |Δ| of JAX (float32 CPU sums may differ a
    little from the measuring run, hence the 1e-3 slack)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(LIVE / info["file"]), opts, providers=["CPUExecutionProvider"])
    texts = ["My neighbour's dog barks whenever the postman rings twice.", "Quantised weights, checked."]
    for r in encoder.run(texts):
        ids = r.input_ids[None].astype(np.int32)
        [att] = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        assert att.shape == (info["layers"], 1, info["heads"], len(ids[0]), len(ids[0]))
        assert np.abs(att[:, 0] - r.attentions).max() <= info["error"]["max_abs"] + 1e-3
    assert info["error"]["strongest_key_same"] >= 0.99 and info["error"]["sentences"] == 285
