"""The device package's imports go one way: only the package's run() imports app, no module
imports a name from the package itself (it would import back up), and the modules' imports,
at the top and inside functions, form no circle. Read from the sources with ast."""
import ast
import pathlib

PKG = pathlib.Path(__file__).resolve().parents[2] / "firmware/edgemcp"


def imports():
    # module -> the package's modules (or "__init__" for a package-level name) it imports
    mods = {p.stem for p in PKG.glob("*.py")}
    graph = {}
    for p in sorted(PKG.glob("*.py")):
        out = set()
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom) and n.level == 1:
                if n.module:
                    out.add(n.module.split(".")[0])
                else:
                    out.update(a.name if a.name in mods else "__init__" for a in n.names)
        graph[p.stem] = out
    return graph


def test_only_the_package_run_imports_app():
    g = imports()
    assert "app" in g["__init__"]
    assert [m for m, deps in g.items() if "app" in deps] == ["__init__"]


def test_no_module_imports_back_from_the_package():
    assert [m for m, deps in imports().items() if "__init__" in deps] == []


def test_no_import_circle():
    g = imports()
    done, path = set(), []

    def visit(m):
        assert m not in path, "import circle: " + " -> ".join(path[path.index(m):] + [m])
        if m in done:
            return
        path.append(m)
        for d in sorted(g.get(m, ())):
            visit(d)
        path.pop()
        done.add(m)

    for m in sorted(g):
        visit(m)
