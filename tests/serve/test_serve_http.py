"""`p2p serve`'s HTTP API: translations equal `p2p translate`, bad requests get one-line
JSON errors and the server keeps serving."""
import base64
import http.client
import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from p2p_cupy.cli.main import main
from p2p_cupy.errors import P2PError
from p2p_cupy.serve.server import MAX_BODY



def request(server, method, path, body=None, headers=None):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def post_json(server, payload):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, _, data = request(server, "POST", "/api/translate", body,
                              {"Content-Type": "application/json"})
    return status, json.loads(data)


def png_data_url(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def decode(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


PALETTE = np.array([(0, 0, 170), (0, 0, 255), (0, 128, 255), (0, 255, 255), (128, 255, 128),
                    (255, 255, 0), (255, 128, 0), (255, 0, 0)], np.uint8)


def drawing(size=32, seed=0):
    """A random label map of the tiny run's palette."""
    colors = PALETTE
    labels = np.random.default_rng(seed).integers(0, len(colors), (4, 4))
    return colors[labels.repeat(size // 4, 0).repeat(size // 4, 1)]


def assert_still_serving(server):
    status, _, body = request(server, "GET", "/api/info")
    assert status == 200 and json.loads(body)["size"] == 32


def test_info_describes_a_label_map_model_with_its_classes_and_discriminator(server, classes):
    status, kind, body = request(server, "GET", "/api/info")
    info = json.loads(body)
    assert status == 200 and kind == "application/json"
    assert info["mode"] == "labels" and info["has_discriminator"] is True
    assert [(c["name"], tuple(c["color"])) for c in info["classes"]] == classes
    assert info["size"] == 32 and info["multiple"] == 32 and info["examples"] > 0


def test_the_page_and_its_files_are_served_and_nothing_else(server):
    for path, kind in (("/", "text/html"), ("/static/app.js", "text/javascript"),
                       ("/static/style.css", "text/css")):
        status, content_type, body = request(server, "GET", path)
        assert status == 200 and content_type.startswith(kind) and body
    for path in ("/static/../model.py", "/static/%2e%2e/model.py", "/static/__init__.py",
                 "/nothing", "/api/examples/x.png", "/api/examples/99.png"):
        status, kind, body = request(server, "GET", path)
        assert status == 404 and kind == "application/json" and "error" in json.loads(body)


def test_a_translation_equals_p2p_translate_eval_of_the_same_drawing(server, label_run, tmp_path):
    image = drawing(seed=3)
    status, result = post_json(server, {"image": png_data_url(image), "eval": True})
    assert status == 200, result
    assert result["eval"] is True and result["ms"] > 0
    Image.fromarray(image).save(tmp_path / "drawing.png")
    cli = CliRunner().invoke(main, ["translate", "--checkpoint", str(label_run), "--eval",
                                    "--device", "cpu", str(tmp_path / "drawing.png"),
                                    "--out", str(tmp_path / "out")])
    assert cli.exit_code == 0, cli.output
    expected = np.asarray(Image.open(tmp_path / "out" / "drawing.png"))
    np.testing.assert_array_equal(decode(result["image"]), expected)


def test_looking_inside_returns_the_patch_map_and_every_layers_statistics(server):
    status, result = post_json(server, {"image": png_data_url(drawing()), "inside": True})
    assert status == 200, result
    patch = decode(result["patch_map"])
    assert patch.shape == (32, 32, 3) and 0 <= result["patch_mean_real"] <= 1
    names = [a["name"] for a in result["activations"]]
    assert len(names) > 5 and len(set(names)) == len(names)
    assert result["activations"][-1]["op"] == "Tanh"


def test_train_mode_and_eval_mode_differ_as_batch_statistics_and_dropout_do(server):
    image = png_data_url(drawing(seed=5))
    outputs = [decode(post_json(server, {"image": image, "eval": flag})[1]["image"])
               for flag in (True, False)]
    assert np.any(outputs[0] != outputs[1])


def test_starting_drawings_use_only_the_palettes_colors(server, classes):
    status, kind, body = request(server, "GET", "/api/examples/0.png")
    assert status == 200 and kind == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB")).reshape(-1, 3)
    assert Image.open(io.BytesIO(body)).size == (32, 32)
    assert {tuple(p) for p in np.unique(pixels, axis=0)} <= {c for _, c in classes}


@pytest.mark.parametrize("payload, words", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"\xff\xfe", "not valid JSON"),
    ({"eval": True}, '"image"'),
    ({"image": 42}, "must be a string"),
    ({"image": "data:image/png;base64,@@@@"}, "not valid base64"),
    ({"image": "data:text/plain,hello"}, "base64 data URL"),
    ({"image": base64.b64encode(b"GIF89a but not really").decode()}, "unreadable image"),
    ({"image": "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(40)).decode()},
     "unreadable image"),
    ({"image": png_data_url(np.zeros((33, 32, 3), np.uint8))}, "multiples of 32"),
    ({"image": png_data_url(np.zeros((2048, 32, 3), np.uint8))}, "at most"),
    ({"image": png_data_url(drawing()), "eval": "yes"}, '"eval" must be true or false'),
])
def test_bad_requests_get_one_line_json_errors_and_the_server_keeps_serving(server, payload, words):
    status, result = post_json(server, payload)
    assert status == 400, result
    assert words in result["error"] and "\n" not in result["error"]
    assert "Traceback" not in result["error"]
    assert_still_serving(server)


def test_a_body_over_the_cap_is_refused_before_it_is_read(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.putrequest("POST", "/api/translate")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()                       # no body sent: the answer must not wait for it
    response = conn.getresponse()
    assert response.status == 413 and "limit" in json.loads(response.read())["error"]
    conn.close()
    assert_still_serving(server)


def test_a_body_without_length_and_unknown_endpoints_are_refused(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.putrequest("POST", "/api/translate")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]
    conn.close()
    status, _, body = request(server, "POST", "/api/other", b"{}", {"Content-Length": "2"})
    assert status == 404 and "error" in json.loads(body)
    assert_still_serving(server)


def test_a_failure_of_ours_is_a_500_without_traceback_and_the_server_keeps_serving(
        server, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")
    monkeypatch.setattr(server.model, "translate", broken)
    status, result = post_json(server, {"image": png_data_url(drawing())})
    assert status == 500 and result["error"].startswith("internal error (RuntimeError)")
    assert "secret" not in result["error"]
    monkeypatch.undo()
    assert_still_serving(server)


def test_a_model_without_classes_is_drawn_as_a_sketch_without_starting_drawings(sketch_run,
                                                                                serving):
    server, thread = serving(sketch_run)
    try:
        info = json.loads(request(server, "GET", "/api/info")[2])
        assert info["mode"] == "sketch" and info["classes"] is None and info["examples"] == 0
        assert request(server, "GET", "/api/examples/0.png")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_p2p_serve_binds_to_localhost_by_default_and_stops_cleanly_on_ctrl_c(label_run):
    proc = subprocess.Popen(
        [sys.executable, "-m", "p2p_cupy.cli.main", "serve", "--checkpoint", str(label_run),
         "--port", "0", "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving on"):
                break
        assert lines and lines[-1].startswith("Serving on http://127.0.0.1:"), lines
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=20)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Stopped." in rest and "Traceback" not in rest


def test_a_generator_only_checkpoint_has_no_d_and_its_palette_comes_from_classes(
        label_run, tmp_path):
    from p2p_cupy.serve.model import ServedModel
    from p2p_cupy.train import checkpoint
    state = checkpoint.load_checkpoint(checkpoint.latest_checkpoint(label_run))
    g_only = checkpoint.save_checkpoint(tmp_path, "g_only", {"G": state["G"],
                                                            "options": state["options"]})
    plain = ServedModel(g_only).info()
    assert plain["has_discriminator"] is False and plain["mode"] == "sketch"
    classes_file = next(label_run.parent.glob("data_labels")) / "classes.txt"
    with_palette = ServedModel(g_only, classes_file).info()
    assert with_palette["mode"] == "labels" and len(with_palette["classes"]) == 8
    (tmp_path / "bad.txt").write_text("0 background 0 0 300\n")
    with pytest.raises(P2PError, match="bad.txt:1"):
        ServedModel(g_only, tmp_path / "bad.txt")
