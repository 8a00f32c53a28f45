"""attn_jax.corpus: head gates against a hand-built reference, the sharded runner against
Encoder.run, and the same numbers on 4 (simulated) devices as on 1."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax import multi_head_attention, self_attention
from attn_jax.corpus import CorpusRunner, device_mesh, gate_heads
from attn_jax.projections import init_self_attention, merge_heads, project_qkv

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["The cat sat on the mat because it was tired.", "Dogs bark.",
         "The trophy doesn't fit into the brown suitcase because it is too large.",
         "She deposited the money at the bank.", "It rained."]  # fmt: skip


def stacked(p):
    """One layer's attention parameters as the encoder stores them: a leading L=1 axis."""
    return {"layers": {"attention": jax.tree.map(lambda a: a[None], p)}}


def test_gate_zero_removes_exactly_one_head_output():
    h, d, m = 3, 5, 7
    p = init_self_attention(jax.random.key(0), m, h, d)
    x = jax.random.normal(jax.random.key(1), (2, 11, m))
    gates = jnp.array([[1.0, 0.0, 0.5]])
    gated = jax.tree.map(lambda a: a[0], gate_heads(stacked(p), gates)["layers"]["attention"])
    got = self_attention(gated, x, h).out
    # reference: heads computed separately, head 2 zeroed, head 3 halved, then merged and projected
    q, k, v = project_qkv(p, x, h)
    heads, _ = multi_head_attention(q, k, v)
    heads = np.asarray(heads, np.float64) * np.array([1.0, 0.0, 0.5])[None, None, :, None]
    want = merge_heads(jnp.asarray(heads, jnp.float32)) @ p["output"]["w"] + p["output"]["b"]
    np.testing.assert_allclose(got, want, atol=1e-5)
    ones = gate_heads(stacked(p), jnp.ones((1, h)))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(ones), jax.tree.leaves(stacked(p))))
    with pytest.raises(ValueError, match=r"gates must be \[L, H\]"):
        gate_heads(stacked(p), jnp.ones((1, 4)))


@pytest.fixture(scope="module")
def runner(encoder):
    return CorpusRunner(encoder, batch_size=2)  # several batches, so sorting and reordering are exercised


def test_runner_matches_encoder_run_in_input_order(encoder, runner):
    ref = encoder.run(TEXTS)
    got = runner.run(TEXTS)
    for a, b in zip(ref, got):
        assert a.tokens == b.tokens
        np.testing.assert_allclose(b.attentions, a.attentions, atol=2e-6)
        np.testing.assert_allclose(b.hidden, a.hidden, atol=2e-5)
        np.testing.assert_allclose(b.v, a.v, atol=2e-5)


def test_embeddings_are_mean_pooled_unit_vectors_and_gates_act(encoder, runner):
    ref = np.stack([r.hidden.astype(np.float64).mean(0) for r in encoder.run(TEXTS)])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    gates = np.ones((3, 6, 12), np.float32)
    gates[1, 5, 11] = 0.0  # remove layer 6, head 12
    gates[2] = 0.0  # remove every head
    emb = runner.embeddings(TEXTS, gates)
    assert emb.shape == (3, len(TEXTS), 384)
    np.testing.assert_allclose(emb[0], ref, atol=2e-5)
    assert 1e-5 < np.abs(emb[1] - emb[0]).max() and np.abs(emb[2] - emb[0]).max() > np.abs(emb[1] - emb[0]).max()
    with pytest.raises(ValueError, match=r"\[G, L, H\]"):
        runner.embeddings(TEXTS, np.ones((6, 12)))


def test_reusing_the_ungated_prefix_gives_the_same_embeddings(runner):
    gates = np.ones((5, 6, 12), np.float32)
    gates[1, 0, 3] = 0.0  # first layer: nothing to reuse
    gates[2, 4, 7] = 0.0  # layer 5: layers 1-4 reused
    gates[3, 5, :] = 0.5  # last layer only
    emb = runner.embeddings(TEXTS, gates)  # gates[0] and gates[4]: nothing gated, all reused
    np.testing.assert_allclose(runner.embeddings(TEXTS, gates, reuse_prefix=True), emb, atol=1e-6)


SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from attn_jax import Encoder
    from attn_jax.corpus import CorpusRunner
    texts = json.loads(sys.argv[1])
    runner = CorpusRunner(Encoder.load(), batch_size=4)
    _, ids, _ = next(runner.batches(runner.encoder.tokenize(texts)))
    gates = np.ones((2, 6, 12), np.float32); gates[1, 3, 1] = 0.0
    res = runner.run(texts)
    np.savez(sys.argv[2], devices=len(jax.devices()), shards=len(ids.sharding.device_set),
             emb=runner.embeddings(texts, gates), **{f"att{i}": r.attentions for i, r in enumerate(res)})
""")


def _run(tmp_path, devices: int) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    out = tmp_path / f"d{devices}.npz"
    subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(TEXTS), str(out)], cwd=ROOT, env=env, check=True,
                   timeout=300)
    return dict(np.load(out))


def test_four_devices_give_the_same_numbers_as_one(tmp_path):
    one, four = _run(tmp_path, 1), _run(tmp_path, 4)
    assert one["devices"] == 1 and four["devices"] == 4
    assert four["shards"] == 4  # the batch really is split over the four devices
    np.testing.assert_allclose(four["emb"], one["emb"], atol=1e-5)
    for i in range(len(TEXTS)):  # float32 rounding differs with the per-device batch shape, within 5e-6
        np.testing.assert_allclose(four[f"att{i}"], one[f"att{i}"], atol=5e-6)


def test_device_mesh_spans_every_device():
    mesh = device_mesh()
    assert mesh.axis_names == ("batch",) and mesh.devices.size == len(jax.devices())
