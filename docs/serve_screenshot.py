"""Make docs/serve_page.png, the README's picture of `p2p serve`: the page of a run, a
starting drawing loaded, one stroke drawn, the translation beside it.

    python docs/serve_screenshot.py runs/synthetic_facades [docs/serve_page.png]

Needs a Chromium on PATH (apt-get install chromium).
"""
import json
import sys
import threading
from pathlib import Path

from p2p_cupy import backend
from p2p_cupy.serve.devtools import Browser
from p2p_cupy.serve.model import ServedModel
from p2p_cupy.serve.server import PageServer


def main(run_dir, out="docs/serve_page.png"):
    with backend.using("cpu"):
        model = ServedModel(run_dir)
    server = PageServer(model, "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Browser(width=1080, height=860) as browser:
            browser.open(server.url)
            browser.wait_for("window.p2p && window.p2p.ready")
            browser.wait_for("[...document.querySelectorAll('#examples img')]"
                             ".every(img => img.complete && img.naturalWidth)")
            browser.evaluate("document.querySelectorAll('#examples img')[1].click()")
            browser.wait_for("window.p2p.translations >= 1 && !window.p2p.busy")
            # One brush stroke of "window" across the facade, as a user would add.
            browser.evaluate("[...document.querySelectorAll('#palette button')]"
                             ".find(b => b.textContent === 'window').click()")
            browser.evaluate("document.querySelector('[data-tool=rectangle]').click()")
            rect = json.loads(browser.evaluate(
                "JSON.stringify(document.getElementById('drawing').getBoundingClientRect())"))
            x0, y0 = rect["left"] + rect["width"] * 0.40, rect["top"] + rect["height"] * 0.45
            browser.drag([(x0, y0), (x0 + rect["width"] * 0.2, y0 + rect["height"] * 0.12)])
            browser.wait_for("window.p2p.translations >= 2 && !window.p2p.busy")
            browser.evaluate("document.getElementById('inside').open = true")
            Path(out).write_bytes(browser.screenshot())
    finally:
        server.shutdown()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
