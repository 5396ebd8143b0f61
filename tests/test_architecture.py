"""The package's layers: imports only go down, stages never import each other, and no module imports itself back.

The contracts live in pyproject.toml (`[tool.importlinter]`) and run here, so a wrong import fails CI."""

import logging
import re
import sys
import tomllib
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "hala_release"


def _contracts() -> list[dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def test_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # lint-imports reads pyproject.toml from the working folder
    # lint-imports configures logging with dictConfig, which disables every logger that exists by then: the
    # package's module loggers, for every later test of the session that reads their warnings.
    enabled = [logger for logger in logging.root.manager.loggerDict.values()
               if isinstance(logger, logging.Logger) and not logger.disabled]
    try:
        code = lint_imports(no_cache=True, no_logo=True)
    finally:
        for logger in enabled:
            logger.disabled = False
    assert code == 0, capsys.readouterr().out[-4000:]


def test_contracts_list_no_exceptions_and_cover_every_stage():
    contracts = _contracts()
    assert {contract["type"] for contract in contracts} == {"layers", "independence"}
    assert not [contract["name"] for contract in contracts if contract.get("ignore_imports")]
    stages = {f"{PACKAGE}.stages.{path.parent.name}" for path in (REPO / PACKAGE / "stages").glob("*/__init__.py")}
    independent = next(contract for contract in contracts if contract["type"] == "independence")
    assert set(independent["modules"]) == stages  # a new stage must join the contract


def import_cycles(graph) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan's strongly connected
    components, iterative so a deep package cannot hit the recursion limit); a module importing itself counts."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, imported = work[-1]
            step = next(imported, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.find_modules_directly_imported_by(step)))))
                elif step in on_stack:
                    low[module] = min(low[module], index[step])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1 or module in graph.find_modules_directly_imported_by(module):
                    cycles.append(sorted(group))
    return cycles


def _describe(graph, group: list[str]) -> str:
    lines = []
    for importer in group:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & set(group)):
            where = sorted(d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported))
            lines.append(f"  {importer} -> {imported} (line {', '.join(map(str, where))})")
    return "\n".join(lines)


def test_no_import_cycles_between_modules():
    """Also function-level (lazy) and TYPE_CHECKING imports: a cycle hidden inside a function is still a cycle."""
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(graph, group) for group in cycles)


def test_cycle_finder_sees_a_lazy_cycle(tmp_path, monkeypatch):
    """The check above would pass vacuously if it missed cycles: a cycle made by a function-level import."""
    package = tmp_path / "cyclic_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic_pkg import b\n")
    (package / "b.py").write_text("def late():\n    from cyclic_pkg import c\n")
    (package / "c.py").write_text("import cyclic_pkg.a\n")
    (package / "d.py").write_text("from cyclic_pkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclic_pkg", cache_dir=None)
    assert import_cycles(graph) == [["cyclic_pkg.a", "cyclic_pkg.b", "cyclic_pkg.c"]]
    sys.modules.pop("cyclic_pkg", None)



def test_modules_outside_the_layers_import_nothing_of_the_package():
    """The layers contract only binds the layers it names: a module outside them (package data such as
    `resources`, or a new top-level module) must not import the package, or it could hide an upward import."""
    layers = next(contract for contract in _contracts() if contract["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    outside = {m for m in graph.modules if m != PACKAGE and not any(m == n or m.startswith(n + ".") for n in named)}
    assert {m: sorted(graph.find_modules_directly_imported_by(m)) for m in outside
            if graph.find_modules_directly_imported_by(m)} == {}
