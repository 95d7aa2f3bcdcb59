"""scheduler.quantity: Kubernetes' own quantity parser, without loading the whole `kubernetes` client."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest


def test_simulate_and_plan_never_import_the_kubernetes_client():
    code = ("import io, sys, contextlib\n"
            "from scheduler.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['simulate', '--json']) == 0\n"
            "    assert main(['plan']) == 0\n"
            "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("text", ["500m", "1.5", "2Gi", "1e3", "100M", "0.1", "7Ki"])
def test_it_is_the_kubernetes_parser(text):
    from kubernetes.utils import parse_quantity

    from scheduler.quantity import parse_quantity as ours

    assert ours(text) == parse_quantity(text) and isinstance(ours(text), Decimal)
    with pytest.raises(ValueError):
        ours("12 parsecs")
