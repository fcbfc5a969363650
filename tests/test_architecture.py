"""The structure docs/architecture.md describes is the structure of the code: the order of the apps
is pyproject.toml's import contract (which `lint-imports` enforces in `make test`), every package of
app code is on the package map, no module of app code outgrows 600 lines, and no project module is
in an import cycle."""

import re
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
APPS = ("spaces_project", "accounts", "rooms", "recordings", "moderation")
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
CONTRACTS = {
    c["id"]: c
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}
MAX_MODULE_LINES = 600


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/architecture.md has no section '## {title}'"
    return match.group(1)


def _app_code() -> list[Path]:
    return [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and "__pycache__" not in path.parts
    ]


def test_the_documented_app_order_is_the_import_contract():
    section = _section("The apps and their order")
    documented = re.findall(r"^\d+\. `(\w+)`", section, re.M)
    layers = CONTRACTS["apps"]["layers"]
    assert documented == list(reversed(layers)), "docs/architecture.md lists the apps lowest first"
    exceptions = {rule.split(" -> ")[0] for rule in CONTRACTS["apps"].get("ignore_imports", [])}
    documented_exceptions = set(re.findall(r"`(spaces_project\.\w+)`", section))
    assert documented_exceptions == exceptions, "the contract's exceptions are the documented ones"


def test_the_audio_core_contract_is_documented():
    section = _section("The apps and their order")
    contract = CONTRACTS["audio-core"]
    assert contract["source_modules"] == ["rooms.audio"] and "django" in contract["forbidden_modules"]
    assert "`rooms/audio/`" in section


def test_every_package_of_app_code_is_on_the_package_map_and_every_entry_exists():
    section = _section("The package map")
    mapped = set(re.findall(r"^\| `([\w/]+/)` \|", section, re.M))
    packages = {
        path.parent.relative_to(ROOT).as_posix() + "/"
        for path in _app_code()
        if path.name == "__init__.py" and not {"templatetags", "management", "commands"} & set(path.parts)
    }
    assert packages - mapped == set(), "packages missing from docs/architecture.md's package map"
    assert mapped - packages == set(), "the package map names packages that do not exist"


def test_no_module_of_app_code_is_over_600_lines():
    long = {
        path.relative_to(ROOT).as_posix(): n
        for path in _app_code()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, "split these into packages by domain"


def test_no_project_module_is_in_an_import_cycle():
    graph = grimp.build_graph(*APPS, cache_dir=None)
    modules = sorted(graph.modules)
    # Tarjan's strongly connected components over the import graph.
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    assert cycles == []
