"""Import rules of the package, read from the source with `ast` (nothing is
imported): which layer may use which, so that the Textual-free core stays
usable without the app, the analysis without a command line, and start-up
stays cheap.  Every import counts, also one inside a function; relative
imports are resolved to absolute names.

The layers, bottom up: errors/units/model, formats and layers (reading),
analysis (computing), views (rendering), cli and app (the two front ends).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "layerscope"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or a name's module for `from X import name`)
    file: str
    line: int
    in_function: bool

    def __str__(self) -> str:
        where = "inside a function" if self.in_function else "at module level"
        return f"{self.file}:{self.line}: {self.source} imports {self.target} ({where})"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    if node.level > 1:
        base = base[:-(node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports_of(module: str) -> list[Import]:
    path, is_pkg = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    file = str(path.relative_to(ROOT.parent))
    out: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    out.append(Import(module, alias.name, file, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, is_pkg, child)
                for alias in child.names:
                    # `from pkg import mod` imports the module pkg.mod
                    sub = f"{base}.{alias.name}"
                    out.append(Import(module, sub if sub in MODULES else base, file, child.lineno, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return out


IMPORTS = list(dict.fromkeys(imp for m in MODULES for imp in _imports_of(m)))


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offending(sources: str | tuple[str, ...], targets: tuple[str, ...],
               except_in: tuple[str, ...] = ()) -> list[Import]:
    sources = (sources,) if isinstance(sources, str) else sources
    return [imp for imp in IMPORTS
            if any(_within(imp.source, s) for s in sources)
            and not any(_within(imp.source, e) for e in except_in)
            and any(_within(imp.target, t) for t in targets)]


def _report(rule: str, bad: list[Import]) -> str:
    return f"{rule}; {len(bad)} offending import(s):\n  " + "\n  ".join(map(str, bad))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (or a self
    loop), each as a sorted list: Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        n = stack.pop()
                        on_stack.discard(n)
                        comp.append(n)
                        if n == node:
                            break
                    if len(comp) > 1 or node in edges.get(node, ()):
                        found.append(sorted(comp))
    return found


def _one_cycle(comp: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the first node of a strongly connected
    component: [n0, n1, ..., n0]."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for n in frontier:
            for m in sorted(edges.get(n, ())):
                if m not in members:
                    continue
                if m == start:
                    path = [n]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if m not in prev:
                    prev[m] = n
                    nxt_frontier.append(m)
        frontier = nxt_frontier
    return comp


def _cycle_report(kind: str, cycles: list[list[str]], imports: list[Import], group) -> str:
    edges: dict[str, set[str]] = {}
    for imp in imports:
        edges.setdefault(group(imp.source), set()).add(group(imp.target))
    lines = [f"{kind} import cycle(s):"]
    for comp in cycles:
        cycle = _one_cycle(comp, edges)
        lines.append(f"  {len(comp)} tied together ({', '.join(comp)}); one cycle: " + " -> ".join(cycle))
        for x, y in zip(cycle, cycle[1:]):
            lines += [f"    {imp}" for imp in imports if group(imp.source) == x and group(imp.target) == y][:3]
    return "\n".join(lines)


def _internal(imports: list[Import]) -> list[Import]:
    return [imp for imp in imports if imp.target in MODULES and imp.target != imp.source]


def test_the_scanner_sees_imports():
    """The rules below pass vacuously if the scanner stops finding imports:
    a few that exist, of each kind (relative, package, inside a function)."""
    edges = {(imp.source, imp.target, imp.in_function) for imp in IMPORTS}
    assert ("layerscope.cli", "layerscope.cli.common", False) in edges  # from .common import ...
    assert ("layerscope.cli.report", "layerscope.views.text", True) in edges  # inside run()
    assert ("layerscope.analysis.diff", "layerscope.analysis.stack", False) in edges
    assert any(imp.source.startswith("layerscope.app") and imp.target.startswith("textual") for imp in IMPORTS)


def test_no_module_level_import_cycle():
    module_level = [imp for imp in _internal(IMPORTS) if not imp.in_function]
    edges: dict[str, set[str]] = {}
    for imp in module_level:
        edges.setdefault(imp.source, set()).add(imp.target)
    cycles = _cycles(edges)
    if cycles:
        pytest.fail(_cycle_report("module-level", cycles, module_level, lambda m: m), pytrace=False)


def test_no_import_cycle_even_through_functions():
    """An import inside a function runs later, so a cycle through one does
    not break start-up, but it still ties two modules into one: none either."""
    imports = _internal(IMPORTS)
    edges: dict[str, set[str]] = {}
    for imp in imports:
        edges.setdefault(imp.source, set()).add(imp.target)
    cycles = _cycles(edges)
    if cycles:
        pytest.fail(_cycle_report("module", cycles, imports, lambda m: m), pytrace=False)


def _area(module: str) -> str:
    """layerscope.X: the subpackage or top-level module a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_cycle_between_areas():
    """Over every import, also inside functions: the areas (cli, app, views,
    analysis, layers, formats, model, ...) form no cycle, e.g. the cli uses
    analysis and analysis never calls back into the cli."""
    imports = [imp for imp in _internal(IMPORTS)
               if _area(imp.source) != _area(imp.target) and imp.target != PACKAGE and imp.source != PACKAGE]
    edges: dict[str, set[str]] = {}
    for imp in imports:
        edges.setdefault(_area(imp.source), set()).add(_area(imp.target))
    cycles = _cycles(edges)
    if cycles:
        pytest.fail(_cycle_report("area-level", cycles, imports, _area), pytrace=False)


