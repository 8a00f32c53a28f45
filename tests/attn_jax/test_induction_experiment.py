"""attn_jax.induction and what it adds to attn_jax.train: the language-model readout, the constant
schedule, seeds trained side by side, the phase-change rule, and a short run in which the 2-layer
attention-only model learns to copy (induction heads) while the 1-layer control cannot."""

import dataclasses
import json
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.induction import InductionConfig, phase_change_step, probe_index, run_induction_experiment, summary
from attn_jax.tasks import CopyTask, sample_copy_batch
from attn_jax.train import (
    Budget,
    TransformerConfig,
    init_transformer,
    make_optimizer,
    next_token_loss,
    train,
    transformer_apply,
)

# Small enough to learn in a few hundred steps: vocabulary 16, length 17, spans 4-7.
SMALL = InductionConfig(
    task=CopyTask(vocab_size=16, length=17, min_span=4, max_span=7),
    model_dim=32, num_heads=2, layers=(2, 1), seeds=(0,),
    budget=Budget(steps=500, batch_size=64, lr=5e-3, warmup=20, schedule="constant"),
    checkpoint_every=100, heldout_size=128, early=(1, 4), late=(12, 16), probe_min_span=5,
)


def test_phase_change_rule_by_hand():
    steps = [0, 100, 200, 300]
    assert phase_change_step(steps, [4.0, 3.0, 1.0, 0.5], threshold=2.0) == pytest.approx(150.0)
    assert phase_change_step(steps, [4.0, 3.0, 2.5, 2.1], threshold=2.0) is None
    assert phase_change_step(steps, [1.0, 3.0, 1.0, 0.5], threshold=2.0) == 0.0
    # The first crossing counts, not a later one after a bounce.
    assert phase_change_step(steps, [4.0, 1.0, 3.0, 0.5], threshold=2.0) == pytest.approx(2 / 3 * 100)


def test_probe_is_a_clean_copy():
    batch = sample_copy_batch(jax.random.PRNGKey(0), SMALL.task, 64)
    i = probe_index(batch, min_span=5)
    span, copied, target = int(batch.span[i]), np.asarray(batch.copied[i]), np.asarray(batch.induction_target[i])
    assert span >= 5 and ((target >= 0) == copied).all()
    earlier = [j for j in range(i) if int(batch.span[j]) >= 5]
    for j in earlier:  # every earlier candidate has a chance repeat in its copy
        assert ((np.asarray(batch.induction_target[j]) >= 0) != np.asarray(batch.copied[j])).any()


def test_language_model_readout_is_causal_and_matches_the_query_readout():
    config = TransformerConfig(11, 7, 11, model_dim=15, num_heads=3, num_layers=2, mlp_dim=0, zero_query=False)
    params = init_transformer(jax.random.PRNGKey(0), config)
    tokens = jax.random.randint(jax.random.PRNGKey(1), (5, 7), 0, 11, dtype=jnp.int32)
    apply = jax.jit(partial(transformer_apply, config=config))
    logits, attention = apply(params, tokens, None)
    assert logits.shape == (5, 7, 11) and attention.shape == (2, 5, 3, 7, 7)
    at_query, _ = apply(params, tokens, jnp.full((5,), 4, jnp.int32))
    np.testing.assert_allclose(at_query, logits[:, 4], atol=1e-5)
    changed, _ = apply(params, tokens.at[:, 5:].set(0), None)
    np.testing.assert_allclose(changed[:, :5], logits[:, :5], atol=1e-5)
    assert not np.allclose(changed[:, 5:], logits[:, 5:])


def test_constant_schedule_holds_the_peak():
    budget = Budget(steps=100, lr=0.5, warmup=4, schedule="constant", clip_norm=1e9, weight_decay=0.0)
    opt = make_optimizer(budget)
    params = {"w": jnp.zeros(())}
    state = opt.init(params)
    moves = []
    for _ in range(8):  # Adam's first steps move by about lr whatever the gradient's size
        with jax.numpy_dtype_promotion("standard"):
            updates, state = opt.update({"w": jnp.ones(())}, state, params)
        moves.append(-float(updates["w"]))
    np.testing.assert_allclose(moves, [0.0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5, 0.5], atol=1e-4)  # Adam's eps
    with pytest.raises(ValueError, match="schedule"):
        Budget(schedule="linear")


