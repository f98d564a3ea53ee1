"""The package's shape: no import cycles (at any level), short functions, and a README layout table that
matches the files."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

PACKAGE = ROOT / "lstm_textgen"
MAX_FUNCTION_LINES = 80


def _imports(module: str, tree: ast.AST) -> set[str]:
    """The package's modules that ``module`` imports, wherever the import statement sits."""
    names = {p.stem for p in PACKAGE.glob("*.py")}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .x import y
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x
                found.update(a.name if a.name in names else "__init__" for a in node.names)
            elif node.module and node.module.split(".")[0] == "lstm_textgen":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "lstm_textgen":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    found.discard(module)
    return found


def _graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p.stem, ast.parse(p.read_text())) for p in PACKAGE.glob("*.py")}


def test_no_module_imports_one_that_imports_it_back():
    graph = {m: deps - {"__init__"} for m, deps in _graph().items() if m not in ("__init__", "__main__")}
    assert not any("__init__" in deps for m, deps in _graph().items() if m not in ("__init__", "__main__")), (
        "a module imports the package's __init__, which imports every module"
    )
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in done:
                visit(dep, [*path, dep])
        done.add(node)

    done: set[str] = set()
    for module in sorted(graph):
        visit(module, [module])
    assert not cycles, cycles


def test_the_cycle_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from .checkpoint import load_model\n")
    assert _imports("model", tree) == {"checkpoint"}


def test_no_function_is_longer_than_about_80_lines():
    long = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_the_readme_layout_table_matches_the_files():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    assert listed, "no layout table"
    missing = [p for p in listed if not (ROOT / p).exists()]
    assert not missing, f"listed but absent: {missing}"
    modules = {f"lstm_textgen/{p.name}" for p in PACKAGE.glob("*.py")} - {
        "lstm_textgen/__init__.py",
        "lstm_textgen/__main__.py",
    }
    unlisted = sorted(modules - set(listed))
    assert not unlisted, f"modules missing from the README's layout table: {unlisted}"
