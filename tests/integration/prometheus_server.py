"""A real Prometheus server fed with backfilled data, for integration tests.

    require_prometheus()                       # skip (or fail when CI=true) without the binaries
    text = openmetrics(series)                 # [Series(...)] -> OpenMetrics text with "# EOF"
    backfill(text, data_dir)                   # promtool tsdb create-blocks-from openmetrics
    server = PrometheusServer(data_dir); server.start(); ...; server.stop(); server.start()

Backfilled samples must be older than the head block, so write them ending a
little before "now" (a minute is plenty: a fresh server has an empty head).
The server is restartable on the same port, for "Prometheus comes back" tests.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import pytest

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"
INSTALL_HINT = "prometheus not installed: apt-get install prometheus (provides prometheus and promtool)"


def require_prometheus() -> Tuple[str, str]:
    """Paths of prometheus and promtool; pytest.fail on CI (CI=true), pytest.skip elsewhere."""
    prometheus = shutil.which(PROMETHEUS)
    promtool = shutil.which(PROMTOOL)
    if prometheus and promtool:
        return prometheus, promtool
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(INSTALL_HINT + " -- required on CI")
    pytest.skip(INSTALL_HINT)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Series:
    """One time series: metric name, labels, type, and (timestamp seconds, value) samples."""

    name: str
    labels: Dict[str, str]
    samples: Sequence[Tuple[float, float]]
    type: str = "gauge"  # "gauge" or "counter" (a counter's name must end in _total)


def openmetrics(series: Iterable[Series]) -> str:
    """OpenMetrics text: one family per metric name, timestamps in seconds, '# EOF' at the end."""
    families: Dict[str, List[Series]] = {}
    types: Dict[str, str] = {}
    for s in series:
        family = s.name[: -len("_total")] if s.type == "counter" and s.name.endswith("_total") else s.name
        families.setdefault(family, []).append(s)
        types[family] = s.type
    lines: List[str] = []
    for family, members in families.items():
        lines.append(f"# TYPE {family} {types[family]}")
        for s in members:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
            head = f"{s.name}{{{labels}}}" if labels else s.name
            for ts, value in s.samples:
                lines.append(f"{head} {value!r} {ts:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def backfill(text: str, data_dir: Path, promtool: Optional[str] = None) -> None:
    """Write OpenMetrics `text` as TSDB blocks into `data_dir`."""
    promtool = promtool or require_prometheus()[1]
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".om", delete=False) as handle:
        handle.write(text)
        path = handle.name
    try:
        done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", path, str(data_dir)],
                              capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)
    if done.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({done.returncode}): {done.stderr or done.stdout}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """A prometheus process on 127.0.0.1 over `data_dir`, with no scrape targets."""

    def __init__(self, data_dir: Path, port: Optional[int] = None,
                 lookback_delta: Optional[str] = None, extra_args: Sequence[str] = ()) -> None:
        self.binary = require_prometheus()[0]
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.lookback_delta = lookback_delta
        self.extra_args = list(extra_args)
        self.process: Optional[subprocess.Popen] = None
        self.config_file = self.data_dir.parent / f"prometheus-{self.port}.yml"
        self.log_file = self.data_dir.parent / f"prometheus-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 30.0) -> PrometheusServer:
        if self.process is not None and self.process.poll() is None:
            return self
        self.config_file.write_text("global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n")
        args = [
            self.binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=36500d",  # backfilled data must not be dropped
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        if self.lookback_delta:
            args.append(f"--query.lookback-delta={self.lookback_delta}")
        args.extend(self.extra_args)
        log = open(self.log_file, "ab")
        try:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self._wait_ready(ready_timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


STEP = 15.0
CPUS = 2
GIB = float(1 << 30)


def node_series(instance: str, cpu: float, memory: float, start: float, end: float) -> List[Series]:
    """node-exporter-like series: idle cpu counters per cpu, MemAvailable and MemTotal gauges."""
    count = int((end - start) // STEP)
    times = [end - k * STEP for k in range(count, -1, -1)]  # the last sample exactly at `end`
    out = []
    for c in range(CPUS):
        out.append(Series(
            "node_cpu_seconds_total", {"instance": instance, "job": "node", "cpu": str(c), "mode": "idle"},
            [(ts, 1000.0 + (ts - start) * (1.0 - cpu)) for ts in times], type="counter"))
        out.append(Series(  # a busy mode, which the default query ignores
            "node_cpu_seconds_total", {"instance": instance, "job": "node", "cpu": str(c), "mode": "user"},
            [(ts, 50.0 + (ts - start) * cpu) for ts in times], type="counter"))
    out.append(Series("node_memory_MemTotal_bytes", {"instance": instance, "job": "node"},
                      [(ts, 8 * GIB) for ts in times]))
    out.append(Series("node_memory_MemAvailable_bytes", {"instance": instance, "job": "node"},
                      [(ts, 8 * GIB * (1.0 - memory)) for ts in times]))
    return out
