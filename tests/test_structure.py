"""The package's shape: subpackages by pipeline stage, imports pointing one way, no circle, small modules.

Every ``import`` statement counts, wherever it stands: at the top, inside a function, or under
``if TYPE_CHECKING:``.  The graph is read from the source with :mod:`ast` (nothing is imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qa

PACKAGE = Path(qa.__file__).resolve().parent
MAX_LINES = 600
MAX_TOP_MODULES = 15

LAYERS = {
    "qa.errors": 0, "qa.types": 0, "qa.files": 0, "qa.versions": 0,
    "qa.documents": 1, "qa.onnx": 1,
    "qa.index": 2,
    "qa.answering": 3,
    "qa.engine": 4, "qa.serialize": 4,
    "qa.web": 5, "qa.cli": 6,
    "qa": 4,
}
"""Rank of each stage: a module may import modules of its own rank or lower (web → engine → answering → index → documents)."""

PUBLIC = {
    "QA", "AddReport", "AddedDocument", "Answer", "BuildReport", "Candidate", "Citation", "CorruptIndexError", "Document",
    "DocumentNotFoundError", "IndexLockedError", "IndexNotFoundError", "IndexUnavailableError", "IndexVersionError",
    "IndexedDocument", "IngestError", "ModelLoadError", "ModelMismatchError", "PageView", "Passage", "QAError", "RemoveReport", "Span",
    "StaleIndexError", "__version__", "add_documents", "build_index", "default_index_dir", "list_documents", "load",
    "remove_documents",
}
"""What ``import qa`` offers; none of it may go."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str, modules: dict[str, Path] = MODULES) -> str | None:
    """The package module an imported dotted name lives in (None outside the package)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, modules: dict[str, Path] = MODULES) -> set[str]:
    """The package modules ``module`` imports, at the top, in functions or for type checking only."""
    path = modules[module]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names = [f"{origin}.{a.name}" for a in node.names] + [origin]
        for name in names:
            target = resolve(name, modules) if name.split(".")[0] == module.split(".")[0] else None
            if target and target != module:
                found.add(target)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def layer(module: str) -> int:
    while module not in LAYERS:
        module = module.rpartition(".")[0]
    return LAYERS[module]


def import_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (``[a, b, a]``), or ``[]`` when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str]:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (circle := visit(target, path + [target])):
                return circle
        state[module] = 2
        return []

    for module in graph:
        if module not in state and (circle := visit(module, [module])):
            return circle
    return []


def test_no_import_circle() -> None:
    assert import_circle(GRAPH) == [], "import circle: " + " → ".join(import_circle(GRAPH))


def test_imports_point_down_the_pipeline() -> None:
    upward = sorted(f"{m} → {t}" for m, targets in GRAPH.items() for t in targets if layer(t) > layer(m))
    assert upward == [], "imports that point up the pipeline (web → engine → answering → index → documents)"


def test_the_graph_sees_every_kind_of_import() -> None:
    assert "qa.answering.reader" in GRAPH["qa.answering.decision"]  # a type-only import
    assert "qa.index.milvus.store" in GRAPH["qa.index.backend"]  # an import inside a function
    assert "qa.index.store" in GRAPH["qa.index.local.search"]  # an import at the top


def test_few_modules_at_the_top_and_none_too_long() -> None:
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_MODULES, sorted(top)
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_import_qa_keeps_its_public_names() -> None:
    assert PUBLIC <= set(qa.__all__) | {"__version__"}
    for name in sorted(PUBLIC):
        assert getattr(qa, name) is not None, name
    assert qa.load.__module__ == "qa.engine" and qa.add_documents.__module__ == "qa.index.updates"
    with pytest.raises(AttributeError, match="module 'qa' has no attribute 'nope'"):
        qa.nope  # noqa: B018


def test_no_module_re_exports_another() -> None:
    """A name imported from a package module is defined there, not passed on from a third (one home per job)."""
    defined: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        names = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                targets = [e for t in node.targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
        defined[module] = names
    roots = [PACKAGE, PACKAGE.parent / "tests", PACKAGE.parent / "eval", PACKAGE.parent / "app.py"]
    passed_on = set()
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in MODULES and node.module != "qa":
                    for alias in node.names:
                        if alias.name not in defined[node.module] and f"{node.module}.{alias.name}" not in MODULES:
                            passed_on.add(f"{path.name}: from {node.module} import {alias.name}")
    assert sorted(passed_on) == [], sorted(passed_on)


EVAL = PACKAGE.parent / "eval"
EVAL_MODULES = {module_name(p): p for p in sorted(EVAL.rglob("*.py"))}
EVAL_GRAPH = {m: imports_of(m, EVAL_MODULES) for m in EVAL_MODULES}
EVAL_MAY_IMPORT = {
    "eval.scoring": set(),
    "eval.bench": set(),
    "eval.training": {"eval.scoring"},
    "eval.calibration": {"eval.scoring", "eval.training"},
    "eval.choices": {"eval.bench"},
}
"""The rooms of ``eval/`` by job, and the lower rooms each may import (nothing imports upward; see eval/__init__.py)."""
MAX_FOLDER_MODULES = 10


def eval_room(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_eval_has_its_rooms_and_no_module_at_the_top() -> None:
    rooms = {eval_room(m) for m in EVAL_MODULES} - {"eval"}
    assert rooms == set(EVAL_MAY_IMPORT)
    assert sorted(p.name for p in EVAL.glob("*.py")) == ["__init__.py"]
    assert all((EVAL / room.split(".")[1] / "__init__.py").read_text(encoding="utf-8").startswith('"""') for room in rooms)


def test_eval_has_no_import_circle() -> None:
    assert "eval.bench.ingest" in EVAL_GRAPH["eval.bench.run"]  # an import inside a function
    assert "eval.scoring.dialogue_split" in EVAL_GRAPH["eval.training.real_negatives"]  # from another room
    assert import_circle(EVAL_GRAPH) == [], "import circle: " + " → ".join(import_circle(EVAL_GRAPH))
    assert import_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_eval_rooms_import_only_lower_rooms() -> None:
    upward = sorted(
        f"{m} → {t}" for m, targets in EVAL_GRAPH.items() for t in targets
        if eval_room(t) != eval_room(m) and eval_room(t) not in EVAL_MAY_IMPORT.get(eval_room(m), set())
    )
    assert upward == []


def test_eval_folders_are_small_and_modules_short() -> None:
    folders = {p.parent for p in EVAL_MODULES.values()}
    crowded = {f.name: n for f in folders if (n := len([p for p in f.glob("*.py") if p.name != "__init__.py"])) > MAX_FOLDER_MODULES}
    assert crowded == {}
    long = {m: n for m, p in EVAL_MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_tests_of_eval_mirror_its_rooms() -> None:
    tests = PACKAGE.parent / "tests" / "eval"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= {room.split(".")[1] for room in EVAL_MAY_IMPORT}
    assert [p.name for p in tests.glob("test_*.py")] == []
