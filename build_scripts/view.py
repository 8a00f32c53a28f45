"""Standalone head view: one self-contained HTML file, or a static image, for your own sentences.

    python -m build_scripts.view --text "The cat sat on the mat because it was tired." \\
        [--text "..."] --out view.html
    python -m build_scripts.view --text "..." --png view.png --layer 6 --head 12 --query it
    python -m build_scripts.view --text "..." --out view.html --live   # + view-live/, serve over HTTP

The HTML file carries Vega, the site's head-view module, its styles and every
sentence's data inline: it works from ``file://`` with no network, and in a Jupyter notebook
(``IPython.display.IFrame("view.html", 900, 700)``, or ``HTML`` of an ``<iframe srcdoc=...>``).
With ``--live`` the page also gets the site's "Try your own sentence" control, and a folder
``<stem>-live/`` beside it holds what that control loads: the exported model and its tokenizer
(copied from docs/generated/live/), the Web Worker and the vendored runtime (onnxruntime-web and
tokenizers, with their licences). Browsers forbid a page opened from ``file://`` to read files beside
it, so that page must be served over HTTP (``python -m http.server``); everything else still works
from the file. The PNG is the same Vega spec drawn by vl-convert. Layers and heads are numbered from 1 here,
as everywhere a reader sees them. Problems a user can fix end with status 2 and one line on
stderr, as ``python -m attn_jax dump`` does; output files are written atomically.
"""

from __future__ import annotations

import html
import json
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from attn_jax.errors import ArgumentParser, AttnJaxError, run_command

from .groups.head_view import charts as hv_chart
from .pipeline import payloads as hv
from .pipeline.artifacts import GENERATED_REL, ROOT, dumps, sha256_bytes, write_atomic
from .pipeline.config import Sentence
from .site.widgets import head_view_html, live_control

JS = ROOT / "docs" / "assets" / "js"
VENDOR = ROOT / "docs" / "assets" / "vendor"
LIVE = ROOT / GENERATED_REL / "live"  # the exported model (build_scripts/groups/live)
LIVE_MODEL = ("model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json")
# the runtime folders stay siblings: the worker imports ../tokenizers/ relative to onnxruntime-web/
LIVE_RUNTIME = {"onnxruntime-web": ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm", "LICENSE"),
                "tokenizers": ("tokenizers.min.mjs", "LICENSE")}
CSS = ROOT / "docs" / "assets" / "css" / "site.css"
# Material's colour variables the site's styles use, for a page without Material
THEME = """:root { --md-default-fg-color: #1f2328; --md-default-fg-color--light: #555; --md-default-fg-color--lighter: #aaa;
  --md-default-bg-color: #fff; --md-accent-fg-color: #526cfe; --md-code-font-family: ui-monospace, monospace; }
@media (prefers-color-scheme: dark) { :root { --md-default-fg-color: #e2e4e9; --md-default-fg-color--light: #b0b4bd;
  --md-default-fg-color--lighter: #666; --md-default-bg-color: #1e2129; } }
body { font-family: system-ui, sans-serif; font-size: 20px; color: var(--md-default-fg-color);
  background: var(--md-default-bg-color); max-width: 60rem; margin: 1rem auto; padding: 0 1rem; }
h1 { font-size: 1.1rem; } .attn-source { font-size: .7rem; color: var(--md-default-fg-color--light); }"""


