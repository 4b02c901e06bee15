"""`p2p serve` in a real browser: a headless Chromium draws a stroke on the canvas with
mouse events, waits for the translation, and the pixels it shows equal `p2p translate
--eval` of the very drawing the browser sent."""
import base64
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main
from p2p_cupy.serve.devtools import Browser, find_browser

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="no Chromium on this machine (apt-get install chromium): the browser test "
           "cannot run; the HTTP tests still cover the server")


def decode(data_url):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
                      .convert("RGB"))


def test_a_stroke_drawn_in_the_browser_is_translated_as_p2p_translate_does(
        server, label_run, classes, tmp_path):
    with Browser(width=1200, height=900) as browser:
        browser.open(server.url)
        browser.wait_for("window.p2p && window.p2p.ready")
        # Pick the "window" class, the brush, then drag across the canvas's middle.
        browser.evaluate("""[...document.querySelectorAll('#palette button')]
                            .find(b => b.textContent === 'window').click()""")
        browser.evaluate("document.querySelector('[data-tool=brush]').click()")
        rect = json.loads(browser.evaluate(
            "JSON.stringify(document.getElementById('drawing').getBoundingClientRect())"))
        y = rect["top"] + rect["height"] / 2
        browser.drag([(rect["left"] + rect["width"] * f, y) for f in (0.2, 0.4, 0.6, 0.8)])
        browser.wait_for("window.p2p.translations >= 1")
        browser.wait_for("!window.p2p.busy && document.getElementById('output').src"
                         ".startsWith('data:image/png')")
        sent = decode(browser.evaluate("document.getElementById('drawing').toDataURL()"))
        shown = decode(browser.evaluate("document.getElementById('output').src"))
        assert browser.evaluate("window.p2p.last.image") == \
            browser.evaluate("document.getElementById('output').src")
        status = browser.evaluate("document.getElementById('status').textContent")

        # The stroke is on the drawing, in the chosen class's color, and only palette colors.
        window_color = dict(classes)["window"]
        middle_row = sent[sent.shape[0] // 2]
        assert np.mean(np.all(middle_row == window_color, axis=1)) > 0.5
        assert {tuple(p) for p in np.unique(sent.reshape(-1, 3), axis=0)} <= \
            {c for _, c in classes}
        assert status.startswith("G took") and "eval mode" in status

        # The patch map switch shows D's view of the same output.
        browser.evaluate("document.getElementById('show-patch-map').click()")
        assert browser.evaluate("document.getElementById('output').src") == \
            browser.evaluate("window.p2p.last.patch_map")

    Image.fromarray(sent).save(tmp_path / "drawing.png")
    result = CliRunner().invoke(main, ["translate", "--checkpoint", str(label_run), "--eval",
                                       "--device", "cpu", str(tmp_path / "drawing.png"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(shown, np.asarray(Image.open(tmp_path / "out" / "drawing.png")))
