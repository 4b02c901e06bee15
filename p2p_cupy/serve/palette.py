"""The drawing palette of a label-map model: the classes of its data set, by name and by the
color that stands for each in the label map.

A data set says what its label colors mean in `classes.txt` (one class a line,
"index name R G B", '#' comments), as `p2p data synth-facades` writes it. A run trained on
the built-in synthetic facades uses that set's classes. A model without a palette is drawn
with a pen and an eraser (edges, sketches).
"""
from __future__ import annotations

from pathlib import Path

from p2p_cupy.errors import P2PError

BUILTIN_SYNTHETIC = "synthetic-facades"


def read_classes(path) -> list:
    """[{"index", "name", "color": [r, g, b]}] from a classes.txt file."""
    path = Path(path)
    classes = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            if len(parts) != 5:
                raise ValueError
            index, name, rgb = int(parts[0]), parts[1], [int(v) for v in parts[2:]]
            if not all(0 <= v <= 255 for v in rgb):
                raise ValueError
        except ValueError:
            raise P2PError(f"{path}:{number}: expected 'index name R G B' with R, G, B in "
                           f"0..255, got {line!r}") from None
        classes.append({"index": index, "name": name, "color": rgb})
    if not classes:
        raise P2PError(f"{path}: no classes in the file")
    return classes


def builtin_classes() -> list:
    from p2p_cupy.data import synthetic
    return [{"index": i, "name": name, "color": list(color)}
            for i, (name, color) in enumerate(synthetic.CLASSES)]


def classes_for_run(dataroot, classes_file=None):
    """The palette for a model: an explicit classes.txt, else the run's data set's, else
    the built-in synthetic facades' when the run trained on them, else None (sketch)."""
    if classes_file is not None:
        return read_classes(classes_file)
    if dataroot is None:
        return None
    if str(dataroot).startswith(BUILTIN_SYNTHETIC):
        return builtin_classes()
    candidate = Path(dataroot) / "classes.txt"
    return read_classes(candidate) if candidate.is_file() else None
