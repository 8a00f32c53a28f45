"""MkDocs hook: render the article's LaTeX as MathML at build time (no JavaScript, works offline).

pymdownx.arithmatex (generic mode) wraps ``$...$`` and ``$$...$$`` in ``<span|div class="arithmatex">``
with ``\\(...\\)`` / ``\\[...\\]`` inside; this hook replaces each with MathML from latex2mathml,
which every current browser renders natively. A formula that fails to convert stops the build.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.S)
INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)


def _mathml(latex: str, display: str, page) -> str:
    tex = html.unescape(latex).strip()
    try:
        out = convert(tex, display=display)
    except Exception as e:  # latex2mathml raises several exception types for bad input
        raise PluginError(f"{page.file.src_uri}: cannot render formula {tex!r}: {e}") from None
    return out.replace("<math ", f'<math alttext="{html.escape(tex)}" ', 1)


def on_page_content(content: str, page, config, files) -> str:
    content = BLOCK.sub(lambda m: f'<div class="attn-math">{_mathml(m.group(1), "block", page)}</div>', content)
    return INLINE.sub(lambda m: _mathml(m.group(1), "inline", page), content)
