"""The local HTTP server of `p2p serve`: the page's files and a small JSON API.

    GET  /                     the page (static/index.html)
    GET  /static/NAME          the page's CSS and JavaScript
    GET  /api/info             the model: size, channels, palette or sketch mode, has D
    GET  /api/examples/N.png   starting drawings (label-map models)
    POST /api/translate        {"image": PNG data URL, "eval": bool, "inside": bool}
                               -> {"image": PNG data URL, "ms": float, "patch_map"?: ...,
                                   "activations"?: [...]}

Python's threading `http.server` is enough for a local, single-user tool. Every request
is answered: a bad one with a one-line JSON error {"error": "..."} and a 4xx status, a
failure of ours with a 500 and the error's type, never a traceback (that goes to the
terminal). Bodies are capped (MAX_BODY) before they are read; the model runs one request
at a time (ServedModel's lock); Ctrl-C stops the server cleanly.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import socket
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

from p2p_cupy.errors import P2PError

STATIC_DIR = Path(__file__).with_name("static")
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8", ".png": "image/png"}
MAX_BODY = 8 * 1024 * 1024      # bytes: a 1024x1024 PNG drawing is far below this
N_EXAMPLES = 4
PNG_DATA_URL = "data:image/png;base64,"


class RequestError(P2PError):
    """A bad request; the message is sent to the client with `status`."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


def data_url(png: bytes) -> str:
    return PNG_DATA_URL + base64.b64encode(png).decode("ascii")


def decode_data_url(value) -> bytes:
    """The bytes of an image data URL ("data:image/...;base64,...") or plain base64."""
    if not isinstance(value, str):
        raise RequestError('"image" must be a string: an image data URL')
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if not header.endswith(";base64"):
            raise RequestError('"image" must be a base64 data URL')
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError('"image" is not valid base64') from None


def example_drawing(model, index: int) -> bytes:
    """Starting drawing `index`: a synthetic facade label map at the model's size, drawn
    with the model's palette (label-map models trained on a palette of >= 8 classes)."""
    from p2p_cupy.data import synthetic
    if not model.classes or len(model.classes) < len(synthetic.CLASSES):
        raise RequestError("this model has no starting drawings (it is not a label-map "
                           "model)", HTTPStatus.NOT_FOUND)
    if not 0 <= index < N_EXAMPLES:
        raise RequestError(f"no starting drawing {index}; there are {N_EXAMPLES}",
                           HTTPStatus.NOT_FOUND)
    labels = synthetic.facade_labels(model.size, np.random.default_rng(1000 + index))
    colors = np.array([c["color"] for c in model.classes], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(colors[labels]).save(buffer, format="PNG")
    return buffer.getvalue()


class Handler(BaseHTTPRequestHandler):
    server_version = "p2p-serve"
    protocol_version = "HTTP/1.1"

    # --- responses ---------------------------------------------------------------------
    def _send(self, status, body: bytes, content_type: str, close: bool = False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, payload: dict, close: bool = False):
        self._send(status, json.dumps(payload).encode(), "application/json", close)

    def _error(self, status, message: str, close: bool = False):
        self._json(status, {"error": " ".join(str(message).split())}, close)

    def _guarded(self, handle):
        try:
            handle()
        except RequestError as e:
            self._error(e.status, str(e), close=e.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        except P2PError as e:                      # the drawing itself is unusable
            self._error(HTTPStatus.BAD_REQUEST, str(e))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True           # the client left; nothing to answer
        except Exception as e:                     # a bug of ours: the terminal gets the
            traceback.print_exc(file=sys.stderr)   # traceback, the client one line
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR,
                        f"internal error ({type(e).__name__}); see the server's terminal")

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # --- routes ------------------------------------------------------------------------
    def do_GET(self):
        self._guarded(self._get)

    do_HEAD = do_GET

    def do_POST(self):
        self._guarded(self._post)

    def _get(self):
        path = self.path.split("?", 1)[0]
        model = self.server.model
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path == "/api/info":
            return self._json(HTTPStatus.OK, {**model.info(), "examples":
                                              N_EXAMPLES if model.classes else 0})
        if path.startswith("/api/examples/") and path.endswith(".png"):
            stem = path[len("/api/examples/"):-len(".png")]
            if not stem.isdigit():
                raise RequestError(f"no starting drawing {stem!r}", HTTPStatus.NOT_FOUND)
            return self._send(HTTPStatus.OK, example_drawing(model, int(stem)), "image/png")
        raise RequestError(f"no such page: {path}", HTTPStatus.NOT_FOUND)

    def _static(self, name: str):
        # Only the files that ship in static/, by exact name: no path reaches elsewhere.
        shipped = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        if name not in shipped or Path(name).suffix not in STATIC_TYPES:
            raise RequestError(f"no such file: {name}", HTTPStatus.NOT_FOUND)
        self._send(HTTPStatus.OK, shipped[name].read_bytes(), STATIC_TYPES[Path(name).suffix])

    def _read_json_body(self) -> dict:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            raise RequestError("send the body with a Content-Length, not chunked",
                               HTTPStatus.LENGTH_REQUIRED)
        if length is None or not length.isdigit():
            raise RequestError("a Content-Length header is required",
                               HTTPStatus.LENGTH_REQUIRED)
        if int(length) > MAX_BODY:
            raise RequestError(f"request body of {int(length)} bytes is over the "
                               f"{MAX_BODY} byte limit", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        body = self.rfile.read(int(length))
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(f"the body is not valid JSON ({e})") from None
        if not isinstance(payload, dict):
            raise RequestError("the body must be a JSON object")
        return payload

    def _post(self):
        path = self.path.split("?", 1)[0]
        if path != "/api/translate":
            raise RequestError(f"no such endpoint: POST {path}", HTTPStatus.NOT_FOUND)
        payload = self._read_json_body()
        if "image" not in payload:
            raise RequestError('the JSON object needs an "image" (a PNG data URL)')
        flags = {key: payload.get(key, default) for key, default in
                 (("eval", True), ("inside", False))}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise RequestError(f'"{key}" must be true or false')
        result = self.server.model.translate(decode_data_url(payload["image"]),
                                             eval_mode=flags["eval"], inside=flags["inside"])
        for key in ("image", "patch_map"):
            if key in result:
                result[key] = data_url(result[key])
        self._json(HTTPStatus.OK, result)


class PageServer(ThreadingHTTPServer):
    daemon_threads = True            # a hung client never blocks shutdown
    allow_reuse_address = True

    def __init__(self, model, host: str = "127.0.0.1", port: int = 8000, quiet=False):
        self.model, self.quiet = model, quiet
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"
