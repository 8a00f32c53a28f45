"""The decoder's head view is the article's head view (:mod:`build_scripts.groups.head_view.charts`),
with its causal signals set; this module lays out what the widget and the readers without
JavaScript get: the index (the picker's two groups, and which query heads share a key/value head)
and the default view's spec."""

from __future__ import annotations

from build_scripts.groups.head_view.charts import head_view_spec, layer_rows, token_rows
from build_scripts.pipeline.payloads import PALETTE


def index(sentences: list[dict], written: list[dict], default: dict, layers: int, heads: int, kv_heads: int) -> dict:
    """``index.json``: the article's sentences and the model's continuations as the picker's
    groups; ``kv_heads``: query head h reads key/value head h // (heads / kv_heads)."""
    return {
        "sentences": sentences + written, "default": default, "layers": layers, "heads": heads,
        "kv_heads": kv_heads, "palette": PALETTE,
        "groups": [{"title": "The article's sentences", "sentences": [s["id"] for s in sentences]},
                   {"title": "Written by the model (greedy, one token at a time)", "sentences": [s["id"] for s in written]}],
    }


def empty_spec(payload: dict) -> dict:
    """The spec the widget loads: its data sets empty (routed in per text), the causal signals off."""
    return head_view_spec([], [], query=payload["query"], heads=[0])


def default_spec(payload: dict, layer: int, head: int) -> dict:
    """The spec with one view filled in (the static fallback): causal, the first written step."""
    level = payload["word"]
    spec = head_view_spec(token_rows(level), layer_rows(level["attention"], layer), query=payload["query"], heads=[head])
    values = {"causal": True}
    if "generated_from" in payload:
        values |= {"upto": payload["query"], "writing": payload["next_tokens"][payload["query"] - payload["generated_from"] + 1]}
    for s in spec["signals"]:
        if s["name"] in values:
            s["value"] = values[s["name"]]
    return spec
