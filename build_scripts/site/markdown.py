"""Python-Markdown extension of the site: shortcodes from the generated data, formulas as MathML.

Listed under ``markdown_extensions`` in mkdocs.yml as ``build_scripts.site.markdown``, it runs the
same way under MkDocs and under Zensical (both render each page with Python-Markdown and read that
list). Run either from the repository root (``python -m mkdocs``, ``python -m build_scripts.site.zensical``),
which puts this package on the import path. It needs no JAX: the site builds from committed files.

Shortcodes (in Markdown; see :mod:`build_scripts.site.widgets` for the widgets' HTML):

- ``{{ widget head-view }}``, ``{{ widget qkv-steps }}``, ``{{ widget head-grid }}`` - an interactive
  widget with its text alternative and a static SVG for readers without JavaScript.
- ``{{ chart NAME "caption" }}`` - a precomputed Vega chart from ``generated/NAME/spec.json`` with
  ``generated/NAME/default.svg`` as its no-JavaScript fallback.
- ``{{ fact GROUP.path.to.value }}`` or ``{{ fact GROUP.path :.2f }}`` - a number from
  ``generated/GROUP/facts.json``, so prose and charts never drift apart.
- ``{{ verdict GROUP.path "words if true" "words if false" }}`` - the words of a verdict ("above
  chance", "the most common role") chosen by a boolean fact, so a verdict follows its statistic
  as a number does. A verdict written by hand is an error: the words of :data:`VERDICT_WORDS`
  may appear on a page only inside a verdict's quotes (or a fact's value).

Formulas: pymdownx.arithmatex (generic mode) wraps ``$...$`` and ``$$...$$`` in
``<span|div class="arithmatex">``; a postprocessor replaces each with MathML from latex2mathml, which
every current browser renders natively (no math JavaScript, works offline).

An unknown shortcode, a missing generated file or fact, or a formula that does not convert stops
the build with one line naming the page and the fix (``SiteError``; under MkDocs a ``PluginError``).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from latex2mathml.converter import convert
from markdown import Extension, Markdown
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor

from build_scripts.site.widgets import GENERATED, WIDGETS, chart

SHORTCODE = re.compile(r"\{\{\s*(\w+)\s+([^}]*?)\s*\}\}")
VERDICT_ARGS = re.compile(r'([\w.-]+)\s+"((?:[^"\\]|\\.)*)"\s+"((?:[^"\\]|\\.)*)"')  # \" inside the words
# Words whose truth depends on a statistic: on a page, only inside a {{ verdict }} (see the module doc).
VERDICT_WORDS = re.compile(
    r"\b(above chance|below chance|at chance|includes chance|excludes chance|beats? chance|better than chance|"
    r"most common|no head|all heads of|every head removed|none of the heads|only a minority|"
    r"a minority of|a majority of|the link exists|statistically significant|generali[sz]es)\b", re.I)
MATH_BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.S)
MATH_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)


class SiteError(Exception):
    """A page cannot be built; the message names the page and the fix."""


@dataclass(frozen=True)
class PageContext:
    """What the shortcodes need to know about the page being rendered.

    src_uri: the Markdown file relative to docs_dir (``attention.md``); url: the page's address
    relative to the site root (``attention/``, ``""`` for the home page); docs_dir: absolute path.
    """

    src_uri: str
    url: str
    docs_dir: Path
    error: type[Exception] = SiteError

    @property
    def base(self) -> str:
        """Relative path from the page to the site root (the site may live under a sub-path)."""
        return "../" * self.url.lstrip("/").count("/")

    def fail(self, message: str) -> Exception:
        return self.error(f"{self.src_uri}: {message}")

    def load(self, rel: str) -> dict:
        """``generated/REL`` as JSON; a missing file fails naming the page and `make charts`."""
        stat = self.require(rel).stat()
        return _json(str(self.docs_dir / GENERATED / rel), stat.st_mtime_ns, stat.st_size)

    def require(self, rel: str) -> Path:
        """The path of ``generated/REL``; a missing file fails naming the page and `make charts`."""
        path = self.docs_dir / GENERATED / rel
        if not path.is_file():
            raise self.fail(f"needs {GENERATED}/{rel}, which does not exist; run `make charts`")
        return path


@lru_cache(maxsize=256)
def _json(path: str, mtime_ns: int, size: int) -> dict:
    # keyed on the file's mtime and size: a serve loop reads regenerated files afresh
    return json.loads(Path(path).read_text(encoding="utf-8"))


def page_context(md: Markdown) -> PageContext:
    """The page being rendered, from whichever generator built this Markdown instance.

    MkDocs registers its own ``relpath`` treeprocessor holding the page's ``File`` and the config;
    Zensical registers a ``rendering_context`` preprocessor holding its ``Page`` and the config.
    """
    relpath = md.treeprocessors["relpath"] if "relpath" in md.treeprocessors else None
    if relpath is not None and hasattr(relpath, "file"):
        from mkdocs.exceptions import PluginError  # MkDocs prints it as an aborted build, no traceback

        f = relpath.file
        return PageContext(f.src_uri, f.url, Path(relpath.config["docs_dir"]), PluginError)
    zensical = md.preprocessors["rendering_context"] if "rendering_context" in md.preprocessors else None
    if zensical is not None and hasattr(zensical, "page"):
        page, config = zensical.page, zensical.config
        docs_dir = Path(config.get("root_dir") or ".") / config["docs_dir"]  # root_dir: mkdocs.yml's folder
        return PageContext(page.path, page.url, docs_dir.resolve())
    raise SiteError("build_scripts.site.markdown runs inside MkDocs or Zensical (no page to render here); "
                    "build the site with `make site` or `make site-zensical`")


def fact(ctx: PageContext, ref: str):
    """Look up ``GROUP.path.to.value`` (list indices allowed) in ``generated/GROUP/facts.json``."""
    group, _, path = ref.partition(".")
    value = ctx.load(f"{group}/facts.json")
    for part in path.split(".") if path else []:
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ctx.fail(f"fact {ref!r} not found in {GENERATED}/{group}/facts.json; "
                           f"fix the name or rebuild the charts (`make charts`)") from None
    return value


def verdict(ctx: PageContext, args: str) -> str:
    """``REF "if true" "if false"``: the words the boolean fact ``REF`` chooses."""
    m = VERDICT_ARGS.fullmatch(args.strip())
    if not m:
        raise ctx.fail(f'write {{{{ verdict GROUP.path "words if true" "words if false" }}}}, got {{{{ verdict {args} }}}}')
    ref, if_true, if_false = (g.replace('\\"', '"') for g in m.groups())
    value = fact(ctx, ref)
    if not isinstance(value, bool):
        raise ctx.fail(f"verdict {ref!r} is {value!r}, not true or false; a verdict needs a boolean fact "
                       f"(compute it where its statistic is computed)")
    return if_true if value else if_false


def hand_written_verdict(markdown: str) -> str | None:
    """The first verdict word (:data:`VERDICT_WORDS`) written outside a verdict shortcode, or None."""
    outside = SHORTCODE.sub(" ", markdown)
    m = VERDICT_WORDS.search(outside)
    return m.group(0) if m else None


def expand_shortcodes(markdown: str, ctx: PageContext) -> str:
    """Replace every ``{{ kind args }}`` in the page's Markdown; fail on anything unknown, and on a
    verdict written by hand."""
    if words := hand_written_verdict(markdown):
        raise ctx.fail(f"'{words}' is a verdict written by hand; render it from a boolean fact with "
                       f'{{{{ verdict GROUP.path "{words}" "..." }}}}')

    def expand(m: re.Match) -> str:
        kind, args = m.group(1), m.group(2)
        if kind == "widget":
            if args not in WIDGETS:
                raise ctx.fail(f"unknown widget {args!r}; known: {', '.join(WIDGETS)}")
            return WIDGETS[args](ctx)
        if kind == "chart":
            return chart(ctx, args)
        if kind == "fact":
            line_start = markdown.rfind("\n", 0, m.start()) + 1
            if not markdown[line_start : m.start()].strip() and markdown[m.end() : m.end() + 1] in (".", ")"):
                raise ctx.fail(f"{m.group(0)} starts a line and is followed by '{markdown[m.end()]}', "
                               f"so its number would become a list item; reflow the line")
            ref, _, spec = args.partition(" ")
            value = fact(ctx, ref)
            return format(value, spec.strip().lstrip(":")) if spec.strip() else str(value)
        if kind == "verdict":
            return verdict(ctx, args)
        raise ctx.fail(f"unknown shortcode {{{{ {kind} ... }}}}; use widget, chart, fact or verdict")

    return SHORTCODE.sub(expand, markdown)


def mathml(latex: str, display: str, ctx: PageContext) -> str:
    """One formula (HTML-escaped LaTeX as arithmatex wrote it) as MathML with its LaTeX as alttext."""
    tex = html.unescape(latex).strip()
    try:
        out = convert(tex, display=display)
    except Exception as e:  # latex2mathml raises several exception types for bad input
        raise ctx.fail(f"cannot render formula {tex!r} ({str(e) or type(e).__name__}); fix the LaTeX") from None
    return out.replace("<math ", f'<math alttext="{html.escape(tex)}" ', 1)


def render_math(content: str, ctx: PageContext) -> str:
    content = MATH_BLOCK.sub(lambda m: f'<div class="attn-math">{mathml(m.group(1), "block", ctx)}</div>', content)
    return MATH_INLINE.sub(lambda m: mathml(m.group(1), "inline", ctx), content)


class ShortcodePreprocessor(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return expand_shortcodes("\n".join(lines), page_context(self.md)).split("\n")


class MathPostprocessor(Postprocessor):
    def run(self, text: str) -> str:
        return render_math(text, page_context(self.md))


class SiteExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        # After whitespace normalisation (30), before fenced code (25) and raw HTML blocks (20), so a
        # widget's HTML is handled as any HTML written in the page.
        md.preprocessors.register(ShortcodePreprocessor(md), "attn_shortcodes", 28)
        # After raw HTML is restored (30) and entities unescaped (10): the page's final HTML.
        md.postprocessors.register(MathPostprocessor(md), "attn_mathml", 5)


def makeExtension(**kwargs) -> SiteExtension:
    return SiteExtension(**kwargs)
