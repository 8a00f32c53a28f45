"""Generated files: paths, canonical JSON, rounding, atomic writes, pinned versions, and the rule
that tells a rebuild on another CPU from a real change.

The bottom layer of the pipeline: it imports nothing of the project and no third-party package,
so the stale check (``python -m build_scripts --check``) runs with the standard library alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import tomllib
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED_REL = "docs/generated"
CACHE_REL = ".build-cache"  # caches of expensive steps (git-ignored; Zensical owns .cache/), keyed like every other input


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj) -> str:
    """Canonical JSON (sorted keys, no spaces, a final newline): identical data, identical bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"


def rounded(obj, digits: int):
    """``obj`` as plain JSON values with every float rounded to ``digits`` decimals: the one rule
    for numbers written to generated files.

    Arrays and NumPy scalars become lists and Python numbers (anything with ``tolist``), tuples
    become lists, dict keys strings; ``-0.0`` becomes ``0.0`` (a sign a reader should not see, and
    that one CPU may produce where another does not) and NaN becomes None (JSON has no NaN).
    """
    if isinstance(obj, dict):
        return {str(k): rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return rounded(obj.tolist(), digits)  # NumPy arrays and scalars
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return None if math.isnan(obj) else round(obj, digits) + 0.0  # + 0.0: no "-0.0"
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a reader (or a crash)
    never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- library versions: the pins of pyproject.toml ------------------------------------------------


@lru_cache(maxsize=1)
def pins(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """Every exact pin (``name==version``) of pyproject.toml's dependencies and extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    out = {}
    for line in lines:
        if m := re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;]+).*", line):
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def versions(*packages: str) -> dict[str, str]:
    """The versions of ``packages`` that shape a group's output, as pinned in pyproject.toml.

    Read from the pins, not from what is installed, so the stale check needs none of them; a build
    first checks that what is installed is what is pinned (:func:`installed_mismatches`).
    """
    table = pins()
    missing = [p for p in packages if p not in table]
    if missing:
        raise KeyError(f"{missing} have no exact pin (name==version) in pyproject.toml; pin them there")
    return {p: table[p] for p in packages}


def installed_mismatches(wanted: dict[str, str]) -> list[str]:
    """``"name: installed X, pinned Y"`` for each package of ``wanted`` installed at another version."""
    out = []
    for name, pin in wanted.items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "none"
        if have != pin:
            out.append(f"{name}: installed {have}, pinned {pin}")
    return out


# --- comparing a rebuild with the committed files ----------------------------------------------

_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")


def equivalent(old: bytes, new: bytes) -> bool:
    """True when two generated files differ at most in the last written digit of decimal numbers.

    Float results differ in their last bits from one CPU to another (other SIMD widths, other
    summation orders in BLAS and XLA), and a value written with 3 decimals can then round to the
    neighbouring digit: 0.1235 -> 0.123 here, 0.124 there. Such files are the same result. So: the
    text between numbers must be identical, integers (indices, counts, ids) must be identical, and
    each decimal number may differ from its counterpart by one unit of the coarser of the two last
    written digits. The channels of an SVG colour ``rgb(r, g, b)`` are such rounded numbers too
    (a colour scale applied to a weight), so they may differ by one. Weights quantised to 8 bits
    (``"q8": "<base64>"``, see ``build_scripts.pipeline.payloads.quantise``) are such rounded numbers
    too: each byte may differ by one step. Anything else (a different head chosen, a changed label)
    is a real change.
    """
    if old == new:
        return True
    if _Q8.search(old) and _Q8.search(new):
        return _equivalent_q8(old, new)
    try:
        a, b = _NUMBER.split(old.decode("utf-8")), _NUMBER.split(new.decode("utf-8"))
    except UnicodeDecodeError:
        return False
    if len(a) != len(b):
        return False
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        if i % 2 == 0:  # text between numbers
            return False
        if not _close(x, y, _in_rgb(a, i)):
            return False
    return True


_Q8 = re.compile(rb'"q8":"([A-Za-z0-9+/=]*)"')


def _equivalent_q8(old: bytes, new: bytes) -> bool:
    """:func:`equivalent` for files holding 8-bit weights: the rest as usual, each byte within one."""
    import base64

    a, b = _Q8.split(old), _Q8.split(new)  # text, base64, text, base64, ..., text
    if len(a) != len(b) or not equivalent(b"\0".join(a[0::2]), b"\0".join(b[0::2])):
        return False
    for x, y in zip(a[1::2], b[1::2]):
        bx, by = base64.b64decode(x), base64.b64decode(y)
        if len(bx) != len(by) or any(abs(p - q) > 1 for p, q in zip(bx, by)):
            return False
    return True


def _in_rgb(parts: list[str], i: int) -> bool:
    """Whether number ``parts[i]`` is a channel of ``rgb(r, g, b)`` (text parts sit at even indices)."""
    j = i - 1
    for _ in range(2):
        if parts[j] != ", ":
            break
        j -= 2
    return j >= 0 and parts[j].endswith("rgb(")


def _close(x: str, y: str, channel: bool = False) -> bool:
    if not any(c in s for s in (x, y) for c in ".eE"):
        return channel and abs(int(x) - int(y)) <= 1  # integers are exact, colour channels within one
    try:
        dx, dy = Decimal(x), Decimal(y)
    except InvalidOperation:
        return False
    unit = Decimal(1).scaleb(max(dx.as_tuple().exponent, dy.as_tuple().exponent))
    return abs(dx - dy) <= unit
