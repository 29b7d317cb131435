"""The layers of ``autograder/`` and the imports each may make (issue: a layout that shows the
architecture).

Every import statement of a module counts, also those inside functions: a lazy import still ties
the layers together. Relative imports are resolved to the module they name.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autograder"
LAYERS = ("wire", "judge", "exercises", "kernel", "nbgrader", "batch", "reports", "demo")


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``autograder.judge.context``, ``torch``)."""
    module = ".".join(("autograder", *path.relative_to(PACKAGE).with_suffix("").parts))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.add(name)
            # `from . import x` / `from .judge import verdict`: x may be a module
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def layer_modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def own(name: str) -> bool:
    return name == "autograder" or name.startswith("autograder.")


def in_layers(name: str, layers: tuple[str, ...]) -> bool:
    return any(name == f"autograder.{layer}" or name.startswith(f"autograder.{layer}.")
               for layer in layers)


def test_every_layer_is_a_package_with_a_docstring_saying_what_lives_there():
    for layer in LAYERS:
        init = PACKAGE / layer / "__init__.py"
        assert init.exists(), f"autograder/{layer}/ is not a package"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 80, f"autograder/{layer}/__init__.py says nothing of its layer"


def test_no_module_is_left_beside_the_layers_but_the_front_ends():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "_env.py", "selfcheck.py"], loose


@pytest.mark.parametrize("path", layer_modules("wire"), ids=lambda p: p.name)
def test_wire_imports_only_the_standard_library_torch_and_safetensors(path):
    allowed = set(sys.stdlib_module_names) | {"torch", "safetensors"}
    bad = [n for n in imports_of(path)
           if n.split(".")[0] not in allowed and not in_layers(n, ("wire",))]
    assert not bad, f"{path.name} imports {bad}: the kernel loads wire/ by path, alone"


def test_the_kernel_policy_imports_only_the_standard_library():
    bad = [n for n in imports_of(PACKAGE / "kernel" / "policy.py")
           if n.split(".")[0] not in sys.stdlib_module_names]
    assert not bad, bad


@pytest.mark.parametrize("layer", ["judge", "exercises"])
def test_the_judge_never_imports_kernel_hosting_nbgrader_batch_or_reports(layer):
    for path in layer_modules(layer):
        bad = [n for n in imports_of(path) if own(n) and not in_layers(n, ("wire", "judge",
                                                                             "exercises"))]
        assert not bad, f"{layer}/{path.name} imports {bad}"


@pytest.mark.parametrize("layer", ["kernel", "nbgrader", "reports"])
def test_lower_layers_never_import_batch_runs_or_the_demo(layer):
    for path in layer_modules(layer):
        bad = [n for n in imports_of(path) if in_layers(n, ("batch", "demo"))]
        assert not bad, f"{layer}/{path.name} imports {bad}"


def test_reading_notebook_metadata_does_not_import_torch():
    code = ("import sys, autograder.nbgrader.cells as c; "
            "c.check_calls('check(\"excitation\", \"values\", Excitation)'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False", "parsing notebook metadata imported torch"


def test_the_import_scan_sees_relative_and_lazy_imports():
    """The checks above could pass by seeing nothing: the scan must find both kinds."""
    found = imports_of(PACKAGE / "judge" / "exercise.py")
    assert "autograder.judge.context" in found and "autograder.wire.protocol" in found
    assert "autograder.judge.device" in found   # imported inside a method
