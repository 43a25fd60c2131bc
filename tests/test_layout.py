"""The layout: runtime code never imports the development tooling, and the Docker image holds the runtime only.

Runtime code is the package team_code/ and the top-level files the Dockerfile copies (the entry points); the
tooling is simulators/ and tools/, which may import the runtime but never the other way round. Imports are read
with ast, so a comment or a string that names a tool is no import, and an import inside a function is one.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLING = ("simulators", "tools")


def copy_sources() -> list[str]:
    """The paths the Dockerfile's COPY lines take from the build context (without a trailing slash)."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words and words[0].upper() in {"COPY", "ADD"}:
            args = [word for word in words[1:] if not word.startswith("--")]
            sources += [source.rstrip("/") for source in args[:-1]]
    return sources


def runtime_files() -> list[Path]:
    files = sorted((ROOT / "team_code").rglob("*.py"))
    files += [ROOT / source for source in copy_sources() if source.endswith(".py")]
    return files


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import, and every importlib.import_module / __import__ of a literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function in {"import_module", "__import__"}:
                found.append((node.lineno, node.args[0].value))
    return found


def test_runtime_code_never_imports_the_simulators_or_tools():
    offenders = [f"{path.relative_to(ROOT)}:{line}: imports {module}" for path in runtime_files()
                 for line, module in imported(path) if module.split(".")[0] in TOOLING]
    assert offenders == []


def test_the_runtime_files_are_found():
    names = {str(path.relative_to(ROOT)) for path in runtime_files()}
    assert {"team_code/__init__.py", "driver.py", "train_model.py"} <= names
    assert not any(name.startswith(TOOLING) for name in names)


def test_the_docker_build_context_is_exactly_what_the_dockerfile_copies():
    sources = set(copy_sources())
    assert "team_code" in sources
    assert not any(source.split("/")[0] in (*TOOLING, "tests", "docs") for source in sources)
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert rules[0] == "*", "an allow-list: everything out first"
    assert {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")} == sources
    assert all((ROOT / source).exists() for source in sources)
