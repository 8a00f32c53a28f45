"""The sentence config: every malformed entry fails with one line naming file, entry and fix."""

import pytest

from build_scripts.pipeline.config import CONFIG, ConfigError, check_token_counts, load_config, load_sentences


def write(tmp_path, body):
    path = tmp_path / "sentences.toml"
    path.write_text(body)
    return path


GOOD = '[[sentence]]\nid = "a"\ntext = "The cat sat."\ntitle = "A"\n'
B = '[[sentence]]\nid = "b"\ntext = "The dog ran to the cat."\ntitle = "B"\n'
ROLES = """
[roles.featured]
sentence = "a"
query = "cat"
expect = "The"
[roles.senses]
word = "cat"
sentences = ["a", "b"]
context = ["sat", "dog"]
[roles.winograd]
sentences = ["a", "b"]
query = "cat"
candidates = ["The", "cat"]
[roles.qkv-steps]
sentences = ["a"]
[roles.head-grid]
sentence = "b"
"""


def test_committed_config_is_valid():
    sentences = load_sentences(CONFIG)
    ids = [s.id for s in sentences]
    assert sentences[0].text == "The cat sat on the mat because it was tired."
    assert {"bank-river", "bank-money", "animal-tired", "animal-wide"} <= set(ids)


def test_good_minimal(tmp_path):
    config = load_config(write(tmp_path, GOOD + B + ROLES))
    s = config.sentences[0]
    assert (s.id, s.text, s.title, s.query) == ("a", "The cat sat.", "A", None)
    assert config.role_ids("senses") == ["a", "b"] and config.role_ids("head-grid") == ["b"]


@pytest.mark.parametrize("edit,message", [
    (lambda r: r.replace('[roles.head-grid]\nsentence = "b"\n', ""), "[roles.head-grid] is missing"),
    (lambda r: r.replace('sentence = "b"', 'sentence = "zz"'), "needs sentence 'zz' (for head-grid.*"),
    (lambda r: r.replace('context = ["sat", "dog"]', 'context = ["sat"]'), "'context' needs one word per sentence"),
    (lambda r: r.replace('context = ["sat", "dog"]', 'context = ["dog", "sat"]'), "context 'dog' is not a word of sentence 'a'"),
    (lambda r: r.replace('expect = "The"', 'expect = 3'), "'expect' must be a string"),
    (lambda r: r + '[roles.extra]\nsentence = "a"\n', "unknown role(s) ['extra']"),
    (lambda r: r.replace('query = "cat"\nexpect', 'query = "cat"\ncolour = "red"\nexpect'), "unknown key(s) ['colour']"),
])
def test_bad_roles(tmp_path, edit, message):
    path = write(tmp_path, GOOD + B + edit(ROLES))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "body,message",
    [
        ("[[sentence]\nid=1", "not valid TOML"),
        ("title = 'x'\n", "no [[sentence]] entries"),
        ('[[sentence]]\nid = "a"\ntitle = "A"\n', "missing 'text'"),
        ('[[sentence]]\nid = "a"\ntext = "   "\ntitle = "A"\n', "text is empty"),
        ('[[sentence]]\nid = "A b"\ntext = "x"\ntitle = "A"\n', "lower-case letters"),
        (GOOD + GOOD, "used twice"),
        ('[[sentence]]\nid = "a"\ntext = "The <b>cat</b>."\ntitle = "A"\n', "HTML"),
        ('[[sentence]]\nid = "a"\ntext = "Fish &amp; chips."\ntitle = "A"\n', "HTML"),
        ('[[sentence]]\nid = "a"\ntext = "' + "word " * 41 + '"\ntitle = "A"\n', "41 words"),
        ('[[sentence]]\nid = "a"\ntext = "The cat."\ntitle = "A"\nquery = "dog"\n', "query 'dog' is not a word"),
        ('[[sentence]]\nid = "a"\ntext = "The cat."\ntitle = "A"\ncolour = "red"\n', "unknown key(s) ['colour']"),
        ('[[sentence]]\nid = "a"\ntext = 3\ntitle = "A"\n', "must be a string"),
    ],
)
def test_bad_entries(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_sentences(path)
    text = str(err.value)
    assert message in text
    assert str(path) in text and "\n" not in text


def test_entry_is_named(tmp_path):
    path = write(tmp_path, GOOD + '[[sentence]]\nid = "b"\ntext = ""\ntitle = "B"\n')
    with pytest.raises(ConfigError, match=r"sentence #2 \(id 'b'\): text is empty"):
        load_sentences(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_sentences(tmp_path / "nope.toml")


def test_too_many_tokens(tmp_path):
    sentences = load_sentences(write(tmp_path, GOOD + B + ROLES))
    with pytest.raises(ConfigError, match=r"sentence #1 \(id 'a'\): 70 WordPiece tokens.*at most 64"):
        check_token_counts(sentences, [70])
