"""The apps keep one direction of dependency (README, "How it is put together"): a lower app
never imports a higher one, and no two modules of one app import each other, even from
inside a function. Read from the source with ``ast``, so a new import that goes the wrong
way fails here before anyone builds on it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# app -> the apps it may import (besides itself)
MAY_IMPORT = {
    "portal": set(),
    "observations": {"portal"},
    "mlmodels": {"portal", "observations"},
    "scheduling": {"portal", "observations"},
    "alerts": {"portal", "observations", "mlmodels", "scheduling"},
    "labeling": {"portal", "observations", "mlmodels"},
}
# The project shell names every app: settings (plug-ins by dotted path), URLs, routing, the
# demo loader and the launcher. Nothing imports these back.
WIRING = {"portal/settings.py", "portal/urls.py", "portal/asgi.py", "portal/routing.py", "portal/launcher.py",
          "portal/demo.py", "portal/management/commands/load_demo.py"}  # fmt: skip


def modules(app):
    """{dotted module name: path} of an app's code (migrations left out: they are history)."""
    found = {}
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name, path):
    """Every module ``name`` imports, wherever the import stands (top of the file or in a
    function), relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)  # `from . import tasks` names a module


def test_no_app_imports_one_above_it():
    wrong = []
    for app, allowed in MAY_IMPORT.items():
        for name, path in modules(app).items():
            if str(path.relative_to(ROOT)) in WIRING:
                continue
            for imported in imports(name, path):
                top = imported.split(".")[0]
                if top in MAY_IMPORT and top != app and top not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)} imports {imported} ({app} may import only "
                                 f"{', '.join(sorted(allowed)) or 'itself'})")  # fmt: skip
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(set(wrong)))


def test_no_two_modules_of_an_app_import_each_other():
    for app in MAY_IMPORT:
        own = modules(app)
        graph = {name: {imported for imported in imports(name, path) if imported in own and imported != name}
                 for name, path in own.items()}  # fmt: skip
        cycle = _a_cycle(graph)
        assert cycle is None, f"{app}: {' -> '.join(cycle)} imports go round in a circle"


def _a_cycle(graph):
    """One cycle of ``graph`` ({node: {nodes it points to}}) as a list of nodes, or None."""
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for following in sorted(graph[node]):
            if state.get(following) == "open":
                return path[path.index(following) :] + [following]
            if following not in state and (found := visit(following)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_check_sees_an_import_inside_a_function_and_a_circle(tmp_path):
    """The checks themselves: a function-level import counts, and a circle is found."""
    module = tmp_path / "services.py"
    module.write_text("def queue():\n    from alerts.tasks import classify\n    from . import tasks\n")
    assert {"alerts.tasks", "alerts.tasks.classify", "observations.tasks"} <= set(imports("observations.services",
                                                                                          module))  # fmt: skip
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_cycle({"a": {"b"}, "b": set()}) is None
