"""The head view's sentence gallery (``docs/generated/gallery/``): Winograd pairs of the vendored
collection, precomputed, for the head view's sentence picker.

Which: the pairs (both halves, one after the other) in collection order while the folder stays
within :data:`BUDGET` bytes; all 285 sentences with both levels would take about 21 MB. Gallery
sentences ship the word level only (``token`` is None and ``token_omitted`` true: the widget then
disables its WordPiece switch).

Files: ``<id>.json`` per sentence (the head view's payload, weights quantised to 8 bits, see
:func:`build_scripts.headview.quantise`; loaded only when a reader picks the sentence) and
``index.json``: the picker's groups, every sentence's id and title, ``files`` (id -> file
name), ``partner`` (id -> the other half of its pair) and what was left out.
The article's own examples stay in the head view's group; the widget lists them first.

Ids are ``wsc-<index>`` (the schema's 0-based position in the collection); the query word is the
schema's pronoun, found from its character span (never by searching for the word).
"""

from __future__ import annotations

from . import headview as hv
from . import winograd
from .artifacts import ROOT, Group, dumps, versions
from .config import Sentence

COLLECTION_FILE = str(winograd.COLLECTION.relative_to(ROOT))
BUDGET = 7_500_000  # bytes on disk for the whole gallery folder (the project's limit is 8 MB)


def _title(s: winograd.Schema) -> str:
    """Picker text: the sentence, its pronoun in brackets (which "it" is asked about)."""
    a, b = s.pronoun
    return f"{s.text[:a]}[{s.text[a:b]}]{s.text[b:]}"


def _query_word(result, schema: winograd.Schema) -> int:
    """Word index of the schema's pronoun (its first WordPiece's word)."""
    from attn_jax.words import align_words

    tok = result.tokenized
    pieces = winograd.pieces_in_span(tok.offsets, tok.special, schema.pronoun)
    if not pieces:
        raise ValueError(f"schema #{schema.index}: no token inside the pronoun span {schema.pronoun}")
    return align_words(tok).token_word[pieces[0]]


def build(ctx) -> dict[str, bytes]:
    from attn_jax import Encoder

    every = winograd.load_collection(ctx.root / COLLECTION_FILE)
    every_pair = winograd.pair_ids(every)
    schemas, pairs = zip(*[(s, p) for s, p in zip(every, every_pair) if p >= 0])
    ctx.log(f"loading the model and running the {len(schemas)} paired Winograd sentences")
    encoder = Encoder.load()
    results = encoder.run([s.text for s in schemas])
    files: dict[str, bytes] = {}
    entries, names, paired = [], {}, []
    halves: dict[int, list] = {}
    for s, r, p in zip(schemas, results, pairs):
        if p >= 0:
            halves.setdefault(p, []).append((s, r))
    for p in sorted(halves):
        pair = {}
        for s, r in halves[p]:
            sid = f"wsc-{s.index}"
            payload = hv.sentence_payload(Sentence(sid, s.text, _title(s)), r)
            payload["query"] = _query_word(r, s)
            payload["multi_heads"] = [hv.default_heads(payload, layer) for layer in range(payload["layers"])]
            payload["token"], payload["token_omitted"] = None, True
            pair[sid] = dumps(hv.shipped_payload(payload)).encode()
        if sum(map(len, files.values())) + sum(map(len, pair.values())) > BUDGET - 100_000:  # room for the index
            break
        for (s, _), sid in zip(halves[p], pair):
            names[sid] = f"{sid}.json"
            files[names[sid]] = pair[sid]
            entries.append({"id": sid, "title": _title(s)})  # the title is the text, pronoun in brackets
            paired.append(sid)
    files["index.json"] = dumps({
        "groups": [{"title": f"Winograd pairs ({len(paired) // 2} pairs; one word changes what the pronoun means)",
                    "sentences": paired}],
        "sentences": entries,
        "files": names,
        "partner": {a: b for x, y in zip(paired[0::2], paired[1::2]) for a, b in ((x, y), (y, x))},
        "left_out": {"pairs": len(halves) - len(paired) // 2, "unpaired": sum(p < 0 for p in every_pair),
                     "reason": f"the gallery folder stays within {BUDGET / 1e6:.1f} MB"},
        "source": "Winograd Schema Challenge collection (Levesque, Davis and Morgenstern 2012; CC BY 4.0)",
    }).encode()
    ctx.log(f"{len(entries)} sentences, {sum(len(b) for b in files.values()) / 1e6:.1f} MB")
    return files


def _extra() -> dict:
    from attn_jax.model import PRETRAINED_SHA256

    return {"model_sha256": PRETRAINED_SHA256["model.safetensors"], "versions": versions("jax", "jaxlib", "tokenizers")}


GROUPS = [Group("gallery", module=__name__, build=build, files=[COLLECTION_FILE], extra=_extra)]
