"""The corpus evidence on synthetic sentences and attention with known answers (no model), its
charts, and the group's build from a cached measurement."""

import json

import numpy as np
import pytest

from build_scripts.groups.evidence import charts as ec
from build_scripts.groups.evidence import group as evidence_build
from build_scripts.groups.evidence import measure as evidence
from build_scripts.pipeline import cache
from build_scripts.pipeline.registry import Context, code_files
from build_scripts.pipeline.config import ConfigError
from build_scripts.pipeline.winograd import Schema
from tests.helpers import Result, tokenized


def schema(index, text, pron, a, b, correct):
    span = lambda w: (text.index(w), text.index(w) + len(w))  # noqa: E731
    return Schema(index, text, span(pron), (a, b), (span(a), span(b)), correct)


def test_winograd_on_constructed_heads():
    # two pairs; head 0 attends from the pronoun to the correct candidate, head 1 always to A
    texts = [("The cat chased the dog because it was bored.", 0), ("The cat chased the dog because it was slow.", 1)] * 2
    schemas, results = [], []
    for i, (text, correct) in enumerate(texts):
        s = schema(i, text, "it", "cat", "dog", correct)
        tok = tokenized(text)
        n = len(tok.tokens)
        att = np.full((1, 2, n, n), 1.0 / n)
        q, a, b = tok.tokens.index("it"), tok.tokens.index("cat"), tok.tokens.index("dog")
        att[0, 0, q] = 0.0
        att[0, 0, q, (a, b)[correct]] = 1.0
        att[0, 1, q] = 0.0
        att[0, 1, q, a] = 1.0
        schemas.append(s)
        results.append(Result(tok, att))
    facts, tables = evidence.winograd(schemas, results, {"null_repeats": 200, "seed": 0})
    assert tables["accuracy"].tolist() == [[1.0, 0.5]]
    assert tables["consistency"].tolist() == [[1.0, 0.0]]
    assert facts["best"]["layer_1based"] == 1 and facts["best"]["head_1based"] == 1 and facts["n"] == 4
    assert facts["complete_pairs"] == 2
    assert facts["candidates"]["even_share"] == pytest.approx(2 / 12) and tables["share"].tolist() == [[1.0, 1.0]]
    # two pairs: the perfect head's shuffled accuracy is 0, 0.5 or 1; the best of the two heads >= 0.5
    assert set(np.unique(tables["null"])) <= {0.5, 1.0}
    # whole pairs resampled: the perfect head is right in every pair, head 1 in exactly half of each
    assert tables["low"].tolist() == [[1.0, 0.5]] and tables["high"].tolist() == [[1.0, 0.5]]
    # head 1 always looks at A, the first mention; head 0 at A in one half of each pair, B in the other
    assert tables["first_mention"].tolist() == [[0.5, 1.0]] and facts["first_mention"]["heads_prefer_first"] == 1
    v = facts["verdicts"]
    # the best of two heads with two pairs: a shuffle does as well one time in four, so not significant,
    # although its own interval (which ignores the choice) excludes chance
    assert facts["null"]["p_best"] == pytest.approx(0.25, abs=0.08) and v["best_above_chance_corrected"] is False
    assert v["best_interval_excludes_chance"] is True and v["minority_over_even"] is False


def test_link_finds_the_specific_head_not_the_broadcast_one():
    tok = tokenized("The cat sat because it was tired.")
    n = len(tok.tokens)
    q, cat = tok.tokens.index("it"), tok.tokens.index("cat")
    att = np.full((1, 2, n, n), 0.1 / (n - 1))
    att[0, 0, :, cat] = 0.9  # broadcast: every token -> cat
    att[0, 1, :, 0] = 0.9  # specific: [CLS] for everyone but "it"
    att[0, 1, q] = 0.1 / (n - 1)
    att[0, 1, q, cat] = 0.8
    att[0, 1, q, 0] = 0.1 + 0.1 / (n - 1)
    shares = np.zeros((1, 2, 6)); shares[..., -1] = 1.0
    facts = evidence.link(Result(tok, att), {"query": "it", "expect": "cat"}, shares, np.zeros((1, 2, 5)))
    assert facts["strongest"]["head_1based"] == 1 and facts["strongest"]["others"] == pytest.approx(0.9)
    assert facts["specific"]["head_1based"] == 2 and facts["specific"]["weight"] == pytest.approx(0.8)
    assert facts["strongest"]["broadcast_here"] == pytest.approx(0.9) and facts["strongest"]["role"] == "none"


