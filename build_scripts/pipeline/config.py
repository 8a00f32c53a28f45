"""The example-sentence config (``build_scripts/sentences.toml``): load and validate.

The file declares the sentences (``[[sentence]]``), the *roles* they play in the article
(``[roles.NAME]``): which sentence is the featured one, which pair shows a word's two senses, and so
on, and the prompts the decoder writes from (``[[prompt]]``: the gallery of "Watch it write"). Python
never names a sentence; a fact that needs a sentence finds it through its role.

Every problem fails the build with one line naming the file, the entry and the fix.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from attn_jax.words import WORD_RE  # the one word rule: the head view's words are these

CONFIG = Path(__file__).resolve().parents[1] / "sentences.toml"
MAX_WORDS = 40  # the head view puts every word in one row; more stops being readable
MAX_TOKENS = 64  # WordPieces incl. [CLS] and [SEP]
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ConfigError(Exception):
    """A problem in the sentence config; the message names file, entry and fix."""


@dataclass(frozen=True)
class Sentence:
    id: str
    text: str
    title: str
    query: str | None = None  # the word selected when the sentence is first shown


@dataclass(frozen=True)
class Prompt:
    """A prompt the decoder continues greedily for ``max_new_tokens`` tokens (or until it ends)."""

    id: str
    text: str
    title: str
    max_new_tokens: int


MAX_NEW_TOKENS = 24  # the gallery's continuations: every step is shipped, so keep them short


# Each role: its keys, their types, what it is for and the facts drawn from it (for error messages).
# "sentence"/"sentences" keys name sentence ids; the word keys must be words of those sentences.
ROLES: dict[str, dict] = {
    "featured": {"keys": {"sentence": str, "query": str, "expect": str},
                 "words": {"query": "sentence", "expect": "sentence"},
                 "facts": "head-view.featured.*, qkv-steps.default.*, the default view of every widget"},
    "senses": {"keys": {"word": str, "sentences": list, "context": list},
               "words": {"word": "sentences", "context": "sentences[i]"},
               "facts": "senses.* (the first sense pair of data/senses/pairs.toml)"},
    "winograd": {"keys": {"sentences": list, "query": str, "candidates": list},
                 "words": {"query": "sentences", "candidates": "sentences"},
                 "facts": "head-view.winograd.*"},
    "qkv-steps": {"keys": {"sentences": list}, "words": {}, "facts": "qkv-steps.* (the step-by-step widget)"},
    "head-grid": {"keys": {"sentence": str}, "words": {}, "facts": "head-grid.* (the all-heads grid)"},
}


@dataclass(frozen=True)
class Config:
    """The validated config: the sentences in file order and each role's settings."""

    sentences: list[Sentence]
    roles: dict[str, dict] = field(default_factory=dict)
    path: Path = CONFIG
    prompts: list[Prompt] = field(default_factory=list)

    def by_id(self, sid: str) -> Sentence:
        return next(s for s in self.sentences if s.id == sid)

    def role_ids(self, role: str) -> list[str]:
        r = self.roles[role]
        return [r["sentence"]] if "sentence" in r else list(r["sentences"])


