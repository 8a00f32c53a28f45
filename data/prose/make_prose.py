"""Make ``article.txt`` (this folder) from the project's own article prose: run by hand, once.

    python data/prose/make_prose.py        # from the repository root; rewrites article.txt

It reads ``docs/rnns-lstms.md`` and then ``docs/attention.md`` and keeps their sentences and
paragraphs: the YAML front matter, headings, shortcodes ``{{ ... }}`` (facts, verdicts, charts,
widgets: their numbers and words come from generated data), HTML blocks (figures, inline SVG),
formulas (``$$ ... $$``, ``$ ... $``), code, tables, images and the reference list are dropped;
Markdown and inline HTML markup (emphasis, links, list markers, admonition headers, indentation)
are removed and their text kept. One paragraph per line, paragraphs separated by a blank line.

The output is committed and frozen: the sink experiment (``build_scripts/groups/sinks/``) reads
``article.txt``, never the article, so editing the article does not change the experiment. Run
this again only to refresh the text on purpose (and rebuild the ``sinks`` group).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("docs/rnns-lstms.md", "docs/attention.md")
OUT = Path(__file__).with_name("article.txt")


def strip(markdown: str) -> list[str]:
    """The paragraphs of one Markdown page, as plain text."""
    text = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.S)  # front matter
    text = re.sub(r"\n## References\n.*", "\n", text, flags=re.S)  # the reference list, to the end
    text = re.sub(r"<(figure|svg|div|table)\b.*?</\1>", "\n\n", text, flags=re.S)  # HTML blocks
    text = re.sub(r"\$\$.*?\$\$", "\n\n", text, flags=re.S)  # display formulas
    text = re.sub(r"```.*?```", "\n\n", text, flags=re.S)  # code blocks
    paragraphs, current = [], []

    def close():
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith(("#", "|", "!!!", "???")):  # blank, heading, table, admonition header
            close()
            continue
        if re.match(r"([-*+]|\d+\.)\s", s):  # a list item starts a paragraph of its own
            close()
            s = re.sub(r"^([-*+]|\d+\.)\s+", "", s)
        current.append(s)
    close()
    return [p for p in (inline(p) for p in paragraphs) if re.search(r"[A-Za-z]{2}", p)]


def inline(p: str) -> str:
    """One paragraph's inline markup removed, its words kept."""
    p = re.sub(r"\{\{.*?\}\}", "", p)  # shortcodes (removed here: one alone on a line ends no paragraph)
    p = re.sub(r"!\[[^\]]*\]\([^)]*\)(\{[^}]*\})?", "", p)  # images with attribute lists
    p = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", p)  # links: their text
    p = re.sub(r"\{ *[:#.][^}]*\}|\{ *[a-z]+=[^}]*\}", "", p)  # attribute lists
    p = re.sub(r"(?<!\w)\$[^$]+\$(?!\w)", "", p)  # inline formulas
    p = re.sub(r"</?[a-zA-Z][^>]*>", "", p)  # inline HTML tags: their text
    p = re.sub(r"`([^`]*)`", r"\1", p)  # inline code
    p = re.sub(r"\*\*([^*]+)\*\*|__([^_]+)__", lambda m: m.group(1) or m.group(2), p)  # strong
    p = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])|(?<!\w)_([^_]+)_(?!\w)", lambda m: m.group(1) or m.group(2), p)
    p = re.sub(r"\(\s*\)|\*\*|\"\"", "", p)  # brackets, emphasis and quotes a shortcode left empty
    p = re.sub(r"[ \t]+", " ", p)
    p = re.sub(r" ([,.;:)])", r"\1", p).replace("( ", "(")
    return p.strip()


def main() -> None:
    paragraphs = [p for source in SOURCES for p in strip((ROOT / source).read_text(encoding="utf-8"))]
    OUT.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(paragraphs)} paragraphs, {sum(len(p.split()) for p in paragraphs)} words")


if __name__ == "__main__":
    main()
