"""The model runs the groups share: the encoder loaded once per build and each corpus encoded once,
however many groups read them (counted in the build's memo, which `make charts` prints)."""

from types import SimpleNamespace

import numpy as np

from build_scripts.pipeline import models
from build_scripts.pipeline.registry import Context


class FakeEncoder:
    """Enough of attn_jax.Encoder for the shared runs: tokenize and run count their calls."""

    config = SimpleNamespace(max_position_embeddings=512)
    runs = 0

    def tokenize(self, texts):
        return [SimpleNamespace(ids=np.arange(len(t.split()) + 2)) for t in texts]

    def run(self, texts):
        FakeEncoder.runs += 1
        return [SimpleNamespace(text=t) for t in texts]


class FakeRunner:
    def __init__(self, encoder):
        self.encoder, self.devices, self.calls = encoder, 1, 0

    def run(self, texts):
        self.calls += 1
        return [None] * len(texts)


def test_each_corpus_is_encoded_once_per_build(monkeypatch):
    import attn_jax.corpus
    import attn_jax.encoder

    loads = []
    monkeypatch.setattr(attn_jax.encoder.Encoder, "load", classmethod(lambda cls: loads.append(1) or FakeEncoder()))
    monkeypatch.setattr(attn_jax.corpus, "CorpusRunner", FakeRunner)
    monkeypatch.setattr(models.pl, "sentence_payload", lambda s, r: {"id": s.id})
    ctx = Context(log=lambda m: None, cache_dir=None)
    first = [models.winograd(ctx), models.encoded(ctx)]
    again = [models.winograd(ctx), models.encoded(ctx), models.winograd(ctx)]  # other groups of the same build
    assert again[0].results is first[0].results and again[1] is first[1] and again[2].results is first[0].results
    assert len(first[0].results) == 285 and first[0].runner.calls == 1 and again[0].runner is first[0].runner
    assert FakeEncoder.runs == 1 and len(loads) == 1
    assert ctx.memo["model runs"] == {"encoder loads": 1, "config sentences": 1, "Winograd collection": 1}
    later = Context(log=lambda m: None, cache_dir=None)  # another build runs them again
    models.encoded(later)
    assert FakeEncoder.runs == 2 and later.memo["model runs"]["config sentences"] == 1
