"""Every committed chart (each ``spec.json`` and ``spec-narrow.json`` under docs/generated): a mark
coloured by a field through a scale with a fixed list of values must find its data's values in that
list. A value outside it gets no colour and the mark is drawn invisible, with no error anywhere; this
is how nested concatenations that share one colour scale lose a panel."""

import json

import pytest

from build_scripts.pipeline.artifacts import ROOT

GENERATED = ROOT / "docs" / "generated"
SPECS = sorted(p for p in GENERATED.rglob("spec*.json") if json.loads(p.read_text()).get("$schema", "").endswith("vega/v6.json"))


def walk_marks(node):
    for mark in node.get("marks", []):
        yield mark
        yield from walk_marks(mark)


def scales_of(spec):
    out = {}
    for node in [spec, *walk_marks(spec)]:
        for s in node.get("scales", []):
            out[s["name"]] = s
    return out


def raw_values(spec, name):
    """The literal rows a data set starts from (following ``source``), or None if computed."""
    data = {d["name"]: d for d in spec.get("data", [])}
    for node in walk_marks(spec):
        data.update({d["name"]: d for d in node.get("data", [])})
    seen = set()
    while name in data and name not in seen:
        seen.add(name)
        d = data[name]
        if "values" in d:
            return d["values"] if isinstance(d["values"], list) else None
        name = d.get("source")
    return None


def coloured_marks(spec):
    """(mark name, channel, field, scale name, data set) for every mark coloured by a data field."""
    for mark in walk_marks(spec):
        source = mark.get("from", {}).get("data")
        for channel in ("fill", "stroke"):
            enc = mark.get("encode", {}).get("update", {}).get(channel)
            if isinstance(enc, dict) and isinstance(enc.get("field"), str) and enc.get("scale") and source:
                yield mark.get("name", "?"), channel, enc["field"], enc["scale"], source


def uncoloured(spec) -> list[str]:
    """Marks whose colour field takes values that their scale's fixed list lacks."""
    scales = scales_of(spec)
    problems = []
    for mark, channel, field, scale, source in coloured_marks(spec):
        domain = scales.get(scale, {}).get("domain")
        rows = raw_values(spec, source)
        if not isinstance(domain, list) or rows is None or scales[scale].get("type") not in ("ordinal", "point", "band"):
            continue  # a domain computed from the data covers it by construction
        values = {r[field] for r in rows if isinstance(r, dict) and field in r}
        if missing := sorted(map(str, values - set(domain))):
            problems.append(f"{mark}: {channel} {field} values {missing[:4]} are not in scale {scale}'s {domain[:4]}")
    return problems


def test_there_are_charts_to_check():
    assert len(SPECS) >= 20, [str(p) for p in SPECS]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(GENERATED)))
def test_every_coloured_value_is_in_its_scale(path):
    assert uncoloured(json.loads(path.read_text())) == []


def test_a_shared_colour_scale_is_caught():
    """The check itself: a panel's colour field forced onto another panel's list fails it."""
    spec = {"data": [{"name": "source_0", "values": [{"c": "induction"}]}, {"name": "data_0", "source": "source_0"}],
            "scales": [{"name": "color", "type": "ordinal", "domain": ["loss"], "range": ["#000"]}],
            "marks": [{"name": "bars", "type": "rect", "from": {"data": "data_0"},
                       "encode": {"update": {"fill": {"field": "c", "scale": "color"}}}}]}
    assert uncoloured(spec) == ["bars: fill c values ['induction'] are not in scale color's ['loss']"]
