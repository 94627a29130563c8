"""The layout is enforced: the import contracts of `.importlinter` hold (and would catch a
violation), no two packages of vangnet import each other, and no module imports a private
name (``_name``) of another package. See docs/architecture.md."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import vangnet

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(vangnet.__file__).resolve().parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(*, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / ".importlinter")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_are_kept() -> None:
    done = _lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # media is the bottom layer: importing a case module breaks the layers
        ("media/sniff.py", "import vangnet.review.cases", "Layers: the pipeline"),
        # the domain never imports the doors
        ("review/priority.py", "import vangnet.web.deps", "The domain never imports the doors"),
        # hashing stays pure, even through a function-local import
        (
            "signals/exact.py",
            "def _hidden() -> None:\n    import sqlalchemy\n",
            "Decoding, hashing and indexing are pure",
        ),
        # the doors sit above the domain: the JSON API never imports the command line
        ("api/limits.py", "import vangnet.cli.output", "Layers: the pipeline"),
        # independent peers in one layer (actions | audit | signals | sources) may not import
        # each other
        ("sources/hls.py", "import vangnet.actions.webhooks", "Layers: the pipeline"),
        # a private module is for its own package
        ("match/results.py", "import vangnet.index._segmented", "Private modules"),
        # two modules of one package importing each other
        ("media/sniff.py", "import vangnet.media.image", "No import cycles between the modules"),
    ],
)
def test_a_violation_breaks_a_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    """The contracts are not vacuous: the same configuration over a copy of the package with
    one forbidden import added fails, naming the contract."""
    copy = tmp_path / "vangnet"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "static"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    done = _lint_imports(pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = [ln for ln in done.stdout.splitlines() if " BROKEN" in ln]
    assert any(contract in ln for ln in broken), done.stdout


def _modules(src: Path = SRC) -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path, ast.parse(path.read_text(encoding="utf-8"))


def _imports(name: str, path: Path, tree: ast.Module) -> Iterator[tuple[ast.stmt, str]]:
    """Every import in the module (also inside functions), as an absolute module name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield node, ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node, node.module


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "vangnet" and len(parts) > 1 else None


def package_cycles(src: Path = SRC) -> set[str]:
    """Each import cycle between top-level packages (or modules) of vangnet, as ``a -> b -> a``."""
    edges: dict[str, set[str]] = {}
    for name, path, tree in _modules(src):
        home = _top(name)
        if home is None:
            continue
        for _node, target in _imports(name, path, tree):
            dst = _top(target)
            if dst is not None and dst != home:
                edges.setdefault(home, set()).add(dst)

    def reaches(start: str, goal: str) -> list[str] | None:
        stack, seen = [(start, [start])], {start}
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == goal:
                    return [*trail, nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
        return None

    return {" -> ".join([a, *c]) for a in edges for b in edges[a] if (c := reaches(b, a))}


def private_imports(src: Path = SRC) -> list[str]:
    """Each ``from vangnet.x import _name`` (or a ``_module``) from outside package ``x``."""
    found = []
    for name, path, tree in _modules(src):
        home = _top(name)
        for node, target in _imports(name, path, tree):
            dst = _top(target)
            if dst is None or dst == home:
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            private = [
                part
                for part in [*target.split("."), *names]
                if part.startswith("_") and not part.startswith("__")
            ]
            if private:
                found.append(f"{path.relative_to(src.parent)}:{node.lineno}: {target} {private}")
    return found


def test_no_package_imports_another_that_imports_it_back() -> None:
    """Top-level packages (and modules) of vangnet form no import cycle: the same rule as the
    layers contract, written out so a failure names the cycle."""
    assert package_cycles() == set()


def test_no_private_name_is_imported_from_another_package() -> None:
    """A name that is really shared is made public (or moved) instead."""
    assert private_imports() == []


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """On a copy of the package: a hidden back edge (an import inside a function) is a cycle,
    and a private name imported from another package is reported; one within a package is not."""
    copy = tmp_path / "vangnet"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__", "static"))
    sniff = copy / "media" / "sniff.py"
    sniff.write_text(
        sniff.read_text(encoding="utf-8")
        + "\n\ndef _hidden() -> None:\n    from vangnet.signals.pdq import _rgb_array\n",
        encoding="utf-8",
    )
    inside = copy / "signals" / "exact.py"
    inside.write_text(
        inside.read_text(encoding="utf-8") + "\nfrom vangnet.signals.pdq import _rgb_array\n",
        encoding="utf-8",
    )
    assert package_cycles(copy) == {"media -> signals -> media", "signals -> media -> signals"}
    found = private_imports(copy)
    assert len(found) == 1
    assert found[0].startswith("vangnet/media/sniff.py:")
    assert "_rgb_array" in found[0]
