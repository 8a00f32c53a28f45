"""What the head view's sentence picker shows of the gallery: each sentence's title, and the index
that groups the pairs and links each half to its partner."""

from __future__ import annotations

SOURCE = "Winograd Schema Challenge collection (Levesque, Davis and Morgenstern 2012; CC BY 4.0)"


def title(schema) -> str:
    """Picker text: the sentence, its pronoun in brackets (which "it" is asked about)."""
    a, b = schema.pronoun
    return f"{schema.text[:a]}[{schema.text[a:b]}]{schema.text[b:]}"


def index(entries: list[dict], paired: list[str], names: dict[str, str], left_out: dict) -> dict:
    """The gallery's ``index.json``: the picker's group, every sentence's id and title, ``files``
    (id -> file name), ``partner`` (id -> the other half of its pair) and what was left out."""
    return {
        "groups": [{"title": f"Winograd pairs ({len(paired) // 2} pairs; one word changes what the pronoun means)",
                    "sentences": paired}],
        "sentences": entries,
        "files": names,
        "partner": {a: b for x, y in zip(paired[0::2], paired[1::2]) for a, b in ((x, y), (y, x))},
        "left_out": left_out,
        "source": SOURCE,
    }
