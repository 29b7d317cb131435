"""``environment.yml`` (conda) and ``pyproject.toml`` (pip) describe one environment; so does the
Makefile's ``setup``. These tests fail when they drift apart, and show on modified copies that they
would.

Conda and pip spell the same constraint differently: conda's ``pytorch=2.13.0`` is pip's
``torch==2.13.0``; ranges (``>=1.26,<3``) are written alike. ``python``, ``pip`` and the editable
``-e .`` entry exist only on the conda side and are not compared.
"""
from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TORCH_PIN = "torch==2.13.0"

#: conda package names whose pip name differs.
CONDA_TO_PIP = {"pytorch": "torch"}
#: conda entries with no pip counterpart.
CONDA_ONLY = {"python", "pip"}

_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


# ------------------------------------------------------------------------------------- parsing

def conda_requirements(path: Path) -> dict[str, SpecifierSet]:
    """``{pip name: constraint}`` of ``environment.yml``: conda entries and its ``pip:`` list."""
    env = yaml.safe_load(path.read_text())
    found: dict[str, SpecifierSet] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):                        # the `- pip:` sub-list
            for line in entry.get("pip", []):
                if line.strip().startswith("-e"):          # the course's own packages
                    continue
                req = Requirement(line)
                found[canonicalize_name(req.name)] = req.specifier
            continue
        name, spec = _CONDA_SPEC.match(str(entry)).groups()
        if name in CONDA_ONLY:
            continue
        # conda's `=X` (a single `=`) is the pin that pip writes `==X`
        spec = re.sub(r"(?<![=<>!~])=(?!=)", "==", spec)
        name = CONDA_TO_PIP.get(name, name)
        found[canonicalize_name(name)] = SpecifierSet(spec)
    return found


def pip_requirements(path: Path, extras: tuple[str, ...] = ("test",)) -> dict[str, SpecifierSet]:
    """``{name: constraint}`` of ``pyproject.toml``: ``dependencies`` and the given extras."""
    project = tomllib.loads(path.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): r.specifier for r in reqs}


def drift(environment_yml: Path, pyproject_toml: Path) -> list[str]:
    """Every difference between the two files, one line each; empty when they agree."""
    conda, pip = conda_requirements(environment_yml), pip_requirements(pyproject_toml)
    problems = [f"{name}: only in environment.yml ({conda[name] or 'any version'})"
                for name in sorted(conda.keys() - pip.keys())]
    problems += [f"{name}: only in pyproject.toml ({pip[name] or 'any version'})"
                 for name in sorted(pip.keys() - conda.keys())]
    problems += [f"{name}: environment.yml has '{conda[name]}', pyproject.toml has '{pip[name]}'"
                 for name in sorted(conda.keys() & pip.keys()) if conda[name] != pip[name]]
    return problems


