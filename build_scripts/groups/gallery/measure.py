"""The gallery's sentences: the Winograd pairs, each half as a head-view payload.

Payloads are :mod:`build_scripts.pipeline.payloads`' (the head view's own format); the query word
is the schema's pronoun, found from its character span (never by searching for the word).
"""

from __future__ import annotations

from build_scripts.pipeline import winograd


def query_word(result, schema: winograd.Schema) -> int:
    """Word index of the schema's pronoun (its first WordPiece's word)."""
    from attn_jax.words import align_words

    tok = result.tokenized
    pieces = winograd.pieces_in_span(tok.offsets, tok.special, schema.pronoun)
    if not pieces:
        raise ValueError(f"schema #{schema.index}: no token inside the pronoun span {schema.pronoun}")
    return align_words(tok).token_word[pieces[0]]


def pair_payloads(schemas, results, title) -> dict[int, list[tuple[str, dict]]]:
    """``{pair id: [(sentence id, payload), ...]}`` for every complete Winograd pair, in collection
    order; ids are ``wsc-<index>`` and payloads ship the word level only (``token`` None,
    ``token_omitted`` true: the widget disables its WordPiece switch). ``title(schema)`` gives the
    picker's text."""
    from build_scripts.pipeline import payloads as pl
    from build_scripts.pipeline.config import Sentence

    out: dict[int, list] = {}
    for s, r, p in zip(schemas, results, winograd.pair_ids(schemas)):
        if p < 0:
            continue
        sid = f"wsc-{s.index}"
        payload = pl.sentence_payload(Sentence(sid, s.text, title(s)), r)
        payload["query"] = query_word(r, s)
        payload["multi_heads"] = [pl.default_heads(payload, layer) for layer in range(payload["layers"])]
        payload["token"], payload["token_omitted"] = None, True
        out.setdefault(p, []).append((sid, payload))
    return out
