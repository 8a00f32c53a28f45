"""Verdicts are rendered from data: a verdict's words follow its boolean fact (flip the fact and the
page says the opposite), a verdict written by hand stops the build, and each verdict fact agrees
with the statistic it summarises. Plus the article's rules that a test can guard: the tokenizer
example really is a WordPiece split, one letter for sequence length, no model number typed by hand
in the glossary."""

import json
import re
import shutil

import pytest

from build_scripts.site.markdown import (
    SHORTCODE,
    VERDICT_WORDS,
    PageContext,
    SiteError,
    expand_shortcodes,
    hand_written_verdict,
)
from tests.helpers import ROOT

DOCS = ROOT / "docs"
GENERATED = DOCS / "generated"


def facts(group: str) -> dict:
    return json.loads((GENERATED / group / "facts.json").read_text())


@pytest.fixture()
def docs_copy(tmp_path):
    """The pages and their generated facts, in a folder whose facts a test may change."""
    out = tmp_path / "docs"
    shutil.copytree(DOCS, out, ignore=shutil.ignore_patterns("*.onnx", "wsc-*.json"))
    return out


def render(docs, page="attention.md") -> str:
    return expand_shortcodes((docs / page).read_text(), PageContext(page, page.replace(".md", "/"), docs))


def test_flipping_a_fact_flips_the_words(docs_copy):
    """The mechanism at work on the article's headline verdict: the corrected Winograd test."""
    before = render(docs_copy)
    path = docs_copy / "generated" / "evidence" / "facts.json"
    data = json.loads(path.read_text())
    verdicts = data["winograd"]["verdicts"]
    verdicts["best_above_chance_corrected"] = not verdicts["best_above_chance_corrected"]
    path.write_text(json.dumps(data))
    after = render(docs_copy)
    above, not_above = "above chance even after that correction", "not above chance once the choice among them"
    assert (above in before) != (above in after) and (not_above in before) != (not_above in after)
    assert (above in before) == facts("evidence")["winograd"]["verdicts"]["best_above_chance_corrected"]


def test_every_verdict_on_every_page_needs_a_boolean_fact(docs_copy):
    path = docs_copy / "generated" / "senses" / "facts.json"
    data = json.loads(path.read_text())
    data["verdicts"]["chosen_head_generalises"] = 0.5  # a number where a verdict's truth belongs
    path.write_text(json.dumps(data))
    with pytest.raises(SiteError, match="not true or false; a verdict needs a boolean fact"):
        render(docs_copy)
    for page in sorted(DOCS.glob("*.md")):  # and on the real pages, every one renders
        render(DOCS, page.name)


def test_a_verdict_written_by_hand_stops_the_build():
    ctx = PageContext("x.md", "x/", DOCS)
    with pytest.raises(SiteError, match="'above chance' is a verdict written by hand"):
        expand_shortcodes("The best head is above chance.", ctx)
    assert hand_written_verdict('It is {{ verdict evidence.winograd.verdicts.some_head_above_null "above chance" "not" }}.') is None
    assert expand_shortcodes('A \\"quoted\\" {{ verdict evidence.winograd.verdicts.some_head_above_null "say \\"yes\\"" "no" }}',
                             ctx).endswith('say "yes"' if facts("evidence")["winograd"]["verdicts"]["some_head_above_null"] else "no")


def test_no_page_writes_a_verdict_by_hand():
    for page in sorted(DOCS.glob("*.md")):
        outside = SHORTCODE.sub(" ", page.read_text())
        assert not VERDICT_WORDS.search(outside), f"{page.name}: {VERDICT_WORDS.search(outside).group(0)!r}"


# --- each verdict fact agrees with its statistic (recomputed here from the numbers beside it) ----------


def test_winograd_verdicts_agree_with_their_statistics():
    w = facts("evidence")["winograd"]
    v = w["verdicts"]
    assert v["best_above_chance_corrected"] == (w["null"]["p_best"] < 0.05)
    assert v["best_interval_excludes_chance"] == (w["best"]["low"] > w["chance"])
    assert v["mean_head_interval_includes_chance"] == (w["mean_head_low"] <= w["chance"] <= w["mean_head_high"])
    assert v["some_head_above_null"] == (w["heads_over_null_p95"] > 0)
    assert v["minority_over_even"] == (w["candidates"]["heads_over_even"] < 36)
    ratio = w["candidates"]["mean_share"] / w["candidates"]["even_share"]
    assert v["mean_head_near_even"] == (0.8 <= ratio <= 1.25)
    # the paired interval is narrower than a Wilson interval treating the sentences as independent
    # would be for the best head: the halves of a pair are negatively correlated (the point of pairing)
    assert w["best"]["low"] <= w["best"]["accuracy"] <= w["best"]["high"]


def test_role_verdicts_agree_with_the_counts():
    roles = facts("evidence")["roles"]
    counts = {k: r["heads"] for k, r in roles["by_role"].items()}
    assert roles["most_common"]["heads"] == max(counts.values())
    assert roles["verdicts"]["most_common_is_none"] == (max(counts, key=counts.get) == "none")
    assert roles["verdicts"]["broadcast_head_exists"] == (counts["broadcast"] > 0)


def test_other_verdicts_agree_with_their_numbers():
    senses = facts("senses")
    held = senses["chosen"]["held_out"]
    assert senses["verdicts"]["chosen_head_generalises"] == (held["low"] > 0)
    assert senses["verdicts"]["best_head_beats_null"] == (senses["null"]["p_best"] < 0.05)
    learning = facts("learning")["heads_on_answer"]
    assert learning["layer2"]["all_focus"] == (learning["layer2"]["min"] > 0.5)
    peers = facts("cost")["peers"]
    assert peers["matmul"]["same_speed"] == (abs(peers["matmul"]["ratio_cpu"] - 1) <= 0.05 + 0.005)  # 2 decimals
    link = facts("evidence")["link"]["strongest"]
    assert link["prefers_first_mention"] == (link["first_mention"]["low"] > 0.5)


# --- rules the article follows ------------------------------------------------------------------------


def test_the_tokenizer_examples_are_what_they_claim():
    wp = facts("mechanics")["wordpieces"]
    assert any(p.startswith("##") for p in wp["wordpiece"]["pieces"].split())  # a real WordPiece split
    pieces = wp["punctuation"]["pieces"].split()
    assert not any(p.startswith("##") for p in pieces) and any(re.fullmatch(r"[^\w\s]", p) for p in pieces)


def test_one_letter_for_sequence_length():
    """T (the glossary's and the code's letter) in the article and the glossary; never n or N."""
    for page in ("attention.md", "glossary.md"):
        text = SHORTCODE.sub(" ", (DOCS / page).read_text())
        text = re.sub(r"\n\d+\. .*", "", text)  # reference titles keep their own spelling
        assert not re.search(r"O\([nN]\b|\b[nN] ?[×x] ?[nND]\b|\b[nN]²|\b[nN] = ", text), page


def test_the_glossary_types_no_model_number_by_hand():
    table = (DOCS / "glossary.md").read_text().split("## Terms")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "letter" not in line]
    for row in rows:
        last = row.rstrip(" |").rsplit("|", 1)[-1]
        assert not re.search(r"\d", SHORTCODE.sub("", last)), row


def test_winograd_is_explained_where_it_first_appears():
    text = (DOCS / "attention.md").read_text()
    first = text.index("Winograd")
    assert "written to test what a pronoun refers to" in " ".join(text[first:first + 300].split())