@pytest.mark.parametrize("sources, forbidden, except_in, rule", [
    ("layerscope.analysis",
     ("layerscope.cli", "layerscope.views", "layerscope.app", "layerscope.formats.source", "argparse", "rich",
      "textual"), (),
     "analysis computes: it does not load sources, render or parse command lines"),
    ("layerscope.views", ("layerscope.cli", "layerscope.app", "layerscope.formats.source", "argparse"), (),
     "views render what analysis computed: they neither load images nor parse command lines"),
    ("layerscope.layers", ("layerscope.analysis", "layerscope.views", "layerscope.cli", "layerscope.app"), (),
     "layers reads layers: it knows nothing above it"),
    ("layerscope.formats", ("layerscope.analysis", "layerscope.views", "layerscope.cli", "layerscope.app"), (),
     "formats reads archives: it knows nothing above it"),
    ("layerscope", ("textual",), ("layerscope.app",),
     "textual is imported only under layerscope/app/"),
    ("layerscope", ("rich",), ("layerscope.app", "layerscope.views", "layerscope.cli"),
     "rich is imported only by layerscope/views/, layerscope/cli/ and layerscope/app/"),
    ("layerscope", ("layerscope.testing",), ("layerscope.testing",),
     "layerscope.testing (synthetic archives) is for tests: the package itself does not import it"),
], ids=["analysis", "views", "layers", "formats", "textual", "rich", "testing"])
def test_import_rule(sources, forbidden, except_in, rule):
    bad = _offending(sources, forbidden, except_in)
    if bad:
        pytest.fail(_report(rule, bad), pytrace=False)


def _literal(module: str, name: str):
    tree = ast.parse(MODULES[module][0].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{module} has no {name} = ...")


def test_the_dispatcher_imports_a_command_only_when_it_runs():
    """`layerscope.cli` maps each command to its module under cli/ and imports
    it when that command runs: neither the dispatcher nor cli/common.py (which
    it imports for UsageError) imports a command module at module level, and
    every command module defines run(args)."""
    commands = _literal("layerscope.cli", "COMMANDS")
    modules = _literal("layerscope.cli", "_COMMAND_MODULES")
    assert set(modules) == set(commands)
    on_disk = {m.rsplit(".", 1)[1] for m in MODULES if m.startswith("layerscope.cli.")} - {"common"}
    assert set(modules.values()) == on_disk, "a command module without a command, or a command without its module"
    for name in on_disk:
        tree = ast.parse(MODULES[f"layerscope.cli.{name}"][0].read_text(encoding="utf-8"))
        assert any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body), f"cli/{name}.py has no run()"
    eager = [imp for imp in IMPORTS if imp.source in ("layerscope.cli", "layerscope.cli.common")
             and not imp.in_function and imp.target.startswith("layerscope.")
             and imp.target not in ("layerscope.errors", "layerscope.cli.common")]
    if eager:
        pytest.fail(_report("the dispatcher loads only errors and cli.common before a command runs", eager),
                    pytrace=False)
    commands_mods = {f"layerscope.cli.{m}" for m in on_disk}
    crossed = [imp for imp in IMPORTS if imp.source in commands_mods and imp.target in commands_mods]
    if crossed:
        pytest.fail(_report("a command module shares code through cli/common.py, not another command", crossed),
                    pytrace=False)


def test_analysis_prints_nothing():
    """Output is the views' and the front ends': a print() in analysis/ would
    write into a `--json` document or over the explorer's screen."""
    bad = []
    for module, (path, _) in MODULES.items():
        if _within(module, "layerscope.analysis"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                    bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: print()")
    if bad:
        pytest.fail("analysis/ prints:\n  " + "\n  ".join(bad), pytrace=False)
