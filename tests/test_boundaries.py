"""House rules that keep the tiers apart (docs/architecture.md, "Tiers")."""
from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO


def test_web_never_imports_torch_or_transformers(service_env):
    code = (
        "import sys\n"
        "from web import create_app\n"
        "app = create_app()\n"
        "client = app.test_client()\n"
        "client.get('/api/v1/openapi.json'); client.get('/healthz')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers'))\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**service_env, "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_worker_pool_is_solo_for_gpu_queue():
    from talesrunner.cli import worker_pool

    assert worker_pool(["gpu"]) == "solo"
    assert worker_pool(["gpu", "cpu"]) == "solo"
    assert worker_pool(["cpu"]) == "prefork"


# Each package may import only from the packages listed for it (its own included): the layers
# run shared < worker, web < training < talesrunner < bench, and web and worker never meet.
ALLOWED = {
    "shared": {"shared"},
    "worker": {"shared", "worker"},
    "web": {"shared", "web"},
    "migrations": {"shared", "migrations"},
    "training": {"shared", "worker", "training"},
    "talesrunner": {"shared", "worker", "web", "training", "migrations", "talesrunner"},
}
LAYERS = {"shared", "worker", "web", "training", "talesrunner", "bench", "migrations", "tests"}


def _imported_packages(path):
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS:
                yield top, node.lineno


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{path.relative_to(REPO)}:{line} imports {top}"
        for package, allowed in ALLOWED.items()
        for path in sorted((REPO / package).rglob("*.py"))
        for top, line in _imported_packages(path)
        if top not in allowed
    ]
    assert upward == []


def test_no_module_outside_the_tests_is_longer_than_450_lines():
    long = [
        f"{path.relative_to(REPO)}: {lines} lines"
        for package in ("shared", "worker", "web", "training", "talesrunner", "bench")
        for path in sorted((REPO / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 450
    ]
    assert long == []


def test_no_script_in_web_static_is_longer_than_450_lines():
    # The same rule for the pages' scripts: app.js imports its parts (ES modules, no bundler).
    scripts = sorted((REPO / "web" / "static").rglob("*.js"))
    long = [
        f"{path.relative_to(REPO)}: {lines} lines"
        for path in scripts
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 450
    ]
    assert len(scripts) > 1 and long == []
