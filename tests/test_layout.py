"""The package's layout: no import cycle (imports inside functions count), every arrow pointing down the layers
docs/package.md draws, and nothing but the CLI and the public API importing the notebook-facing lab."""

import importlib.util
import pkgutil
import sys
from pathlib import Path

import dcgan

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_graph.py"


def _tool():
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


def test_no_cycle_and_every_arrow_points_down():
    tool = _tool()
    graph = tool.imports()
    assert "dcgan.training.loop" in graph and "dcgan.lab.watch" in graph  # the graph sees the subpackages
    assert "dcgan.settings.config" in graph["dcgan.models"]  # and imports inside functions
    assert tool.cycles(graph) == []
    assert tool.wrong_arrows(graph) == []
    users_of_lab = {a for a, targets in graph.items() for b in targets
                    if b.startswith("dcgan.lab") and not a.startswith("dcgan.lab")}
    assert users_of_lab <= {"dcgan", "dcgan.cli"}, users_of_lab
    # the checks would see a wrong arrow and a cycle
    assert tool.wrong_arrows({"dcgan.data.sources": {"dcgan.training.loop"}}) == [
        "dcgan.data.sources -> dcgan.training.loop"]
    assert tool.cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]


def test_every_module_imports_on_its_own_and_says_what_it_holds():
    for info in pkgutil.walk_packages(dcgan.__path__, "dcgan."):
        module = importlib.import_module(info.name)
        assert module.__doc__ and module.__doc__.strip(), info.name
    tool = _tool()
    for name in tool.imports():
        tool.part_of(name)  # every module belongs to a part the picture draws
