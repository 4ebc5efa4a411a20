"""The package's imports as a graph, counting imports inside functions: cycles, subpackage arrows, the layout picture.

    python tools/import_graph.py              # the arrows between subpackages, and any cycle
    python tools/import_graph.py --draw docs/package_layout.png
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dcgan"
SUBPACKAGES = ("settings", "data", "evaluation", "training", "lab")
ENTRY_POINTS = ("dcgan", "dcgan.cli", "dcgan.__main__")  # the public API and the command line use everything
# the shared services at the root, in two layers: files, logs and pictures below everything; the models and
# what loads, places and samples them above the data
BASE = ("log", "sizes", "diskio", "extras", "provenance", "checkpoint", "viz", "player")
MODELS = ("models", "runtime", "sample", "weights")
# what each part may import besides itself: each layer only the layers below it; lab, the CLI and the public
# API anything; nothing imports lab but them
MAY_IMPORT = {
    "base": (),
    "settings": ("base",),
    "data": ("settings", "base"),
    "models": ("data", "settings", "base"),
    "evaluation": ("models", "data", "settings", "base"),
    "training": ("evaluation", "models", "data", "settings", "base"),
    "lab": ("training", "evaluation", "models", "data", "settings", "base"),
    "cli": ("lab", "training", "evaluation", "models", "data", "settings", "base"),
    "dcgan": ("lab", "training", "evaluation", "models", "data", "settings", "base"),
    "__main__": ("cli",),
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports, at the top or inside a function. A
    subpackage's `__init__` counts only where something is imported from it by name (not a submodule)."""
    files = {module_name(p, package): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in files}
            elif isinstance(node, ast.ImportFrom):
                base = (".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                        if node.level else node.module or "")
                if base.split(".")[0] != package.name:
                    continue
                for a in node.names:
                    found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base)
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (strongly connected groups of more than one module)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def part_of(module: str) -> str:
    """The subpackage a module belongs to, base or models for the shared services, or the entry point itself."""
    if module in ENTRY_POINTS:
        return module.split(".")[-1]
    second = module.split(".")[1]
    if second in SUBPACKAGES:
        return second
    if second in BASE or second in MODELS:
        return "base" if second in BASE else "models"
    raise ValueError(f"{module} belongs to no part: add it to BASE or MODELS in tools/import_graph.py")


def wrong_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point the wrong way (MAY_IMPORT), as "a -> b"."""
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                  if part_of(a) != part_of(b) and part_of(b) not in MAY_IMPORT[part_of(a)])


def arrows(graph: dict[str, set[str]]) -> Counter:
    """(from part, to part) -> how many module imports make that arrow."""
    return Counter((part_of(a), part_of(b)) for a, targets in graph.items() for b in targets
                   if part_of(a) != part_of(b))


def draw(graph: dict[str, set[str]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # layers, bottom to top: each part imports only from the layers below it (lab and the entry points: anything)
    where = {"base": (0.4, 0.0), "settings": (0.4, 0.16), "data": (0.4, 0.32), "models": (0.4, 0.48),
             "evaluation": (0.4, 0.64), "training": (0.4, 0.8), "lab": (0.4, 0.96), "cli": (0.2, 1.1),
             "dcgan": (0.6, 1.1)}
    label = {"base": "shared: log, sizes, diskio, extras, provenance,\ncheckpoint, viz, player",
             "models": "shared: models, runtime, sample, weights",
             "dcgan": "dcgan/__init__.py\n(the public API)", "cli": "cli.py\n(the command line)",
             "settings": "settings/\nconfig, recipes, compat, errors",
             "data": "data/\nsources, decode, cache,\ndataset, batches, conditions",
             "evaluation": "evaluation/\nfeatures, metrics, evaluate",
             "training": "training/\nloop, steps, state, losses, ...",
             "lab": "lab/\ncell, rerun, watch, runs, compare,\nexplore, animations, ..."}
    fig, ax = plt.subplots(figsize=(9, 10))
    ax.set_axis_off()
    for (a, b), n in sorted(arrows(graph).items()):
        if a in ("__main__", "cli", "dcgan"):  # the entry points import every part: drawn as a note
            continue
        (x0, y0), (x1, y1) = where[a], where[b]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="#555", lw=0.6 + 0.2 * min(n, 10), alpha=0.6,
                                    shrinkA=22, shrinkB=22,
                                    connectionstyle=f"arc3,rad={-0.1 * round((y0 - y1) / 0.16 - 1):.2f}"))
    for part, (x, y) in where.items():
        colour = "#ffe9c6" if part in ("lab", "cli", "dcgan") else "#eeeeee" if part in ("base", "models") else "#dcecff"
        ax.text(x, y, label[part], ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.5", fc=colour, ec="#333"))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.06, 1.16)
    ax.text(0.4, 1.03, "import every part", ha="center", fontsize=8, color="#555")
    ax.set_title("dcgan's parts and their imports: an arrow A -> B where A imports B (thicker: more modules);\n"
                 "every arrow points down, and nothing below lab imports it", fontsize=10)
    fig.savefig(out, dpi=110, bbox_inches="tight")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draw", metavar="PNG", help="draw the subpackages and their arrows")
    args = p.parse_args()
    graph = imports()
    for (a, b), n in sorted(arrows(graph).items()):
        print(f"{a:>10} -> {b:<10} {n}")
    print("cycles:", cycles(graph) or "none")
    print("arrows the wrong way:", wrong_arrows(graph) or "none")
    if args.draw:
        draw(graph, Path(args.draw))
        print("wrote", args.draw)


if __name__ == "__main__":
    main()