def test_seeds_side_by_side_match_separate_runs():
    task, budget = SMALL.task, dataclasses.replace(SMALL.budget, steps=12)
    config = TransformerConfig(task.vocab_size, task.length, task.vocab_size, model_dim=16, num_heads=2, mlp_dim=0)
    keys = jnp.stack([jax.random.PRNGKey(k) for k in (3, 4)])
    init = jax.jit(jax.vmap(partial(init_transformer, config=config)))  # compiled once, not op by op
    # No held-out batch (one compile fewer): the training losses alone show which data and
    # parameters each seed got.
    run = partial(train, partial(transformer_apply, config=config), task=task, budget=budget,
                  checkpoint_every=6, objective=next_token_loss)
    both = run(init(keys), seed=(7, 8))
    assert both.train_loss.shape == both.loss.shape == (2, 3) and np.isnan(both.loss).all()
    alone = run(jax.tree_util.tree_map(lambda a: a[1], init(keys)), seed=8)  # the second: a mix-up shows
    np.testing.assert_allclose(both.train_loss[1, 1:], alone.train_loss[1:], rtol=1e-4)
    assert not np.allclose(both.train_loss[0, 1:], alone.train_loss[1:], rtol=1e-4)
    with pytest.raises(ValueError, match="leading axis of 3"):
        run(init(keys), seed=(7, 8, 9))


@pytest.fixture(scope="module")
def small_result():
    """The small run as the chart group writes it: rounded to JSON by the pipeline's one rule."""
    from build_scripts.pipeline.artifacts import rounded

    return rounded(run_induction_experiment(SMALL), 4)


def test_two_layers_learn_to_copy_with_induction_heads(small_result):
    r = small_result
    two, one = r["models"]["2-layer"]["runs"][0], r["models"]["1-layer"]["runs"][0]
    ln_v = math.log(16)
    # The 2-layer model: copied tokens go from about ln V to under half of it (the phase-change
    # threshold) while the rest stays near ln V; its best layer-2 head is an induction head, far
    # above its no-repeat null, fed by a layer-1 head attending to the previous token.
    assert two["copied_loss"][0] > 0.9 * ln_v and two["final"]["copied_loss"] < 0.4 * ln_v
    assert two["final"]["other_loss"] > 0.9 * ln_v
    assert two["phase_change_step"] is not None and 0 < two["phase_change_step"] <= 500
    ind = two["final"]["best_induction"]
    assert ind["layer"] == 2 and ind["score"] > 0.6 and ind["score"] > 4 * ind["null"]
    assert two["final"]["best_previous_token"]["score"] > 2 * r["uniform_null"]["previous_token"]
    # The 1-layer control, same budget and data: it can favour tokens seen before, but no head can
    # find the token after an earlier copy of the current one.
    assert one["phase_change_step"] is None and one["final"]["copied_loss"] > 0.6 * ln_v
    assert one["final"]["best_induction"]["score"] < 0.3
    assert two["final"]["icl_score"] < one["final"]["icl_score"] - 0.3
    assert "2-layer: phase change in 1/1 seeds" in summary(r)


def test_result_is_plain_json_with_the_documented_shapes(small_result):
    r = small_result
    assert json.loads(json.dumps(r, allow_nan=False)) == r
    c, t = len(r["steps"]), SMALL.task.length
    assert r["steps"] == [0, 100, 200, 300, 400, 500]
    for name, layers in (("2-layer", 2), ("1-layer", 1)):
        m = r["models"][name]
        run = m["runs"][0]
        assert np.shape(run["induction"]) == np.shape(run["previous_token"]) == (c, layers, 2)
        assert np.shape(run["loss_by_position"]) == (c, t - 1) and len(run["copied_loss"]) == c
        # Every prediction's loss is the copied and the other losses weighted by their shares.
        assert min(run["copied_loss"][-1], run["other_loss"][-1]) < run["loss"][-1] < max(
            run["copied_loss"][-1], run["other_loss"][-1])
        np.testing.assert_allclose(np.mean(run["loss_by_position"], axis=1), run["loss"], atol=2e-4)
        att = np.asarray(m["probe_attention"])  # [C, L, H, T, T]
        assert att.shape == (c, layers, 2, t, t)
        np.testing.assert_allclose(att.sum(-1), 1.0, atol=t * 1e-4)  # rounded to 4 decimals
        np.testing.assert_allclose(att[0], np.broadcast_to(np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None],
                                                          att[0].shape), atol=1e-4)  # uniform at step 0
    probe = r["probe"]
    tokens, target = np.asarray(probe["tokens"]), np.asarray(probe["induction_target"])
    q = np.flatnonzero(target >= 0)
    np.testing.assert_array_equal(tokens[target[q] - 1], tokens[q])  # the key before a target repeats the query


def test_runs_are_repeatable():
    tiny = dataclasses.replace(SMALL, layers=(1,), seeds=(0, 1), checkpoint_every=5, heldout_size=16,
                               budget=dataclasses.replace(SMALL.budget, steps=10))
    from build_scripts.pipeline.artifacts import dumps, rounded

    # byte for byte as written (all 17 significant digits), not only within the rounding
    assert dumps(rounded(run_induction_experiment(tiny), 17)) == dumps(rounded(run_induction_experiment(tiny), 17))