def test_worked_pair_counts_switches_and_reports_both_sentences():
    results = []
    for text, target in (("The animal crossed the street as it was tired.", "animal"),
                         ("The animal crossed the street as it was wide.", "street")):
        tok = tokenized(text)
        n = len(tok.tokens)
        att = np.full((1, 2, n, n), 1.0 / n)
        q = tok.tokens.index("it")
        att[0, 0, q] = 0.0; att[0, 0, q, tok.tokens.index(target)] = 1.0  # switches
        att[0, 1, q] = 0.0; att[0, 1, q, tok.tokens.index("animal")] = 1.0  # tracks the subject
        results.append(Result(tok, att))
    cfg = {"query": "it", "candidates": ["animal", "street"]}
    out = evidence.worked_pair(results, cfg, {"x": {"layer_1based": 1, "head_1based": 2}})
    assert out["heads_switch"] == 1
    assert out["heads"]["x"] == {"layer_1based": 1, "head_1based": 2, "first_animal": 1.0, "first_street": 0.0,
                                 "second_animal": 1.0, "second_street": 0.0}
    with pytest.raises(ConfigError, match="not a word"):
        evidence.worked_pair(results, {"query": "it", "candidates": ["animal", "road"]}, {})


def test_contribution_of_a_sink_with_a_small_value():
    tok = tokenized("a b c")
    n, h, d, m = 5, 2, 3, 4
    att = np.zeros((1, h, n, n)); att[..., 0] = 0.5; att[..., 1] = 0.5
    v = np.ones((1, n, h, d)); v[:, 0] = 0.1  # [CLS]'s value is 10x shorter
    layers = evidence.contribution([Result(tok, att, v)], np.ones((1, h * d, m)))
    assert layers[0]["cls_weight"] == pytest.approx(0.5) and layers[0]["cls_contribution"] == pytest.approx(0.1 / 1.1)
    assert layers[0]["sep_weight"] == 0.0


def test_settings_errors_name_the_fix(tmp_path):
    bad = tmp_path / "e.toml"
    bad.write_text("[settings]\nseed = 0\n")
    with pytest.raises(ConfigError, match=r"lacks .*null_repeats"):
        evidence.load_settings(bad)
    assert evidence.load_settings()["removal_step"] > 0


def test_chart_rows():
    acc = np.array([[0.5, 0.6], [0.4, 0.55]])
    rows = ec.head_rows(acc, share=acc / 2)
    assert rows[1] == {"layer": 1, "head": 2, "value": 0.6, "share": 0.3}
    prows = ec.pruning_rows(np.array([0, 0.5, 1]), np.ones((3, 3)), np.zeros((3, 3)))
    assert len(prows) == 2 * 3 * 3 and {r["kind"] for r in prows} == {"importance", "random"}
    crows = ec.contribution_rows([{"layer_1based": 1, "cls_weight": 0.5, "cls_contribution": 0.1,
                                   "sep_weight": 0.02, "sep_contribution": 0.03}])
    assert [r["share"] for r in crows] == [0.5, 0.1, 0.02, 0.03]


def fake_charts(narrow: bool) -> dict:
    """The four charts of :func:`fake_measurement`, as Vega-Lite dicts."""
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.4, 0.6, (2, 3))
    crows = ec.contribution_rows([{"layer_1based": i + 1, "cls_weight": 0.5, "cls_contribution": 0.1,
                                   "sep_weight": 0.02, "sep_contribution": 0.03} for i in range(2)])
    prows = ec.pruning_rows(np.array([0, 0.5, 1]), rng.uniform(0, 1, (3, 3)), rng.uniform(0, 1, (3, 3)))
    charts = {"winograd-heads": ec.winograd_chart(acc, acc, acc - 0.05, acc + 0.05, 10, 0.58, narrow=narrow),
              "head-roles": ec.roles_chart(rng.dirichlet(np.ones(6), (2, 3)), 10, narrow=narrow),
              "pruning": ec.pruning_chart(prows, narrow=narrow),
              "contribution": ec.contribution_chart(crows, narrow=narrow)}
    return {name: chart.to_dict() for name, chart in charts.items()}


