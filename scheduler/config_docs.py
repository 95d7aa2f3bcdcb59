"""The configuration reference in docs/configuration.md, generated from `scheduler.config.OPTIONS`.

The table between the markers `<!-- generated:options -->` and
`<!-- /generated:options -->` is produced here, so it cannot drift from the
code; the prose around it is written by hand.

    python -m scheduler.config_docs            # print the generated table
    python -m scheduler.config_docs --write    # rewrite the table in docs/configuration.md
    python -m scheduler.config_docs --check    # exit 1 when docs/configuration.md is out of date

`tests/unit/test_config_docs.py` fails when the file and the options differ.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from scheduler.config import OPTIONS, Config, Option, parse_bool, parse_memory, parse_spread_defaults

BEGIN = "<!-- generated:options -->"
END = "<!-- /generated:options -->"
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
REGENERATE = "python -m scheduler.config_docs --write"
_MISSING = object()


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _quantity(value: int) -> str:
    """Bytes as the largest binary suffix that divides them exactly (1073741824 -> 1Gi)."""
    for suffix, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


def format_default(option: Option, value: Any) -> str:
    """A default as a user would write it on the command line."""
    if value is _MISSING:
        return "—"
    if isinstance(value, bool):
        return _code("true" if value else "false")
    if option.parse is parse_memory and isinstance(value, int):
        return _code(_quantity(value))
    if option.parse is parse_spread_defaults:
        return _code(",".join(f"{key}={skew}:{'DoNotSchedule' if hard else 'ScheduleAnyway'}" for key, skew, hard in value))
    if isinstance(value, tuple) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return _code(",".join(f"{k}={_number(v)}" for k, v in value))
    if isinstance(value, tuple):
        return _code(",".join(str(v) for v in value))
    if value == "":
        return '`""`'
    return _code(str(value))


def default_text(option: Option) -> str:
    """The built-in default of one option, as format_default writes it."""
    return format_default(option, _defaults().get(option.attr, _MISSING))


def _defaults() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _value_form(option: Option) -> str:
    """What the flag takes: its metavar, true|false, or the choices its parser names."""
    if option.parse is parse_bool:
        return _code("true|false")
    if option.metavar:
        return _code(option.metavar)
    try:
        option.parse("\0")  # a choice parser's error names its choices
    except Exception as exc:  # noqa: BLE001 - any other error: nothing to show
        message = str(exc)
        if message.startswith("expected one of "):
            return _code("|".join(c.strip() for c in message[len("expected one of "):].split(",")))
    return ""


def subcommands_by_flag() -> Dict[str, List[str]]:
    """Which subcommands accept each flag, read from the CLI's own parser (so scopes cannot drift)."""
    from scheduler.cli import build_parser  # lazy: the CLI is only needed to generate

    parser = build_parser()
    found: Dict[str, List[str]] = {}
    for action in parser._actions:  # argparse keeps subparsers here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                for flag in sub._option_string_actions:
                    found.setdefault(flag, []).append(command)
    return found


def reference_markdown() -> str:
    """The options table (Markdown), one row per entry of `scheduler.config.OPTIONS`, in its order."""
    defaults = _defaults()
    commands = subcommands_by_flag()
    lines = [
        "| flag / config key | value | default | subcommands | meaning |",
        "|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        where = ", ".join(commands.get(option.flag, [])) or "none"
        lines.append(
            f"| {_code(option.flag)} | {_value_form(option)} | {format_default(option, defaults.get(option.attr, _MISSING))}"
            f" | {where} | {_cell(option.help)} |"
        )
    return "\n".join(lines) + "\n"


def generated_block() -> str:
    """The markers with the table between them, as they appear in docs/configuration.md."""
    return (f"{BEGIN}\n<!-- generated from scheduler/config.py by `{REGENERATE}`; do not edit by hand -->\n\n"
            f"{reference_markdown()}{END}")


def extract_block(text: str) -> Optional[str]:
    """The generated block of a document (markers included), or None when its markers are missing."""
    start = text.find(BEGIN)
    stop = text.find(END, start + len(BEGIN)) if start >= 0 else -1
    if start < 0 or stop < 0:
        return None
    return text[start:stop + len(END)]


def render_document(text: str) -> str:
    """`text` with its generated block replaced by a fresh one."""
    block = extract_block(text)
    if block is None:
        raise ValueError(f"no {BEGIN} ... {END} markers")
    return text.replace(block, generated_block(), 1)


def check(path: Path = DOC_PATH) -> Optional[str]:
    """None when `path` holds the current table, else a message saying what to run."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"{path}: cannot read ({exc.strerror}); regenerate with: {REGENERATE}"
    block = extract_block(text)
    if block is None:
        return f"{path}: no {BEGIN} ... {END} markers around the options table"
    if block != generated_block():
        return (f"{path} is out of date with the options in scheduler/config.py; "
                f"regenerate it with: {REGENERATE}")
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler.config_docs", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the generated table in the document")
    mode.add_argument("--check", action="store_true", help="exit 1 when the document is out of date")
    parser.add_argument("--path", type=Path, default=DOC_PATH, help="the document (default: docs/configuration.md)")
    args = parser.parse_args(argv)
    if args.check:
        problem = check(args.path)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        return 0
    if args.write:
        try:
            updated = render_document(args.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"{args.path}: {exc}", file=sys.stderr)
            return 1
        args.path.write_text(updated, encoding="utf-8")
        return 0
    sys.stdout.write(reference_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