def _check_out(path: Path, suffix: str, flag: str) -> None:
    if path.suffix.lower() != suffix:
        raise AttnJaxError(f"{flag} {path} must end in {suffix}; e.g. {flag} view{suffix}")
    if path.is_dir():
        raise AttnJaxError(f"{flag} {path} is a directory; give a file name such as {path / ('view' + suffix)}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise AttnJaxError(f"cannot write {path}: folder {parent} does not exist; create it or choose another path")


def payloads(texts: list[str], model_dir: Path | None = None) -> list[dict]:
    """Each text through the encoder -> the head view's payload (unquantised), ids ``s1``, ``s2``, ..."""
    from attn_jax import Encoder

    encoder = Encoder.load(model_dir)
    encoder.tokenize(texts)  # every text checked (empty, too long) before any model work
    sentences = [Sentence(f"s{i + 1}", t, t) for i, t in enumerate(texts)]
    return [hv.sentence_payload(s, r) for s, r in zip(sentences, encoder.run(texts))]


def import_map(live: bool = False) -> dict:
    """The page's import map: each widget module it runs, by the bare name the modules import each
    other by ("attn/core.js"), mapped to its source as inline data (a page opened from ``file://``
    may not import files next to it in every browser). The sources are copied byte for byte."""
    import base64

    names = ("core.js", "head-view.js") + (("live.js",) if live else ())
    return {"imports": {f"attn/{name}": "data:text/javascript;base64,"
                        + base64.b64encode((JS / name).read_bytes()).decode("ascii") for name in names}}


def live_folder(out: Path) -> Path:
    """The folder of the live model's files beside the page ``out``: ``view.html`` -> ``view-live/``."""
    return out.with_name(f"{out.stem}-live")


def _live_sources() -> dict[str, Path]:
    """Relative path in the live folder -> source file; fails naming the fix when one is missing."""
    files = {name: LIVE / name for name in LIVE_MODEL} | {"live-worker.js": JS / "live-worker.js"}
    files |= {f"{d}/{name}": VENDOR / d / name for d, names in LIVE_RUNTIME.items() for name in names}
    missing = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise AttnJaxError(f"--live needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} missing; "
                           f"build the live model with `make charts` (or drop --live)")
    return files


def write_live_folder(folder: Path, files: dict[str, Path]) -> None:
    """Copy ``files`` (from :func:`_live_sources`) byte for byte into ``folder``, replacing it whole:
    they go into a temporary sibling renamed into place, so a failure leaves the old folder (or none)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    old = None
    try:
        for rel, src in files.items():
            dst = tmp / rel
            if not dst.parent.is_dir():
                dst.parent.mkdir(parents=True)
                dst.parent.chmod(0o755)
            shutil.copyfile(src, dst)
            dst.chmod(0o644)
        tmp.chmod(0o755)
        if folder.is_dir() and not folder.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            folder.rename(old / folder.name)
        tmp.rename(folder)
    except BaseException:
        if old is not None and not folder.exists():
            (old / folder.name).rename(folder)  # put the previous folder back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def standalone_html(items: list[dict], layer: int, head: int, title: str = "Attention head view",
                    live: str | None = None) -> str:
    """The self-contained page for payloads ``items`` (first sentence shown; 0-based layer, head).

    ``live``: the name of the folder beside the page written by :func:`write_live_folder` (e.g.
    ``view-live``); adds "Try your own sentence", whose code is inlined like the widget's."""
    first = items[0]
    index = {
        "sentences": [{"id": p["id"], "title": p["title"], "text": p["text"]} for p in items],
        "default": {"sentence": first["id"], "layer": layer, "head": head, "multi_heads": hv.default_heads(first, layer)},
        "layers": first["layers"], "heads": first["heads"], "palette": hv.PALETTE,
    }
    level = first["word"]
    spec = hv_chart.head_view_spec(hv_chart.token_rows(level), hv_chart.layer_rows(level["attention"], layer),
                             query=first["query"], heads=[head])
    data = {"index.json": index, "spec.json": spec} | {f"{p['id']}.json": hv.shipped_payload(p) for p in items}
    # an absolute address of its own: the data never come from a file next to the page, and it
    # resolves the same under file://, http:// and in an iframe's srcdoc (about:srcdoc)
    live_args = {}
    if live:  # addresses relative to the page: the folder beside it
        folder = quote(live) + "/"
        live_args = {"live": (folder, live_control(json.loads((LIVE / "model.json").read_text(encoding="utf-8")))),
                     "live_code": (f"{folder}onnxruntime-web/", f"{folder}live-worker.js")}
    widget = head_view_html(index, "Loading…", "attn-export:/data/", **live_args)
    # ids of this export's own (a notebook may show several): a hash of its data
    uid = "attn-" + sha256_bytes(dumps(data).encode())[:12]
    widget = widget.replace('<div class="attn-widget', f'<div id="{uid}" class="attn-widget', 1)
    # JSON inside <script type="application/json">: "</" must not end the element
    inline = lambda obj: dumps(obj).replace("</", "<\\/")  # noqa: E731
    boot = """
import * as core from "attn/core.js";
import { mount } from "attn/head-view.js";
const el = document.getElementById("@@UID@@");
const data = JSON.parse(document.getElementById("@@UID@@-data").textContent);
const base = new URL(el.dataset.src);
for (const [name, value] of Object.entries(data)) core.preload(new URL(name, base).href, value);
try { await mount(el); } catch (err) { core.fail(el, err); }
"""
    vendor = f"<script>{(VENDOR / 'vega' / 'vega.min.js').read_text(encoding='utf-8')}</script>"
    live_note = "" if not live else (
        f" “Try your own sentence” loads the exported model, its tokenizer and the runtime (onnxruntime-web, MIT; "
        f"tokenizers, Apache-2.0; licences inside) from the folder {html.escape(live)}/ beside this file, so the "
        f"page must be served over HTTP with that folder next to it (e.g. <code>python -m http.server</code>).")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{THEME}
{CSS.read_text(encoding="utf-8")}</style>
{vendor}
<script type="importmap">{inline(import_map(bool(live)))}</script>
</head><body>
<h1>{html.escape(title)}</h1>
{widget}
<p class="attn-source">Attention weights of all-MiniLM-L6-v2 (6 layers × 12 heads), computed with attn_jax; weights stored
to 8 bits (within {hv.Q8_MAX_ERROR:.4f}). Vega is included under its BSD-3-Clause licence.{live_note}</p>
<script type="application/json" id="{uid}-data">{inline(data)}</script>
<script type="module">{boot.replace("@@UID@@", uid)}</script>
</body></html>
"""


def _pick(items: list[dict], layer: int | None, head: int | None, query: str | None) -> tuple[int, int, int]:
    """0-based layer, head and query index (in the first sentence's words) from the 1-based options."""
    first = items[0]
    layers, heads = first["layers"], first["heads"]
    if layer is not None and not 1 <= layer <= layers:
        raise AttnJaxError(f"--layer {layer} is out of range; the model has layers 1 to {layers}")
    if head is not None and not 1 <= head <= heads:
        raise AttnJaxError(f"--head {head} is out of range; the model has heads 1 to {heads}")
    labels = first["word"]["labels"]
    q = first["query"]
    if query is not None:
        if query not in labels:
            raise AttnJaxError(f"--query {query!r} is not a word of the first text; its words are {' '.join(labels)}")
        q = labels.index(query)
    return (layers - 1 if layer is None else layer - 1), (0 if head is None else head - 1), q


def png(item: dict, layer: int, head: int, query: int, scale: float = 2.0) -> bytes:
    """The head view of one sentence, layer, head and query word as a PNG (vl-convert)."""
    import vl_convert as vlc

    level = item["word"]
    spec = hv_chart.head_view_spec(hv_chart.token_rows(level), hv_chart.layer_rows(level["attention"], layer), query=query,
                             heads=[head], title=f"layer {layer + 1}, head {head + 1}")
    spec["background"] = "white"
    spec["title"] = {"text": f"layer {layer + 1}, head {head + 1}, query '{level['labels'][query]}'", "anchor": "start"}
    return vlc.vega_to_png(spec, scale=scale)


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m build_scripts.view", description=__doc__.split("\n\n")[0])
    p.add_argument("--text", action="append", required=True, help="a sentence (repeat for several)")
    p.add_argument("--out", type=Path, help="write one self-contained HTML file, e.g. view.html")
    p.add_argument("--png", type=Path, help="write a static image of the first text, e.g. view.png")
    p.add_argument("--layer", type=int, help="layer, 1-based (default: the last)")
    p.add_argument("--head", type=int, help="head, 1-based (default: 1)")
    p.add_argument("--query", help="query word of the first text (default: its first word)")
    p.add_argument("--title", default="Attention head view", help="page title of the HTML file")
    p.add_argument("--live", action="store_true",
                   help="copy the live model, tokenizer and runtime next to the HTML file (folder <stem>-live/) so "
                        "readers can type their own sentences; the page must then be served over HTTP, "
                        "e.g. `python -m http.server`")
    p.add_argument("--model-dir", type=Path, default=None, help="model folder (default: the installed model package)")
    args = p.parse_args(argv)

    def work():
        if not args.out and not args.png:
            raise AttnJaxError("nothing to write; give --out view.html and/or --png view.png")
        if args.out:
            _check_out(args.out, ".html", "--out")
        if args.png:
            _check_out(args.png, ".png", "--png")
        if args.live and not args.out:
            raise AttnJaxError("--live adds the live control to the HTML file; give --out view.html too")
        live_files = _live_sources() if args.live else None  # before any model work
        items = payloads(args.text, args.model_dir)
        layer, head, query = _pick(items, args.layer, args.head, args.query)
        if args.out:
            items[0]["query"] = query
            folder = live_folder(args.out) if live_files else None
            page = standalone_html(items, layer, head, args.title, live=folder.name if folder else None).encode()
            if folder:
                write_live_folder(folder, live_files)
                print(f"wrote {folder}/ ({sum(p.stat().st_size for p in folder.rglob('*') if p.is_file()) / 1e6:.1f} MB; "
                      f"serve its parent folder over HTTP, e.g. python -m http.server)", file=sys.stderr)
            write_atomic(args.out, page)
            args.out.chmod(0o644)
            print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB, {len(items)} text(s))", file=sys.stderr)
        if args.png:
            write_atomic(args.png, png(items[0], layer, head, query))
            args.png.chmod(0o644)
            print(f"wrote {args.png}", file=sys.stderr)

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
