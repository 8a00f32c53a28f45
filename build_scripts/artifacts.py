"""The bottom of the chart pipeline: paths, canonical JSON, hashing, rendering, and chart groups.

Every generated file belongs to a *group*: files built together from the same inputs. A group
module (``build_scripts/*_build.py``) declares its groups with :class:`Group` and imports only this
module, its own pure chart modules and ``attn_jax``'s public API::

    GROUPS = [Group("cost", module=__name__, files=["build_scripts/charts.toml"], build=build)]

    def build(ctx: Context) -> dict[str, bytes]:   # {path relative to the group folder: bytes}
        vega, svg = render(chart)
        ...

and is listed once in ``GROUP_MODULES`` in ``build_scripts/build.py`` (the build order). The
build function gets a :class:`Context`: ``ctx.log(msg)``, ``ctx.cache_dir`` (this group's cache
folder under ``.build-cache/``, for expensive intermediate results: write them with
:func:`write_atomic`, keyed by a hash of what shapes them) and ``ctx.shared(key, fn)`` (one
computation shared by all groups of a build, e.g. the model run of ``build_scripts.encoded``).

A group's inputs are (see :func:`group_inputs`):

- ``code``: the sha256 of every project source file its module imports, directly or through other
  project modules, found by reading the import statements (:func:`code_files`), never listed
  by hand; a change to any helper a group uses makes the group stale;
- ``files``: the sha256 of the data and config files it declares (paths relative to the root);
- ``extra``: whatever else shapes its output (model checksum, library versions), from a cheap
  function that never runs a model.

``build.py`` hashes these to decide what to rebuild; it never imports JAX to do so.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import metadata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
GENERATED_REL = "docs/generated"
CACHE_REL = ".build-cache"  # caches of expensive steps (git-ignored; Zensical owns .cache/), keyed like every other input
PROJECT_PACKAGES = ("attn_jax", "build_scripts")  # whose source files count as a group's code


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj) -> str:
    """Canonical JSON (sorted keys, no spaces, a final newline): identical data, identical bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"


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


def versions(*packages: str) -> dict[str, str]:
    return {p: metadata.version(p) for p in packages}


# --- rendering --------------------------------------------------------------------------------


def stable_svg(vegalite: dict, vega: bool = False) -> str:
    """``vl_convert.vegalite_to_svg`` (``vega_to_svg`` when ``vega``), with its ids (``gradient_2``)
    renumbered from 0 per document.

    vl-convert numbers gradients with a counter that lives as long as the process, so the same chart
    would get other ids after other charts were rendered first (a partial rebuild, a test run).
    """
    import vl_convert as vlc

    svg = vlc.vega_to_svg(vegalite) if vega else vlc.vegalite_to_svg(vegalite)
    mapping: dict[str, str] = {}
    counts: dict[str, int] = {}
    for prefix, number in re.findall(r'id="([A-Za-z]+_)(\d+)"', svg):
        if prefix + number not in mapping:
            mapping[prefix + number] = f"{prefix}{counts.get(prefix, 0)}"
            counts[prefix] = counts.get(prefix, 0) + 1
    return re.sub(r"\b[A-Za-z]+_\d+\b", lambda m: mapping.get(m.group(), m.group()), svg)


def render(chart) -> tuple[dict, str]:
    """An Altair chart (or a Vega-Lite dict) -> (the spec compiled to Vega, the static SVG).

    The site ships Vega only (no Vega-Lite compiler in the page); the SVG is the view for
    readers without JavaScript.
    """
    import vl_convert as vlc

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    return vlc.vegalite_to_vega(spec), stable_svg(spec)


def chart_files(chart, prefix: str = "", narrow=None, narrow_below: int = 0) -> dict[str, bytes]:
    """``{prefix}spec.json`` and ``{prefix}default.svg`` of a chart, ready for a group's output.

    ``narrow``: the same chart laid out for a phone, written as ``{prefix}spec-narrow.json``; the
    page draws it instead where the article column is narrower than ``narrow_below`` px (kept in
    its ``usermeta``, read by ``site_widgets.chart``; the widget: ``docs/assets/js/chart.js``).
    """
    vega, svg = render(chart)
    files = {f"{prefix}spec.json": dumps(vega).encode(), f"{prefix}default.svg": svg.encode()}
    if narrow is not None:
        import vl_convert as vlc

        spec = vlc.vegalite_to_vega(narrow if isinstance(narrow, dict) else narrow.to_dict())
        files[f"{prefix}spec-narrow.json"] = dumps({**spec, "usermeta": {"narrow_below": narrow_below}}).encode()
    return files


# --- groups and their inputs ------------------------------------------------------------------


@dataclass
class Context:
    """What a group's build gets: a logger, its cache folder, and a memo shared by all groups of one
    build (so several groups that need the same model run load and run the model once)."""

    log: Callable[[str], None]
    cache_dir: Path
    root: Path = ROOT
    memo: dict = field(default_factory=dict)

    def shared(self, key: str, compute: Callable[[], object]):
        """``compute()`` once per build for ``key``; later calls (from any group) reuse it."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


@dataclass(frozen=True)
class Group:
    """A set of generated files built together from the same inputs (see the module docstring)."""

    name: str
    module: str  # the declaring module, e.g. "build_scripts.cost_build": its imports are the code inputs
    build: Callable[[Context], dict[str, bytes]]
    files: tuple[str, ...] = ()  # data/config files read, relative to the root
    extra: Callable[[], dict] | None = None  # cheap: checksums and versions only, never a model run

    def __post_init__(self):
        object.__setattr__(self, "files", tuple(self.files))


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of project module ``name`` under ``root`` (a package's ``__init__.py``),
    or None when ``name`` is not a project module."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(path: Path, name: str) -> set[str]:
    """Every module name that ``path`` (module ``name``) imports anywhere (inside functions too),
    with relative imports resolved; ``from pkg import x`` yields both ``pkg`` and ``pkg.x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    # importing a.b.c runs a/__init__.py and a/b/__init__.py first
    for full in list(out):
        parts = full.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return out


def code_files(module: str, root: Path = ROOT) -> list[Path]:
    """The project source files that importing and running ``module`` can execute: the module
    itself and, transitively, every project module it imports. Sorted, relative to nothing."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, root)
        if path is None:
            continue
        seen[name] = path
        todo.extend(_imported_names(path, name) - seen.keys())
    return sorted(set(seen.values()))


def group_inputs(group: Group, root: Path = ROOT) -> dict:
    """Everything that shapes a group's files, as a JSON-able dict (hashed into the manifest)."""
    files = {}
    for rel in group.files:
        path = root / rel
        files[rel] = sha256_bytes(path.read_bytes()) if path.is_file() else "missing"
    return {
        "code": {str(p.relative_to(root)): sha256_bytes(p.read_bytes()) for p in code_files(group.module, root)},
        "files": files,
        "extra": group.extra() if group.extra else {},
    }


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
    (``"q8": "<base64>"``, see ``build_scripts.headview.quantise``) are such rounded numbers too:
    each byte may differ by one step. Anything else (a different head chosen, a changed label) is a
    real change.
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
