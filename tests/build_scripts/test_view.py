"""The standalone export (``python -m build_scripts.view``): one-line errors like ``dump``, a
self-contained HTML file (no outside URL, the widget's data inline), a PNG. The page is opened
from file:// in a real browser in tests/browser/test_gallery_export.py."""

import base64
import json
import re

import numpy as np
import pytest

from build_scripts.pipeline import payloads as hv
from build_scripts import view

CAT = "The cat sat on the mat because it was tired."


def error_line(capsys, *args):
    assert view.main(list(args)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("args,pattern", [
    (["--text", CAT], "nothing to write"),
    (["--text", CAT, "--out", "x.htm"], "must end in .html"),
    (["--text", CAT, "--png", "x.jpg"], "must end in .png"),
    (["--text", CAT, "--out", "no/such/folder/x.html"], "does not exist"),
    (["--text", "  ", "--out", "x.html"], "text 0 is empty"),
    (["--text", "word " * 600, "--out", "x.html"], "at most 512"),
    (["--text", CAT, "--png", "x.png", "--layer", "7"], "layers 1 to 6"),
    (["--text", CAT, "--png", "x.png", "--head", "0"], "heads 1 to 12"),
    (["--text", CAT, "--png", "x.png", "--query", "dog"], "not a word of the first text"),
])
def test_bad_input_is_one_line(capsys, tmp_path, monkeypatch, args, pattern):
    monkeypatch.chdir(tmp_path)
    assert re.search(pattern, error_line(capsys, *args))
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_missing_text_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        view.main(["--out", "x.html"])
    assert e.value.code == 2 and "--text" in capsys.readouterr().err


def test_html_is_self_contained_with_the_weights_inline(tmp_path, encoder):
    out = tmp_path / "v.html"
    assert view.main(["--text", CAT, "--text", "Hi there.", "--out", str(out), "--layer", "6", "--head", "12"]) == 0
    page = out.read_text()
    # no element that makes the browser fetch a file (the browser test also blocks every request)
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert not re.findall(r'(?<![\w-])(?:src|href)=', markup)
    assert "<script src" not in page and "<link" not in page
    data = json.loads(re.search(r'id="attn-[0-9a-f]{12}-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    assert set(data) == {"index.json", "spec.json", "s1.json", "s2.json"}
    assert data["index.json"]["default"] | {"multi_heads": None} == {"sentence": "s1", "layer": 5, "head": 11, "multi_heads": None}
    [r] = encoder.run([CAT])
    shipped = hv.dequantise(data["s1.json"]["token"]["attention"] if data["s1.json"]["token"] else data["s1.json"]["word"]["attention"])
    assert np.abs(shipped - r.attentions).max() <= hv.Q8_MAX_ERROR + 1e-3  # every word is one token here
    assert out.stat().st_size < 1_000_000


def test_png(tmp_path):
    out = tmp_path / "v.png"
    assert view.main(["--text", CAT, "--png", str(out), "--layer", "6", "--head", "12", "--query", "it"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_live_copies_the_model_and_runtime_beside_the_page(tmp_path):
    out = tmp_path / "view.html"
    assert view.main(["--text", CAT, "--out", str(out), "--live"]) == 0
    docs = view.ROOT / "docs"
    want = {name: (docs / "generated" / "live" / name).read_bytes()
            for name in ("model.onnx", "model.json", "tokenizer.json", "tokenizer_config.json")}
    want["live-worker.js"] = (docs / "assets" / "js" / "live-worker.js").read_bytes()
    for d in ("onnxruntime-web", "tokenizers"):  # whole vendor folders, licences included
        want |= {f"{d}/{k}": v for k, v in _tree(docs / "assets" / "vendor" / d).items()}
    assert {"onnxruntime-web/LICENSE", "tokenizers/LICENSE"} <= set(want)
    assert _tree(tmp_path / "view-live") == want
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view-live", "view.html"]  # no temporary left
    page = out.read_text()
    widget = re.search(r'<div id="attn-[0-9a-f]{12}" class="attn-widget[^>]*>', page, re.S).group(0)
    assert 'data-live="view-live/"' in widget
    assert 'data-live-runtime="view-live/onnxruntime-web/"' in widget and 'data-live-worker="view-live/live-worker.js"' in widget
    assert 'class="attn-live"' in page and "view-live/" in re.search(r'class="attn-source">(.*?)</p>', page, re.S).group(1)
    assert set(_modules(page)) == {"core.js", "head-view.js", "live.js"}  # live.js: the button's import


def test_without_live_no_control_and_no_folder(tmp_path):
    out = tmp_path / "view.html"
    assert view.main(["--text", CAT, "--out", str(out)]) == 0
    page = out.read_text()
    assert 'class="attn-live"' not in page and "data-live" not in page and "-live/" not in page
    assert set(_modules(page)) == {"core.js", "head-view.js"}
    assert [p.name for p in tmp_path.iterdir()] == ["view.html"]


def test_live_without_the_model_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(view, "LIVE", tmp_path / "no-live")
    monkeypatch.chdir(tmp_path)
    err = error_line(capsys, "--text", CAT, "--out", "view.html", "--live")
    assert "model.onnx" in err and "make charts" in err
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing written


def test_live_folder_is_replaced_whole_or_not_at_all(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"new a")
    (src / "b").write_bytes(b"new b")
    folder = tmp_path / "view-live"
    folder.mkdir()
    (folder / "stale").write_bytes(b"old")
    # a source that vanished: the copy fails, the previous folder stays as it was, no temporary is left
    with pytest.raises(OSError):
        view.write_live_folder(folder, {"a": src / "a", "x/gone": src / "gone"})
    assert _tree(folder) == {"stale": b"old"} and sorted(p.name for p in tmp_path.iterdir()) == ["src", "view-live"]
    view.write_live_folder(folder, {"a": src / "a", "x/b": src / "b"})
    assert _tree(folder) == {"a": b"new a", "x/b": b"new b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "view-live"]


def _modules(page: str) -> dict[str, bytes]:
    """The widget modules the page's import map inlines, by file name, decoded."""
    imports = json.loads(re.search(r'<script type="importmap">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))["imports"]
    prefix = "data:text/javascript;base64,"
    assert all(name.startswith("attn/") and url.startswith(prefix) for name, url in imports.items())
    return {name[len("attn/"):]: base64.b64decode(url[len(prefix):]) for name, url in imports.items()}


def test_modules_are_inlined_byte_for_byte(tmp_path):
    """No source rewriting: each inlined module is the site's file as it is."""
    out = tmp_path / "view.html"
    assert view.main(["--text", CAT, "--out", str(out), "--live"]) == 0
    for name, code in _modules(out.read_text()).items():
        assert code == (view.JS / name).read_bytes(), name
