"""Standalone head view: one self-contained HTML file, or a static image, for your own sentences.

    python -m build_scripts.view --text "The cat sat on the mat because it was tired." \\
        [--text "..."] --out view.html
    python -m build_scripts.view --text "..." --png view.png --layer 6 --head 12 --query it

The HTML file carries Vega, the site's head-view module, its styles and every
sentence's data inline: it works from ``file://`` with no network, and in a Jupyter notebook
(``IPython.display.IFrame("view.html", 900, 700)``, or ``HTML`` of an ``<iframe srcdoc=...>``).
The PNG is the same Vega spec drawn by vl-convert. Layers and heads are numbered from 1 here,
as everywhere a reader sees them. Problems a user can fix end with status 2 and one line on
stderr, as ``python -m attn_jax dump`` does; output files are written atomically.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

from attn_jax.errors import AttnJaxError

from . import headview as hv
from .artifacts import ROOT, dumps, sha256_bytes, write_atomic
from .config import Sentence
from .site_widgets import head_view_html

JS = ROOT / "docs" / "assets" / "js"
VENDOR = ROOT / "docs" / "assets" / "vendor"
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


def _module_sources() -> dict[str, str]:
    """The widget's ES modules by file name, imports pointing at placeholders the page replaces
    with blob: URLs (a file:// page cannot import files next to it in every browser)."""
    out = {}
    for name in ("core.js", "head-view.js"):
        src = (JS / name).read_text(encoding="utf-8")
        out[name] = re.sub(r'from "\./([a-z-]+\.js)"', r'from "@@\1@@"', src)
    return out


def standalone_html(items: list[dict], layer: int, head: int, title: str = "Attention head view") -> str:
    """The self-contained page for payloads ``items`` (first sentence shown; 0-based layer, head)."""
    first = items[0]
    index = {
        "sentences": [{"id": p["id"], "title": p["title"], "text": p["text"]} for p in items],
        "default": {"sentence": first["id"], "layer": layer, "head": head, "multi_heads": hv.default_heads(first, layer)},
        "layers": first["layers"], "heads": first["heads"], "palette": hv.PALETTE,
    }
    level = first["word"]
    spec = hv.head_view_spec(hv.token_rows(level), hv.layer_rows(level["attention"], layer),
                             query=first["query"], heads=[head])
    data = {"index.json": index, "spec.json": spec} | {f"{p['id']}.json": hv.shipped_payload(p) for p in items}
    # an absolute address of its own: the data never come from a file next to the page, and it
    # resolves the same under file://, http:// and in an iframe's srcdoc (about:srcdoc)
    widget = head_view_html(index, "Loading…", "attn-export:/data/")
    # ids of this export's own (a notebook may show several): a hash of its data
    uid = "attn-" + sha256_bytes(dumps(data).encode())[:12]
    widget = widget.replace('<div class="attn-widget', f'<div id="{uid}" class="attn-widget', 1)
    # JSON inside <script type="application/json">: "</" must not end the element
    inline = lambda obj: dumps(obj).replace("</", "<\\/")  # noqa: E731
    modules = _module_sources()
    boot = """
const data = JSON.parse(document.getElementById("@@UID@@-data").textContent);
const sources = JSON.parse(document.getElementById("@@UID@@-modules").textContent);
const urls = {};
const load = (name) => {  // each module as a blob: URL, its imports pointing at the others
  if (!urls[name]) {
    const code = sources[name].replace(/@@([a-z-]+\\.js)@@/g, (_, dep) => load(dep));
    urls[name] = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  }
  return urls[name];
};
const el = document.getElementById("@@UID@@");
const core = await import(load("core.js"));
const base = new URL(el.dataset.src);
for (const [name, value] of Object.entries(data)) core.preload(new URL(name, base).href, value);
const widget = await import(load("head-view.js"));
try { await widget.mount(el); } catch (err) { core.fail(el, err); }
"""
    vendor = f"<script>{(VENDOR / 'vega' / 'vega.min.js').read_text(encoding='utf-8')}</script>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{THEME}
{CSS.read_text(encoding="utf-8")}</style>
{vendor}
</head><body>
<h1>{html.escape(title)}</h1>
{widget}
<p class="attn-source">Attention weights of all-MiniLM-L6-v2 (6 layers × 12 heads), computed with attn_jax; weights stored
to 8 bits (within {hv.Q8_MAX_ERROR:.4f}). Vega is included under its BSD-3-Clause licence.</p>
<script type="application/json" id="{uid}-data">{inline(data)}</script>
<script type="application/json" id="{uid}-modules">{inline(modules)}</script>
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
    spec = hv.head_view_spec(hv.token_rows(level), hv.layer_rows(level["attention"], layer), query=query,
                             heads=[head], title=f"layer {layer + 1}, head {head + 1}")
    spec["background"] = "white"
    spec["title"] = {"text": f"layer {layer + 1}, head {head + 1}, query '{level['labels'][query]}'", "anchor": "start"}
    return vlc.vega_to_png(spec, scale=scale)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line with the fix, as for every other bad input
        self.exit(2, f"error: {message}; see `python -m build_scripts.view --help`\n")


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="python -m build_scripts.view", description=__doc__.split("\n\n")[0])
    p.add_argument("--text", action="append", required=True, help="a sentence (repeat for several)")
    p.add_argument("--out", type=Path, help="write one self-contained HTML file, e.g. view.html")
    p.add_argument("--png", type=Path, help="write a static image of the first text, e.g. view.png")
    p.add_argument("--layer", type=int, help="layer, 1-based (default: the last)")
    p.add_argument("--head", type=int, help="head, 1-based (default: 1)")
    p.add_argument("--query", help="query word of the first text (default: its first word)")
    p.add_argument("--title", default="Attention head view", help="page title of the HTML file")
    p.add_argument("--model-dir", type=Path, default=None, help="model folder (default: the installed model package)")
    args = p.parse_args(argv)
    try:
        if not args.out and not args.png:
            raise AttnJaxError("nothing to write; give --out view.html and/or --png view.png")
        if args.out:
            _check_out(args.out, ".html", "--out")
        if args.png:
            _check_out(args.png, ".png", "--png")
        items = payloads(args.text, args.model_dir)
        layer, head, query = _pick(items, args.layer, args.head, args.query)
        if args.out:
            items[0]["query"] = query
            write_atomic(args.out, standalone_html(items, layer, head, args.title).encode())
            args.out.chmod(0o644)
            print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB, {len(items)} text(s))", file=sys.stderr)
        if args.png:
            write_atomic(args.png, png(items[0], layer, head, query))
            args.png.chmod(0o644)
            print(f"wrote {args.png}", file=sys.stderr)
    except AttnJaxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write: {e.strerror} ({e.filename}); choose another path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
