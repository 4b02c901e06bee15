"""The layer cake of docs/DESIGN.md is the law: every import of the package goes down.

The order is read from docs/DESIGN.md (between the `layers:begin` / `layers:end` markers,
highest layer first, siblings separated by `|`), so the document and the check cannot
disagree. Every `import` and `from ... import` is parsed with ast, at any depth (imports
inside functions count: a lazy import is still a dependency), relative imports resolved,
plus `importlib.import_module("p2p_cupy....")` calls with a constant name. A unit (the
first name under p2p_cupy: a subpackage or a top-level module) may import itself and the
units of lower layers only: never a sibling, never upward, so no cycle is possible.
"""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
# Where the installed package's files live in the checkout (setup.py's package_dir).
SOURCE_DIRS = {"p2p_cupy": ROOT / "p2p_cupy", "p2p_cupy.kernels": ROOT / "kernels",
               "p2p_cupy.cli": ROOT / "cli"}
# Third-party modules only some units may import.
ONLY_IN = {"click": {"cli"}}


def declared_layers(text: str) -> dict:
    """{unit: layer number} from DESIGN.md's cake (0 = the lowest layer)."""
    block = text.split("<!-- layers:begin -->", 1)[1].split("<!-- layers:end -->", 1)[0]
    lines = [line.strip() for line in block.strip().strip("`").splitlines()]
    lines = [line for line in lines if line and not line.startswith("```")]
    return {unit.strip(): level for level, line in enumerate(reversed(lines))
            for unit in line.split("|")}


def package_modules() -> dict:
    """{dotted module name: path} of every .py file the package installs."""
    modules = {}
    for package, folder in SOURCE_DIRS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[0] in ("cli", "kernels") and package == "p2p_cupy":
                continue                      # not there: cli/ and kernels/ are top-level
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def unit_of(module: str):
    """p2p_cupy.train.loop -> "train"; p2p_cupy -> None (the root package)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "p2p_cupy" and len(parts) > 1 else None


def imported_modules(module: str, source: str, is_package: bool = False):
    """(line, dotted name) of every module the source imports, at any depth."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from p2p_cupy import backend` imports the unit p2p_cupy.backend
            names = [f"{base}.{a.name}" for a in node.names] if base == "p2p_cupy" else [base]
            for name in names:
                yield node.lineno, name
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def violations(module: str, source: str, layers: dict, is_package: bool = False) -> list:
    """Every import of `module` that breaks the layering, as readable lines."""
    unit = unit_of(module)
    found = []
    if unit is not None and unit not in layers:
        return [f"{module}: unit {unit!r} is not in the layer cake of docs/DESIGN.md"]
    for line, name in imported_modules(module, source, is_package):
        top = name.split(".")[0]
        if top in ONLY_IN and unit not in ONLY_IN[top]:
            found.append(f"{module}:{line} imports {name} (only {sorted(ONLY_IN[top])} may)")
        target = unit_of(name)
        if target is None or unit is None or target == unit:
            continue
        if target not in layers:
            found.append(f"{module}:{line} imports {name}: unknown unit {target!r}")
        elif layers[target] >= layers[unit]:
            where = "the same layer as" if layers[target] == layers[unit] else "a layer above"
            found.append(f"{module}:{line} imports {name}: {target} is in {where} {unit}")
    return found


def test_every_import_in_the_package_goes_down_the_layer_cake():
    layers = declared_layers(DESIGN.read_text(encoding="utf-8"))
    modules = package_modules()
    assert len(modules) > 50 and "p2p_cupy.kernels.loader" in modules
    found = [v for name, path in sorted(modules.items())
             for v in violations(name, path.read_text(encoding="utf-8"), layers,
                                 path.name == "__init__.py")]
    assert not found, "\n".join(found)


def declared_imports(text: str, layers: dict) -> dict:
    """{unit: set of units it may import} from DESIGN.md's package map table."""
    block = text.split("<!-- package-map:begin -->", 1)[1].split("<!-- package-map:end -->")[0]
    allowed = {}
    for row in block.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        unit, may = cells[0].strip("`"), cells[2]
        if may == "every unit below":
            allowed[unit] = {u for u, level in layers.items() if level < layers[unit]}
        else:
            allowed[unit] = set() if may == "nothing" else {u.strip() for u in may.split(",")}
    return allowed


def unit_imports() -> dict:
    """{unit: the other units its modules import}."""
    found = {}
    for name, path in package_modules().items():
        unit = unit_of(name)
        for _, imported in imported_modules(name, path.read_text(encoding="utf-8"),
                                            path.name == "__init__.py"):
            target = unit_of(imported)
            if unit and target and target != unit:
                found.setdefault(unit, set()).add(target)
    return found


def test_the_package_map_has_one_line_per_unit_and_tells_the_truth():
    text = DESIGN.read_text(encoding="utf-8")
    layers = declared_layers(text)
    allowed = declared_imports(text, layers)
    assert set(allowed) == set(layers)
    for unit, may in allowed.items():
        assert all(layers[u] < layers[unit] for u in may), f"{unit}: {may} is not all below"
    for unit, imported in unit_imports().items():
        extra = imported - allowed[unit]
        assert not extra, (f"{unit} imports {sorted(extra)}: add them to its line of the "
                           "package map in docs/DESIGN.md (if the layer cake allows it)")


def test_every_declared_unit_exists():
    layers = declared_layers(DESIGN.read_text(encoding="utf-8"))
    units = {unit_of(name) for name in package_modules()} - {None}
    assert set(layers) == units


def test_an_upward_import_is_caught_wherever_it_hides():
    layers = declared_layers(DESIGN.read_text(encoding="utf-8"))
    upward = {
        "top level": "from p2p_cupy.train.step import train_step\n",
        "inside a function": "def f():\n    from p2p_cupy import inspection\n",
        "plain import": "import p2p_cupy.cli.main\n",
        "by name": "import importlib\nimportlib.import_module('p2p_cupy.bench.step')\n",
    }
    for how, source in upward.items():
        assert violations("p2p_cupy.ops.conv", source, layers), how
    # relative: kernels/loader.py reaching up into the backend
    assert violations("p2p_cupy.kernels.loader", "from .. import backend\n", layers)
    sibling = violations("p2p_cupy.inspection.cost", "from p2p_cupy.interop import convert\n",
                         layers)
    assert sibling and "same layer as" in sibling[0]
    assert violations("p2p_cupy.bench.torch_ref", "import click\n", layers)
    assert violations("p2p_cupy.newthing", "", layers)          # undeclared unit
    # and what is allowed stays allowed
    assert not violations("p2p_cupy.train.loop", "from p2p_cupy.ops import conv\n"
                          "from p2p_cupy.train import checkpoint\nimport numpy\n", layers)
    assert not violations("p2p_cupy.kernels.loader", "from .emu import launcher\n", layers)


def test_the_cake_is_parsed_highest_first():
    text = "x\n<!-- layers:begin -->\n```\ncli\nbench | data\nerrors\n```\n<!-- layers:end -->\n"
    assert declared_layers(text) == {"cli": 2, "bench": 1, "data": 1, "errors": 0}
    assert re.search(r"<!-- layers:begin -->", DESIGN.read_text(encoding="utf-8"))
