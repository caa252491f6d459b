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