def read_toml(path: Path) -> dict:
    """A chart group's settings file as a dict; ConfigError names a file that cannot be read. The
    group checks the values itself."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e}); restore it from git") from None


def load_sentences(path: Path = CONFIG) -> list[Sentence]:
    """The validated sentences of the config (see :func:`load_config`)."""
    return load_config(path).sentences


def load_config(path: Path = CONFIG) -> Config:
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
    unknown_top = set(raw) - {"sentence", "roles", "prompt"}
    if unknown_top:
        raise ConfigError(f"{where}: unknown top-level key(s) {sorted(unknown_top)}; "
                          f"only [[sentence]] and [[prompt]] entries and [roles.NAME] tables are allowed")
    out: list[Sentence] = []
    seen: set[str] = set()
    for n, e in enumerate(entries, start=1):
        label = f"{where}: sentence #{n}" + (f" (id {e.get('id')!r})" if isinstance(e, dict) and "id" in e else "")
        out.append(_validate(e, label, seen))
    roles = raw.get("roles", {})
    if not isinstance(roles, dict):
        raise ConfigError(f"{where}: roles must be tables, e.g. [roles.featured]")
    by_id = {s.id: s for s in out}
    for name in ROLES:
        if name not in roles:
            raise ConfigError(f"{where}: [roles.{name}] is missing (it feeds {ROLES[name]['facts']}); add it back")
        _validate_role(name, roles[name], by_id, where)
    if extra := set(roles) - set(ROLES):
        raise ConfigError(f"{where}: unknown role(s) {sorted(extra)}; the roles are {sorted(ROLES)}")
    prompts = raw.get("prompt", [])
    if not isinstance(prompts, list):
        raise ConfigError(f"{where}: prompts are [[prompt]] entries with id, text, title and max_new_tokens")
    return Config(out, {k: dict(v) for k, v in roles.items()}, path,
                  [_validate_prompt(e, f"{where}: prompt #{n}", seen) for n, e in enumerate(prompts, start=1)])


def _validate_prompt(e, label: str, seen: set[str]) -> Prompt:
    """A [[prompt]]: checked as a sentence is (id, text, title; plain text), plus max_new_tokens."""
    if not isinstance(e, dict):
        raise ConfigError(f"{label}: must be a table with id, text, title and max_new_tokens")
    n = e.get("max_new_tokens")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_NEW_TOKENS:
        raise ConfigError(f"{label}: max_new_tokens must be a whole number from 1 to {MAX_NEW_TOKENS}, got {n!r}")
    s = _validate({k: v for k, v in e.items() if k != "max_new_tokens"}, label, seen)
    return Prompt(s.id, s.text, s.title, n)


def _validate_role(name: str, role, by_id: dict[str, Sentence], where: str) -> None:
    spec = ROLES[name]
    label = f"{where}: [roles.{name}]"
    if not isinstance(role, dict):
        raise ConfigError(f"{label} must be a table of {sorted(spec['keys'])}")
    if extra := set(role) - set(spec["keys"]):
        raise ConfigError(f"{label}: unknown key(s) {sorted(extra)}; allowed keys are {sorted(spec['keys'])}")
    for key, kind in spec["keys"].items():
        if key not in role:
            raise ConfigError(f"{label}: missing {key!r}; add it")
        value = role[key]
        if kind is str and not isinstance(value, str) or kind is list and not (
                isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{label}: {key!r} must be " + ("a string" if kind is str else "a list of strings"))
    ids = [role["sentence"]] if "sentence" in role else role["sentences"]
    for sid in ids:
        if sid not in by_id:
            raise ConfigError(f"{label} needs sentence {sid!r} (for {spec['facts']}), which has no [[sentence]] "
                              f"entry; add it back or name another sentence in [roles.{name}]")
    for key, scope in spec["words"].items():
        values = role[key] if isinstance(role[key], list) else [role[key]]
        if scope == "sentences[i]":
            if len(values) != len(ids):
                raise ConfigError(f"{label}: {key!r} needs one word per sentence ({len(ids)})")
            pairs = list(zip(ids, values))
        else:
            pairs = [(sid, v) for sid in ids for v in values]
        for sid, word in pairs:
            words = WORD_RE.findall(by_id[sid].text)
            if word not in words:
                raise ConfigError(f"{label}: {key} {word!r} is not a word of sentence {sid!r}; use one of {words}")


def _validate(e, label: str, seen: set[str]) -> Sentence:
    allowed = {"id", "text", "title", "query"}
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
    if "query" in e and e["query"] not in words:
        raise ConfigError(f"{label}: query {e['query']!r} is not a word of the text; use one of {words}")
    return Sentence(sid, text, title, e.get("query"))


def check_token_counts(sentences: list[Sentence], token_counts: list[int], path: Path = CONFIG) -> None:
    """Raise ConfigError for a sentence with more WordPiece tokens than the widget handles."""
    for n, (s, count) in enumerate(zip(sentences, token_counts), start=1):
        if count > MAX_TOKENS:
            raise ConfigError(
                f"{path}: sentence #{n} (id {s.id!r}): {count} WordPiece tokens, the widget handles at most "
                f"{MAX_TOKENS}; shorten the text"
            )