def _lines(text) -> str:
    return " ".join(text) if isinstance(text, list) else text


def test_narrow_charts_are_one_column_with_the_same_words():
    """The layouts for phones: panels one above the other, no panel wider than 250 px, legends
    below; titles and the data credit are the wide charts' words, broken into lines."""
    wide, narrow = fake_charts(False), fake_charts(True)
    for name in ("pruning", "contribution"):
        assert narrow[name]["columns"] == 1 and "column" in wide[name]["facet"]
        assert narrow[name]["spec"]["width"] == ec.NARROW_WIDTH and "columns" not in wide[name]
        assert narrow[name]["spec"]["layer"][0]["encoding"]["color"]["legend"]["orient"] == "bottom"
    for name in ("winograd-heads", "head-roles"):
        assert narrow[name]["width"] == ec.NARROW_WIDTH < wide[name]["width"]
    assert narrow["head-roles"]["encoding"]["color"]["legend"]["orient"] == "bottom"
    for name in wide:
        assert _lines(narrow[name]["title"]["text"]) == _lines(wide[name]["title"]["text"])
        assert _lines(narrow[name]["title"]["subtitle"]).endswith(ec.WSC_CREDIT)
        assert isinstance(narrow[name]["title"]["subtitle"], list)
    assert _lines(narrow["head-roles"]["title"]["subtitle"]) == _lines(wide["head-roles"]["title"]["subtitle"])
    # the Winograd axis title, on three lines; five ticks instead of one every 0.02
    x = narrow["winograd-heads"]["layer"][-3]["encoding"]["x"]
    assert _lines(x["title"]) == wide["winograd-heads"]["layer"][-3]["encoding"]["x"]["title"]
    assert x["axis"]["tickCount"] == 5


def fake_measurement(layers=2, heads=3) -> dict:
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.4, 0.6, (layers, heads))
    shares = rng.dirichlet(np.ones(6), (layers, heads))
    steps = [0, 3, 6]
    facts = {"winograd": {"n": 10, "chance": 0.5, "null": {"p95": 0.58}}, "roles": {"n": 10}}
    tables = {"winograd": {"accuracy": acc.tolist(), "share": acc.tolist(), "low": (acc - 0.05).tolist(),
                           "high": (acc + 0.05).tolist()}, "roles": shares.tolist(),
              "pruning": {"share": [s / 6 for s in steps], "cosine": rng.uniform(0, 1, (3, 3)).tolist(),
                          "neighbours": rng.uniform(0, 1, (3, 3)).tolist()},
              "contribution": [{"layer_1based": i + 1, "cls_weight": 0.5, "cls_contribution": 0.1,
                                "sep_weight": 0.02, "sep_contribution": 0.03} for i in range(layers)]}
    facts["contribution"] = tables["contribution"]
    facts["sinks"] = evidence.sinks(tables["contribution"])
    return {"facts": facts, "tables": tables}


def test_build_from_cache_renders_four_charts_and_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "cache_key", lambda *a, **k: "f" * 64)
    (tmp_path / f"evidence-{'f' * 16}.json").write_text(json.dumps(fake_measurement()))
    logs = []
    files = evidence_build.build(Context(log=logs.append, cache_dir=tmp_path))
    assert "evidence: from the cache" in logs[0]
    assert sorted(files) == sorted(["facts.json"] + [f"{c}/{f}" for c in ("winograd-heads", "head-roles", "pruning",
                                                                          "contribution")
                                                     for f in ("spec.json", "spec-narrow.json", "default.svg")])
    for chart in ("winograd-heads", "head-roles", "pruning", "contribution"):
        spec, narrow = (json.loads(files[f"{chart}/{f}"]) for f in ("spec.json", "spec-narrow.json"))
        assert narrow["usermeta"] == {"narrow_below": ec.NARROW_BELOW} and "usermeta" not in spec
        assert spec["background"] == narrow["background"] == "transparent"  # the page's own, light or dark
    svg = files["winograd-heads/default.svg"].decode()
    assert "chance 0.50" in svg and "0.58" in svg and "CC BY 4.0" in svg
    facts = json.loads(files["facts.json"])
    assert facts["winograd"]["null"]["p95"] == 0.58
    assert facts["sinks"]["cls_busiest"]["layer_1based"] == 1 and facts["sinks"]["sep_weight_max"] == 0.02
    assert files == evidence_build.build(Context(log=logs.append, cache_dir=tmp_path))  # deterministic


