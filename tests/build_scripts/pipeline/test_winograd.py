"""The Winograd parsing rule on small synthetic XML with known answers, and on the vendored file."""

import hashlib

import pytest

from build_scripts.pipeline import winograd
from build_scripts.pipeline.winograd import (
    COLLECTION,
    WinogradError,
    drop_report,
    load_collection,
    pair_ids,
    pieces_in_span,
)

SCHEMA = """<schema><text><txt1>{t1}</txt1><pron> {pron} </pron><txt2>{t2}</txt2></text>
<answers><answer> {a} </answer><answer>{b}</answer></answers><correctAnswer> {c}. </correctAnswer></schema>"""


def write(tmp_path, *schemas):
    body = "".join(SCHEMA.format(**s) for s in schemas)
    path = tmp_path / "c.xml"
    path.write_text(f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<collection>{body}</collection>')
    return path


def s(t1, pron, t2, a, b, c):
    return dict(t1=t1, pron=pron, t2=t2, a=a, b=b, c=c)


def test_pronoun_span_is_the_marked_one_even_when_repeated(tmp_path):
    # "it" also occurs before the marked pronoun: the XML's <pron> decides, not a search
    path = write(tmp_path, s("When it rained, the cat\n  chased the dog because", "it", "was bored.", "The cat", "the dog", "A"))
    [x] = load_collection(path)
    assert x.text == "When it rained, the cat chased the dog because it was bored."
    assert x.text[x.pronoun[0]:x.pronoun[1]] == "it" and x.pronoun[0] == x.text.rindex("it")
    # determiner removed, case-insensitive whole-word match
    assert [x.text[a:b] for a, b in x.spans] == ["cat", "dog"]
    assert x.correct == 0 and x.dropped is None


def test_no_space_before_punctuation_and_label_b(tmp_path):
    path = write(tmp_path, s("We saw the foxes near the chickens and shot", "them", ".", "the foxes", "the chickens", "B"))
    [x] = load_collection(path)
    assert x.text.endswith("shot them.") and x.correct == 1


def test_candidate_not_verbatim_and_overlap_are_dropped_with_reasons(tmp_path):
    path = write(
        tmp_path,
        s("The older students bullied the younger ones, so we punished", "them", ".", "The older students",
          "The younger students", "A"),
        s("Joe's uncle can beat him, even though", "he", "is old.", "Joe", "Joe's uncle", "B"),
        s("The cat chased the dog because", "it", "was bored.", "the cat", "the dog", "A"),
    )
    xs = load_collection(path)
    assert [x.dropped for x in xs] == ["candidate not in the sentence verbatim", "candidates overlap", None]
    assert xs[0].spans is None
    assert drop_report(xs) == {"total": 3, "kept": 1, "dropped": 2, "reasons": {
        "candidate not in the sentence verbatim": 1, "candidates overlap": 1}}


def test_candidate_match_avoids_the_pronoun(tmp_path):
    # candidate "he" would match the pronoun itself; the rule takes the next occurrence
    path = write(tmp_path, s("Tom met Sam and", "he", "said he was late.", "Tom", "he", "A"))
    [x] = load_collection(path)
    assert x.spans[1][0] > x.pronoun[1]


def test_pairs_need_same_candidates_and_opposite_answers(tmp_path):
    a = s("The cat chased the dog because", "it", "was bored.", "the cat", "the dog", "A")
    b = s("The cat chased the dog because", "it", "was slow.", "the cat", "the dog", "B")
    c = s("The cat chased the dog because", "it", "was fast.", "the cat", "the dog", "A")
    other = s("The fox saw the hen because", "it", "was hungry.", "the fox", "the hen", "B")
    assert pair_ids(load_collection(write(tmp_path, a, b, c, other))) == [0, 0, -1, -1]
    assert pair_ids(load_collection(write(tmp_path, other, a, a, b))) == [-1, -1, 0, 0]


def test_pieces_in_span():
    offsets = [(0, 0), (0, 3), (4, 7), (7, 9), (10, 12), (0, 0)]
    special = [True, False, False, False, False, True]
    assert pieces_in_span(offsets, special, (4, 9)) == [2, 3]
    assert pieces_in_span(offsets, special, (0, 3)) == [1]  # the [CLS] (0, 0) is never a piece
    assert pieces_in_span(offsets, special, (13, 20)) == []


@pytest.mark.parametrize("text, message", [("<collection></collection>", "no <schema>"),
                                           ("<collection><schema>", "not valid XML"),
                                           ("<collection><schema><x/></schema></collection>", "needs <text>")])
def test_bad_files_give_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(WinogradError, match=message):
        load_collection(path)
    with pytest.raises(WinogradError, match="vendored"):
        load_collection(tmp_path / "missing.xml")


def test_vendored_collection_is_the_documented_file():
    digest = hashlib.sha256(COLLECTION.read_bytes()).hexdigest()
    assert digest == "9f039f74631fc72c2c2bc6db68ea22d1f08e891925ca8505b80fbcbd2946eb9b"
    assert digest in (COLLECTION.parent / "README.md").read_text()
    xs = load_collection()
    report = drop_report(xs)
    assert report["total"] == 285 and report["kept"] + report["dropped"] == 285
    for x in xs:
        if x.dropped is None:  # every kept span is the candidate (minus determiner), case aside
            for (a, b), cand in zip(x.spans, x.candidates):
                assert x.text[a:b].lower() == winograd.DETERMINER.sub("", cand).lower()
