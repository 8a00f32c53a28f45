"""The committed generated files are fresh, and the build is deterministic (byte-identical)."""

import shutil

from build_scripts.build import GENERATED, build, stale_groups


def test_committed_charts_are_fresh():
    assert stale_groups() == [], "run `make charts` and commit docs/generated"


def test_rebuild_is_byte_identical(tmp_path):
    out = tmp_path / "generated"
    build(force=True, only=["head-view"], log=lambda m: None, generated=out)
    committed = sorted(p.relative_to(GENERATED) for p in (GENERATED / "head-view").rglob("*") if p.is_file())
    rebuilt = sorted(p.relative_to(out) for p in (out / "head-view").rglob("*") if p.is_file())
    assert rebuilt == committed
    for rel in committed:
        assert (out / rel).read_bytes() == (GENERATED / rel).read_bytes(), f"{rel} differs"


def test_warm_rebuild_does_no_model_work(tmp_path, monkeypatch):
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out)
    import attn_jax.encoder

    def boom(*a, **k):
        raise AssertionError("the model was loaded although nothing changed")

    monkeypatch.setattr(attn_jax.encoder.Encoder, "load", boom)
    messages = []
    build(log=messages.append, generated=out)
    assert any("up to date" in m for m in messages)