def test_cache_key_covers_the_measuring_code_data_and_settings_but_not_the_charts():
    code = {str(p.relative_to(evidence.ROOT)) for p in code_files(evidence.__name__)}
    assert {"build_scripts/groups/evidence/measure.py", "attn_jax/analysis.py", "attn_jax/corpus.py",
            "build_scripts/pipeline/winograd.py"} <= code
    assert "build_scripts/groups/evidence/charts.py" not in code  # restyling a chart never reruns the model
    assert set(evidence_build.GROUP.files) == {"data/wsc285/WSCollection.xml", "build_scripts/sentences.toml",
                                               "build_scripts/groups/evidence/settings.toml"}


class FakeRunner:
    """Embeddings that move linearly with each head's gate: removing head i adds -W[i]. Heads with
    a larger W[i] matter more, so the importance order is known."""

    def __init__(self, layers=2, heads=4, m=6, n=40):
        from types import SimpleNamespace

        rng = np.random.default_rng(0)
        self.encoder = SimpleNamespace(config=SimpleNamespace(num_hidden_layers=layers, num_attention_heads=heads))
        self.w = rng.normal(size=(layers * heads, m)) * np.geomspace(0.01, 1.0, layers * heads)[:, None]
        self.base = rng.normal(size=(n, m)) + 3.0
        self.calls = []

    def embeddings(self, texts, gates=None, reuse_prefix=False):
        cfg = self.encoder.config
        gates = np.ones((1, cfg.num_hidden_layers, cfg.num_attention_heads)) if gates is None else np.asarray(gates)
        self.calls.append(len(gates))
        idx = np.array([int(t) for t in texts])
        flat = gates.reshape(len(gates), -1)
        return self.base[idx][None] - ((1 - flat) @ self.w)[:, None, :]


def test_pruning_orders_by_importance_and_beats_random_orders():
    runner = FakeRunner()
    texts = [str(i) for i in range(40)]
    pairs = list(np.repeat(np.arange(20), 2))  # pair p: sentences 2p, 2p+1
    settings = {"importance_pairs_every": 2, "evaluation_pairs_every": 2, "random_orders": 3, "removal_step": 2,
                "seed": 0, "neighbours": 3}
    facts, tables = evidence.pruning(runner, texts, pairs, settings, log=lambda m: None)
    heads = 8
    assert facts["importance_sentences"] == 20 and facts["evaluation_sentences"] == 20  # even / odd pairs
    # importance grows with |W[i]|, which grows with i
    assert np.argsort(tables["importance"].ravel()).tolist() == np.argsort(np.linalg.norm(runner.w, axis=1)).tolist()
    assert facts["most_important"] == {"layer_1based": 2, "head_1based": 4,
                                       "importance": pytest.approx(tables["importance"].max())}
    cos = tables["cosine"]  # [1 + random orders, steps]
    assert tables["steps"] == [0, 2, 4, 6, 8] and cos.shape == (4, 5)
    assert np.allclose(cos[:, 0], 1.0) and np.allclose(cos[:, -1], cos[0, -1])  # same start, same end
    assert np.all(cos[0, 1:-1] >= cos[1:, 1:-1].mean(0))  # least important first keeps the embedding closer
    assert facts["at"]["25"]["heads_removed"] == 2 and facts["at"]["50"]["heads_removed"] == 4
    assert runner.calls == [heads + 1, 2 + 4 * 3]  # full + each head; full, none, and the inner steps once each
