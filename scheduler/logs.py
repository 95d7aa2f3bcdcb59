"""Logging set-up: `--log-format text|json` and `--log-level`."""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Dict, Tuple


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        decision = getattr(record, "decision", None)
        if isinstance(decision, dict):  # a scheduling decision: its fields, for queries
            entry.update(decision)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def log_decision(logger: logging.Logger, action: str, message: str, *args: object, level: int = logging.INFO,
                 **fields: object) -> None:
    """One line per decision (at info unless `level` says otherwise); with --log-format json its fields are
    keys of the line."""
    logger.log(level, message, *args, extra={"decision": {"decision": action, **fields}})


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # the kubernetes client and urllib3 are chatty at debug level
    for noisy in ("urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


class RepeatedFailures:
    """Log a failure that keeps repeating once per doubling of its count, not once per occurrence.

    During an API outage every pending pod fails the same way; the first failure is logged,
    then the 2nd, 4th, 8th... with the running count, and one line when the operation
    succeeds again.  Thread-safe (API workers share it).
    """

    def __init__(self, logger: logging.Logger, level: int = logging.WARNING) -> None:
        import threading

        self.logger = logger
        self.level = level
        self._counts: Dict[Tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def failed(self, operation: str, kind: str, message: str, *args: object) -> None:
        key = (operation, kind)
        with self._lock:
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        if count & (count - 1) == 0:  # 1, 2, 4, 8, ...
            suffix = "" if count == 1 else f" ({count} times so far)"
            self.logger.log(self.level, message + suffix, *args)
        else:
            self.logger.debug(message, *args)

    def succeeded(self, operation: str) -> None:
        with self._lock:
            keys = [key for key in self._counts if key[0] == operation]
            counts = [(key[1], self._counts.pop(key)) for key in keys]
        for kind, count in counts:
            if count > 1:
                self.logger.info("%s works again after %d failures (%s)", operation, count, kind)
