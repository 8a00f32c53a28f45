"""The Winograd schema collection (``data/wsc285/WSCollection.xml``): parse it into sentences with
character spans for the pronoun and the two candidates, and map those spans to WordPieces.

Data: the Winograd Schema Challenge collection (Levesque, Davis and Morgenstern, 2012), compiled
by Ernest Davis; CC BY 4.0 (see ``data/wsc285/README.md``).

The rule, stated once:

- *Sentence*: ``txt1 + " " + pron + " " + txt2`` with runs of whitespace collapsed to one space
  (no space before ``txt2`` when it starts with punctuation).
- *Pronoun*: the ``<pron>`` element itself, so its position is known exactly even when the same
  pronoun occurs elsewhere in the sentence. The query piece is the pronoun's first WordPiece.
- *Candidate*: the ``<answer>`` text with one leading determiner (the, a, an) removed, found as a
  whole-word, case-insensitive match; the first occurrence that does not overlap the pronoun.
  Its WordPieces are the tokens whose characters lie inside that match (attention to a candidate
  is the sum over them).
- *Dropped*: a schema whose candidate is not in the sentence verbatim (e.g. "the younger
  students" for "the younger ones"), or whose two candidates overlap, is dropped with a reason.
- *Pairs*: consecutive schemas with the same two candidates and opposite correct answers, paired
  greedily from the top; a schema without such a neighbour is unpaired.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .artifacts import ROOT

COLLECTION = ROOT / "data" / "wsc285" / "WSCollection.xml"
DETERMINER = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)

Span = tuple[int, int]  # character [start, end) in the sentence


class WinogradError(Exception):
    """The collection file cannot be read as a Winograd collection; the message names the fix."""


@dataclass(frozen=True)
class Schema:
    """One Winograd sentence, as the parsing rule reads it."""

    index: int  # position in the collection (0-based)
    text: str
    pronoun: Span
    candidates: tuple[str, str]  # the <answer> texts, whitespace-normalised
    spans: tuple[Span, Span] | None  # each candidate's match, None when dropped
    correct: int  # 0 for A, 1 for B
    dropped: str | None = None  # why the rule drops it, None when kept


def _norm(s: str | None) -> str:
    return re.sub(r"\s+", " ", s or "").strip()


def find_phrase(text: str, phrase: str, avoid: Span) -> Span | None:
    """First whole-word, case-insensitive match of ``phrase`` in ``text`` that does not overlap ``avoid``."""
    pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", re.IGNORECASE)
    for m in pattern.finditer(text):
        if m.end() <= avoid[0] or m.start() >= avoid[1]:
            return m.span()
    return None


def parse_schema(index: int, element: ET.Element) -> Schema:
    """Apply the module's rule to one ``<schema>`` element."""
    text_el = element.find("text")
    if text_el is None or element.find("answers") is None or element.find("correctAnswer") is None:
        raise WinogradError(f"schema #{index}: needs <text>, <answers> and <correctAnswer>; is this WSCollection.xml?")
    t1, pron, t2 = (_norm(text_el.findtext(tag)) for tag in ("txt1", "pron", "txt2"))
    sep = "" if not t2 or t2[0] in ".,;:!?" else " "
    text = f"{t1} {pron}{sep}{t2}"
    pronoun = (len(t1) + 1, len(t1) + 1 + len(pron))
    answers = tuple(_norm(a.text) for a in element.find("answers").findall("answer"))
    label = _norm(element.findtext("correctAnswer")).rstrip(".").strip().upper()
    if len(answers) != 2 or label not in ("A", "B") or not pron:
        raise WinogradError(f"schema #{index}: expected a pronoun, two answers and a correct answer A or B")
    spans = tuple(find_phrase(text, DETERMINER.sub("", a), pronoun) for a in answers)
    dropped = None
    if None in spans:
        dropped = "candidate not in the sentence verbatim"
    elif spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]:
        dropped = "candidates overlap"
    return Schema(index, text, pronoun, answers, None if dropped else spans, "AB".index(label), dropped)


def load_collection(path: Path = COLLECTION) -> list[Schema]:
    """Every schema of the collection (kept and dropped), in file order."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise WinogradError(f"{path} not found; the Winograd collection is vendored in data/wsc285/") from None
    except ET.ParseError as e:
        raise WinogradError(f"{path}: not valid XML ({e}); restore it from data/wsc285/README.md's source") from None
    schemas = [parse_schema(i, el) for i, el in enumerate(root.findall("schema"))]
    if not schemas:
        raise WinogradError(f"{path}: no <schema> elements; is this WSCollection.xml?")
    return schemas


def pair_ids(schemas: list[Schema]) -> list[int]:
    """Pair id per schema by the module's rule (``-1`` = unpaired); ids count pairs from 0."""
    out = [-1] * len(schemas)
    i, pair = 0, 0
    while i < len(schemas) - 1:
        a, b = schemas[i], schemas[i + 1]
        if [c.lower() for c in a.candidates] == [c.lower() for c in b.candidates] and a.correct != b.correct:
            out[i] = out[i + 1] = pair
            pair += 1
            i += 2
        else:
            i += 1
    return out


def drop_report(schemas: list[Schema]) -> dict:
    """``{"total", "kept", "dropped", "reasons": {reason: count}}``."""
    reasons = Counter(s.dropped for s in schemas if s.dropped)
    return {"total": len(schemas), "kept": sum(s.dropped is None for s in schemas),
            "dropped": sum(reasons.values()), "reasons": dict(sorted(reasons.items()))}


def pieces_in_span(offsets, special, span: Span) -> list[int]:
    """Indices of the (non-special) tokens whose character offsets lie inside ``span``."""
    return [i for i, ((a, b), s) in enumerate(zip(offsets, special)) if not s and span[0] <= a and b <= span[1] and b > a]
