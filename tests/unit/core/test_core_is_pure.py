"""The core makes scheduling decisions only: no `kubernetes`, no network, importable on its own."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[3] / "scheduler" / "core"


def test_core_modules_import_without_kubernetes_or_network_libraries():
    modules = sorted(
        "scheduler." + ".".join(path.relative_to(CORE.parent).with_suffix("").parts)
        for path in CORE.rglob("*.py") if path.name != "__init__.py"
    )
    blocked = ["kubernetes", "urllib3", "requests", "prometheus_api_client", "socket", "http"]
    code = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked) + \
        "".join(f"import {module}\n" for module in modules)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=CORE.parents[1])
    assert result.returncode == 0, result.stderr
    assert len(modules) > 10


def test_core_sources_name_no_kubernetes_import():
    offenders = [
        str(path) for path in CORE.rglob("*.py")
        if any(line.lstrip().startswith(("import kubernetes", "from kubernetes")) for line in path.read_text().splitlines())
    ]
    assert offenders == []
