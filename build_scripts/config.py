"""The example-sentence config (``build_scripts/sentences.toml``): load and validate.

Every problem fails the build with one line naming the file, the entry and the fix.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CONFIG = Path(__file__).with_name("sentences.toml")
MAX_WORDS = 40  # the head view puts every word in one row; more stops being readable
MAX_TOKENS = 64  # WordPieces incl. [CLS] and [SEP]
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


class ConfigError(Exception):
    """A problem in the sentence config; the message names file, entry and fix."""


@dataclass(frozen=True)
class Sentence:
    id: str
    text: str
    title: str
    query: str | None = None
    expect: str | None = None


def load_sentences(path: Path = CONFIG) -> list[Sentence]:
    """Parse and validate the config; raise ConfigError with a one-line message on any problem."""
    path = Path(path)
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found; create it with at least one [[sentence]] entry") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML ({e}); fix the syntax") from None
    entries = raw.get("sentence")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: no [[sentence]] entries; add at least one with id, text and title")
    unknown_top = set(raw) - {"sentence"}
    if unknown_top:
        raise ConfigError(f"{where}: unknown top-level key(s) {sorted(unknown_top)}; only [[sentence]] entries are allowed")
    out: list[Sentence] = []
    seen: set[str] = set()
    for n, e in enumerate(entries, start=1):
        label = f"{where}: sentence #{n}" + (f" (id {e.get('id')!r})" if isinstance(e, dict) and "id" in e else "")
        out.append(_validate(e, label, seen))
    return out


def _validate(e, label: str, seen: set[str]) -> Sentence:
    allowed = {"id", "text", "title", "query", "expect"}
    if not isinstance(e, dict):
        raise ConfigError(f"{label}: must be a table with id, text and title")
    if extra := set(e) - allowed:
        raise ConfigError(f"{label}: unknown key(s) {sorted(extra)}; allowed keys are {sorted(allowed)}")
    for key in ("id", "text", "title"):
        if key not in e:
            raise ConfigError(f"{label}: missing {key!r}; add {key} = \"...\"")
    for key in allowed & set(e):
        if not isinstance(e[key], str):
            raise ConfigError(f"{label}: {key!r} must be a string in quotes")
    sid, text, title = e["id"], e["text"].strip(), e["title"].strip()
    if not ID_RE.match(sid):
        raise ConfigError(f"{label}: id {sid!r} must be lower-case letters, digits and dashes, e.g. \"cat-mat\"")
    if sid in seen:
        raise ConfigError(f"{label}: id {sid!r} is used twice; give each sentence its own id")
    seen.add(sid)
    if not text:
        raise ConfigError(f"{label}: text is empty; write the sentence to show")
    if not title:
        raise ConfigError(f"{label}: title is empty; write what the sentence selector should show")
    if re.search(r"<[a-zA-Z/!]", text) or html.unescape(text) != text:
        raise ConfigError(f"{label}: text contains HTML markup or entities; write plain text (the page escapes it)")
    words = WORD_RE.findall(text)
    if len(words) > MAX_WORDS:
        raise ConfigError(f"{label}: text has {len(words)} words; the widget shows at most {MAX_WORDS}, shorten it")
    for key in ("query", "expect"):
        if key in e and e[key] not in words:
            raise ConfigError(f"{label}: {key} {e[key]!r} is not a word of the text; use one of {words}")
    return Sentence(sid, text, title, e.get("query"), e.get("expect"))


def check_token_counts(sentences: list[Sentence], token_counts: list[int], path: Path = CONFIG) -> None:
    """Raise ConfigError for a sentence with more WordPiece tokens than the widget handles."""
    for n, (s, count) in enumerate(zip(sentences, token_counts), start=1):
        if count > MAX_TOKENS:
            raise ConfigError(
                f"{path}: sentence #{n} (id {s.id!r}): {count} WordPiece tokens, the widget handles at most "
                f"{MAX_TOKENS}; shorten the text"
            )
