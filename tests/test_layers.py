"""The package drawn as imports: each module may import only from its own layer or below, so
no arrow runs back up. Function-level imports count too (they are deferred, not absent)."""
import ast
from pathlib import Path

import torch

import unembed

PACKAGE = Path(unembed.__file__).parent
LAYERS = [   # lowest first
    ["unembed.errors", "unembed.version"],
    ["unembed.config", "unembed.files", "unembed.runtime", "unembed.vectors"],
    ["unembed.text", "unembed.encoders"],
    ["unembed.diffusion", "unembed.data", "unembed.eval"],
    ["unembed.model"],
    ["unembed.sampling"],
    ["unembed.search", "unembed.lm", "unembed.corrector"],
    ["unembed.inverter"],
    ["unembed.train"],
    ["unembed.audit", "unembed.stores", "unembed.server"],
    ["unembed.cli", "unembed"],
]
ROOT_MODULES = 8


def layer_of(module: str) -> int:
    best = None
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (index, name)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "checkpoints" in path.parts:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            yield ".".join(parts[:-1]), ".".join(parts[:-1]), path
        else:
            yield ".".join(parts), ".".join(parts[:-1]), path


def imports(package: str, path: Path):
    """(line, imported module) for every import of the package's own modules."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("unembed"):
                continue
            for alias in node.names:   # `from .. import atomic` imports the module unembed.atomic
                full = f"{target}.{alias.name}"
                yield node.lineno, full if (PACKAGE.parent / full.replace(".", "/")).exists() or \
                    (PACKAGE.parent / (full.replace(".", "/") + ".py")).exists() else target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("unembed"):
                    yield node.lineno, alias.name


def test_no_import_runs_up_a_layer():
    upward = []
    for module, package, path in modules():
        own = layer_of(module)
        for line, target in imports(package, path):
            if layer_of(target) > own:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} {module} (layer {own}) imports {target} "
                              f"(layer {layer_of(target)})")
    assert not upward, "\n".join(upward)


def test_the_walk_sees_imports():
    """The walk itself: it finds the inverter's imports of the search, and flags a made-up upward one."""
    found = {t for _, t in imports("unembed", PACKAGE / "inverter.py")}
    assert "unembed.search.correct" in found and "unembed.files.atomic" in found
    assert layer_of("unembed.inverter") > layer_of("unembed.search.correct")
    assert layer_of("unembed.cli") > layer_of("unembed.text.vocabulary")


def test_the_package_root_is_its_public_face():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= ROOT_MODULES, root
    assert {"__init__.py", "cli.py", "inverter.py"} <= set(root)


def test_the_search_reads_the_model_only_through_the_decoder():
    for folder in ("search", "sampling"):
        for path in (PACKAGE / folder).glob("*.py"):
            assert "Inverter" not in path.read_text(), path
    from unembed.inverter import Inverter
    from unembed.model import ConditionalMDLM
    from unembed.model.config import ModelConfig
    from unembed.search.decoder import Decoder
    inverter = Inverter(ConditionalMDLM(ModelConfig(vocab_size=16, max_len=8, cond_dim=8, hidden=16, layers=1,
                                                    heads=2)), vocab=object())
    assert isinstance(inverter, Decoder)
    assert inverter.length_guesses(torch.randn(3, 8), 2).shape == (3, 2)
    assert inverter.blank(torch.randn(3, 8), torch.tensor([2, 5, 1])).shape == (3, 5)
    assert not isinstance(object(), Decoder)
