"""docs/configuration.md is generated from the options in scheduler/config.py and must not drift."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scheduler import config_docs
from scheduler.config import OPTIONS, Config, Option, parse_memory

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"


def test_configuration_reference_is_up_to_date() -> None:
    problem = config_docs.check(DOC)
    assert problem is None, problem


def test_every_option_has_one_row_with_its_default() -> None:
    table = config_docs.reference_markdown()
    for option in OPTIONS:
        rows = [line for line in table.splitlines() if line.startswith(f"| `{option.flag}` |")]
        assert len(rows) == 1, f"{option.flag}: {len(rows)} rows"
    mem_row = next(line for line in table.splitlines() if line.startswith("| `--mem` |"))
    assert "`1Gi`" in mem_row
    assert f"`{Config.scheduler_name}`" in next(line for line in table.splitlines()
                                                 if line.startswith("| `--scheduler-name` |"))


def test_subcommands_come_from_the_cli_parser() -> None:
    table = config_docs.reference_markdown()
    row = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| `--")}
    assert "| run, simulate, plan, explain, bench |" in row["| `--alpha`"]
    assert "| run |" in row["| `--bind-workers`"]
    assert "| run, plan, explain |" in row["| `--kubeconfig`"]
    assert "| plan |" in row["| `--node`"]


def test_defaults_are_written_as_a_user_would_type_them() -> None:
    mem = Option("mem", parse_memory, "")
    assert config_docs.format_default(mem, 512 << 20) == "`512Mi`"
    assert config_docs.format_default(mem, 1000) == "`1000`"
    other = Option("x", str, "")
    assert config_docs.format_default(other, True) == "`true`"
    assert config_docs.format_default(other, ("A", "B")) == "`A,B`"
    assert config_docs.format_default(other, (("A", 1.0), ("B", 0.5))) == "`A=1,B=0.5`"
    assert config_docs.format_default(other, "") == '`""`'
    assert config_docs.format_default(other, "a|b") == "`a\\|b`"


def test_write_replaces_only_the_generated_block(tmp_path: Path) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(f"# Title\n\nprose before\n\n{config_docs.BEGIN}\nstale\n{config_docs.END}\n\nprose after\n",
                   encoding="utf-8")
    assert config_docs.main(["--check", "--path", str(doc)]) == 1
    assert config_docs.main(["--write", "--path", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nprose before\n\n") and text.endswith("\n\nprose after\n")
    assert "stale" not in text
    assert config_docs.main(["--check", "--path", str(doc)]) == 0


def test_check_names_the_command_to_regenerate(tmp_path: Path) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(f"{config_docs.BEGIN}\n{config_docs.END}\n", encoding="utf-8")
    problem = config_docs.check(doc)
    assert problem is not None and "python -m scheduler.config_docs --write" in problem


def test_importing_the_generator_adds_no_kubernetes_modules() -> None:
    code = (
        "import sys\n"
        "import scheduler.config\n"
        "before = {m for m in sys.modules if m.split('.')[0] == 'kubernetes'}\n"
        "import scheduler.config_docs\n"
        "after = {m for m in sys.modules if m.split('.')[0] == 'kubernetes'}\n"
        "assert after == before, sorted(after - before)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
