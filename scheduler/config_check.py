"""`python -m scheduler.config_check [--configmap] [--source LABEL] FILE|-`: is this config valid for `run`?

Validates a config file (or, with --configmap, the `config.yaml` of a
ConfigMap manifest) exactly as `preemptive-scheduler run --config` does at
start-up, without the environment (the Deployment sets no PROMETHEUS_URL).
Silent and exit 0 when valid; one line on stderr and exit 2 when not.
`deploy.sh --set` uses it before applying an edited ConfigMap.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import List, Optional

import yaml

from scheduler.config import ConfigError, load_config, yaml_error_summary

EXIT_INVALID = 2
CONFIG_KEY = "config.yaml"


def config_text(text: str, configmap: bool, source: str) -> str:
    """The config file's text: `text` itself, or the ConfigMap's data[config.yaml]."""
    if not configmap:
        return text
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({yaml_error_summary(exc)})") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get(CONFIG_KEY), str):
        raise ConfigError(f"{source}: expected a ConfigMap with data.{CONFIG_KEY}")
    return str(data[CONFIG_KEY])


def check(text: str, source: str) -> None:
    """Raise ConfigError (naming `source`, not a temporary file) unless `text` is a valid config."""
    handle, path = tempfile.mkstemp(prefix="config-check-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        try:
            load_config({}, path, env={})
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(f"--config {path}", source)) from None
    finally:
        os.unlink(path)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler.config_check", description=__doc__.splitlines()[0])
    parser.add_argument("file", metavar="FILE", help="config file, or - for standard input")
    parser.add_argument("--configmap", action="store_true", help="FILE is a ConfigMap manifest: check its config.yaml")
    parser.add_argument("--source", default="", help="what to call the config in an error (default: FILE)")
    args = parser.parse_args(argv)
    source = args.source or ("standard input" if args.file == "-" else args.file)
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as handle:
                text = handle.read()
        check(config_text(text, args.configmap, source), source)
    except OSError as exc:
        print(f"{source}: cannot read ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_INVALID
    except (ConfigError, UnicodeDecodeError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