def setup_commands(makefile: Path) -> list[list[str]]:
    """The shell commands of ``make setup`` (its recipe and its prerequisites'), as token lists."""
    lines = makefile.read_text().splitlines()
    recipes: dict[str, list[str]] = {}
    prerequisites: dict[str, list[str]] = {}
    target = None
    for line in lines:
        if line.startswith("\t") and target is not None:
            recipes[target].append(line.strip())
            continue
        match = re.match(r"^([^\s:=#][^:=]*?):(?!=)\s*(.*)$", line)
        target = None
        if match and not line.startswith("."):
            target = match.group(1).strip()
            recipes.setdefault(target, [])
            prerequisites[target] = match.group(2).split()
    commands = []
    for name in [*prerequisites.get("setup", []), "setup"]:
        for recipe in recipes.get(name, []):
            lexer = shlex.shlex(recipe.lstrip("@-"), posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            command: list[str] = []
            for token in [*lexer, ";"]:                  # split on ; && || outside quotes
                if token in {";", "&&", "||"}:
                    commands += [command] if command else []
                    command = []
                else:
                    command.append(token)
    return commands


#: pip install options that take a value (the value is not a package).
_VALUE_OPTIONS = {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t", "--target",
                  "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
                  "--config-settings", "-C"}


def install_targets(args: list[str]) -> list[str]:
    """What a ``pip install`` installs: its packages, ``-e``/``-r`` values included, options not."""
    targets, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg in _VALUE_OPTIONS:
            if arg in {"-r", "--requirement", "-e", "--editable"}:
                targets.append(f"{arg} {args[i + 1]}")
            i += 2
            continue
        if not arg.startswith("-"):
            targets.append(arg)
        i += 1
    return targets


def pip_installs(commands: list[list[str]]) -> list[list[str]]:
    """The argument lists of the ``pip install`` commands, in order, the upgrade of pip excluded."""
    installs = []
    for tokens in commands:
        if tokens[1:4] == ["-m", "pip", "install"]:
            args = tokens[4:]
            if all(t.startswith("pip") for t in install_targets(args)):
                continue                                   # pip upgrading itself
            installs.append(args)
    return installs


def setup_problems(makefile: Path) -> list[str]:
    """What is wrong with how ``make setup`` installs torch; empty when nothing is."""
    installs = pip_installs(setup_commands(makefile))
    if not installs:
        return ["make setup runs no pip install"]
    problems = []
    first = install_targets(installs[0])
    if first != [TORCH_PIN]:
        problems.append(f"the first pip install must install only {TORCH_PIN!r}, got {first}")
    for args in installs[1:]:
        if "--no-deps" not in args and TORCH_PIN not in args:
            problems.append(f"pip install {' '.join(args)} may replace torch: pass {TORCH_PIN!r} "
                            "or --no-deps")
    return problems


# ---------------------------------------------------------------------------- the real files

def test_environment_yml_and_pyproject_list_the_same_packages_and_constraints():
    assert drift(ROOT / "environment.yml", ROOT / "pyproject.toml") == []


def test_the_comparison_sees_every_package_of_both_files():
    # guards against a parser that silently drops entries (then no drift would ever show)
    conda = conda_requirements(ROOT / "environment.yml")
    pip = pip_requirements(ROOT / "pyproject.toml")
    assert {"torch", "numpy", "nbgrader", "pytest", "monai", "fvcore"} <= conda.keys() & pip.keys()
    assert str(pip["torch"]) == str(conda["torch"]) == "==2.13.0"


def test_conda_python_satisfies_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(str(e) for e in env["dependencies"] if str(e).startswith("python="))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(python.split("=", 1)[1] + ".0")


def torch_requirements(pyproject_toml: Path) -> list[str]:
    """Every requirement on torch in ``pyproject.toml``'s dependencies, as written."""
    deps = tomllib.loads(pyproject_toml.read_text())["project"]["dependencies"]
    return [str(r) for r in map(Requirement, deps) if canonicalize_name(r.name) == "torch"]


def test_torch_is_pinned_to_exactly_2_13_0_in_pyproject():
    assert torch_requirements(ROOT / "pyproject.toml") == [TORCH_PIN]


def test_makefile_setup_installs_torch_2_13_0_before_anything_else():
    assert setup_problems(ROOT / "Makefile") == []


def test_makefile_setup_installs_the_test_extra_and_the_peers():
    installs = [" ".join(args) for args in pip_installs(setup_commands(ROOT / "Makefile"))]
    assert any('.[test]' in args for args in installs), installs
    assert any("requirements-peers.txt" in args and "--no-deps" in args for args in installs)


# --------------------------------------------------------------- drift on modified copies

def _copies(tmp_path: Path) -> tuple[Path, Path, Path]:
    for name in ("environment.yml", "pyproject.toml", "Makefile"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path / "environment.yml", tmp_path / "pyproject.toml", tmp_path / "Makefile"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path.name}: update this test"
    path.write_text(text.replace(old, new))


DRIFTS = {
    "range-changed-in-conda": ("environment.yml", "  - numpy>=1.26,<3\n", "  - numpy>=1.26,<2\n",
                               "numpy"),
    "torch-pin-changed-in-conda": ("environment.yml", "pytorch=2.13.0", "pytorch=2.12.0", "torch"),
    "pin-loosened-in-conda": ("environment.yml", "nbgrader=0.9.6", "nbgrader>=0.9.6", "nbgrader"),
    "package-only-in-conda": ("environment.yml", "  - pip\n", "  - scipy>=1.11\n  - pip\n",
                              "scipy"),
    "pip-only-entry-in-conda": ("environment.yml", "      - -e .\n",
                                "      - -e .\n      - rich>=13\n", "rich"),
    "package-dropped-from-pyproject": ("pyproject.toml", '    "tqdm>=4.66",\n', "", "tqdm"),
    "test-extra-pin-changed": ("pyproject.toml", '"monai==1.6.1"', '"monai==1.6.0"', "monai"),
}


@pytest.mark.parametrize("case", list(DRIFTS))
def test_drift_is_reported_naming_the_package(case, tmp_path):
    env, pyproject, _ = _copies(tmp_path)
    filename, old, new, package = DRIFTS[case]
    _edit(tmp_path / filename, old, new)
    problems = drift(env, pyproject)
    assert len(problems) == 1 and problems[0].startswith(f"{package}:"), problems


def test_reordered_constraints_are_not_drift(tmp_path):
    env, pyproject, _ = _copies(tmp_path)
    _edit(env, "numpy>=1.26,<3", "numpy<3,>=1.26")
    assert drift(env, pyproject) == []


MAKEFILE_DRIFTS = {
    "torch-not-first": ('\t$(PY) -m pip install -q "torch==2.13.0"\n', "", "first pip install"),
    "torch-unpinned": ('install -q "torch==2.13.0"\n', 'install -q "torch"\n', "first pip install"),
    "later-install-unpinned": ('".[test]" "torch==2.13.0"', '".[test]"', "may replace torch"),
    "peers-with-deps": ("--no-deps --target", "--target", "may replace torch"),
}


@pytest.mark.parametrize("case", list(MAKEFILE_DRIFTS))
def test_makefile_drift_is_reported(case, tmp_path):
    _, _, makefile = _copies(tmp_path)
    old, new, expected = MAKEFILE_DRIFTS[case]
    _edit(makefile, old, new)
    problems = setup_problems(makefile)
    assert any(expected in p for p in problems), problems


def test_torch_pin_loosened_in_pyproject_is_caught(tmp_path):
    _, pyproject, _ = _copies(tmp_path)
    _edit(pyproject, '"torch==2.13.0"', '"torch>=2.13"')
    assert torch_requirements(pyproject) == ["torch>=2.13"]
    assert drift(tmp_path / "environment.yml", pyproject) == [
        "torch: environment.yml has '==2.13.0', pyproject.toml has '>=2.13'"]


def test_an_installed_course_holds_every_package_and_the_report_templates():
    """A cluster worker installs the course as a package (not an editable checkout): every
    folder that is a package must be in it, and the report templates with it."""
    from setuptools import find_packages

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(root), **config["packages"]["find"]))
    on_disk = {".".join(p.parent.relative_to(root).parts)
               for top in ("autograder", "scse_ref", "coursekit")
               for p in (root / top).rglob("__init__.py")}
    assert on_disk <= found, f"not installed: {sorted(on_disk - found)}"
    patterns = config["package-data"]["autograder.reports"]
    templates = [p for pattern in patterns
                 for p in (root / "autograder" / "reports").glob(pattern)]
    assert any(p.suffix in (".html", ".j2", ".jinja") for p in templates), patterns
