"""The container image: what the build context ships, and that the runtime does without scheduler/testing."""
import fnmatch
import os
import subprocess
import sys
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[2]


def _ignore_patterns() -> List[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "exceptions (!) are not modelled by this test"
    return patterns


def _ignored(rel: str, patterns: List[str]) -> bool:
    """Docker's rule: a path is left out when it, or a directory above it, matches a pattern."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatchcase(p, pat) for p in prefixes for pat in patterns)


def _build_context() -> List[str]:
    patterns = _ignore_patterns()
    out = []
    for root, _, files in os.walk(REPO / "scheduler"):
        for name in files:
            rel = str((Path(root) / name).relative_to(REPO)).replace(os.sep, "/")
            if not _ignored(rel, patterns):
                out.append(rel)
    return out


def test_the_build_context_leaves_out_the_testing_package():
    context = _build_context()
    assert "scheduler/cli.py" in context and "scheduler/daemon.py" in context
    assert "scheduler/bench/standin.py" in context and "scheduler/k8s/__init__.py" in context
    # `pip install .` in the image installs the packages it finds there: none under scheduler/testing
    assert not [f for f in context if f.startswith("scheduler/testing/")]


def test_the_dockerfile_copies_the_package_metadata():
    copied = set()
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            copied.update(line.split()[1:-1])
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (REPO / name).exists():
            assert name in copied, f"the image build needs {name}"
    assert "scheduler" in copied


def test_the_dockerfile_build_fails_if_the_testing_package_got_in():
    text = (REPO / "Dockerfile").read_text()
    assert '! python -c "import scheduler.testing"' in text


# Runs every scheduler module with scheduler.testing unimportable, as in the image.
_WITHOUT_TESTING = r"""
import importlib, pkgutil, sys

class NoTesting:
    def find_spec(self, name, path=None, target=None):
        if name == "scheduler.testing" or name.startswith("scheduler.testing."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTesting())
import scheduler
for info in pkgutil.walk_packages(scheduler.__path__, "scheduler.", onerror=lambda name: None):
    if not info.name.startswith("scheduler.testing") and not info.name.endswith("__main__"):
        importlib.import_module(info.name)
from scheduler.cli import main
sys.exit(main(["bench", "--workload", "SchedulingBasic", "--target", "stand-in", "--nodes", "2", "--pods", "2"]))
"""


def test_the_runtime_imports_nothing_from_testing_and_bench_stand_in_says_why_it_cannot_run():
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_TESTING], capture_output=True, text=True,
                          timeout=120, cwd=str(REPO))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "test utility" in lines[0] and "not shipped in the container image" in lines[0]
