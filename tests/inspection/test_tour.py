"""docs/TOUR.md names only things that exist.

Its conventions (stated at its top):
  * [text](relative/path) links point at files or folders, relative to docs/;
  * `p2p_cupy.module.attribute` (backticks, dotted) names an importable module and attribute;
  * `kernels/file.cu:name` names a kernel defined in that file (as `name(`, or as its
    exported `name_f32(` / `name_f64(` instances).
"""
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "TOUR.md"
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
PY_NAME = re.compile(r"`(p2p_cupy(?:\.\w+)+)`")
CU_NAME = re.compile(r"`(kernels/\w+\.cuh?):(\w+)`")


def text():
    return TOUR.read_text(encoding="utf-8")


def resolve(dotted: str):
    """The object named by a dotted path: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_linked_file_exists():
    targets = [t for t in LINK.findall(text()) if not t.startswith(("http:", "https:"))]
    assert len(targets) >= 15
    missing = [t for t in targets if not (TOUR.parent / t).exists()]
    assert not missing, f"TOUR.md links to missing files: {missing}"


def test_every_python_name_resolves():
    names = sorted(set(PY_NAME.findall(text())))
    assert len(names) >= 30
    broken = []
    for name in names:
        try:
            resolve(name)
        except (ImportError, AttributeError):
            broken.append(name)
    assert not broken, f"TOUR.md names that do not exist: {broken}"


def test_every_kernel_name_is_defined_in_its_file():
    names = sorted(set(CU_NAME.findall(text())))
    assert len(names) >= 10
    broken = [f"{path}:{name}" for path, name in names
              if not (ROOT / path).is_file() or not re.search(
                  rf"\b{name}(?:_f32|_f64)?\s*\(", (ROOT / path).read_text())]
    assert not broken, f"TOUR.md kernels not found: {broken}"


@pytest.mark.parametrize("bad", ["p2p_cupy.ops.conv.no_such_function", "p2p_cupy.nope.x"])
def test_resolve_rejects_names_that_do_not_exist(bad):
    with pytest.raises((ImportError, AttributeError)):
        resolve(bad)
