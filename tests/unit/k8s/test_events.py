"""EventRecorder: Events are posted by its own worker, never on the caller's (bind) path; repeats fold."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

from scheduler.core.effects import PodRef
from scheduler.k8s.events import EventRecorder


class SlowApi:
    """Takes `delay` seconds per call, unless released; records what was posted."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.created: List[Dict[str, Any]] = []
        self.patched: List[Dict[str, Any]] = []
        self.release = threading.Event()

    def create_event(self, namespace: str, body: Dict[str, Any]) -> Dict[str, Any]:
        self.release.wait(self.delay)
        self.created.append(body)
        return body

    def patch_event(self, namespace: str, name: str, body: Dict[str, Any]) -> Dict[str, Any]:
        self.patched.append(body)
        return body


POD = PodRef("default", "p", "uid-p")


def test_recording_does_not_wait_for_the_api():
    api = SlowApi(delay=5.0)
    recorder = EventRecorder(api, "preemptive-scheduler")  # type: ignore[arg-type]
    started = time.perf_counter()
    recorder.record(POD, "Normal", "Scheduled", "Binding", "Successfully assigned default/p to n1")
    assert time.perf_counter() - started < 0.5
    api.release.set()
    assert recorder.flush(5.0)
    assert [e["reason"] for e in api.created] == ["Scheduled"]
    assert recorder.close(1.0)


def test_a_full_queue_drops_and_counts_instead_of_blocking():
    api = SlowApi(delay=5.0)
    drops: List[int] = []
    recorder = EventRecorder(api, "s", queue_size=2, on_drop=lambda: drops.append(1), workers=1)  # type: ignore[arg-type]
    for i in range(10):
        recorder.record(PodRef("default", f"p{i}", f"u{i}"), "Warning", "FailedScheduling", "Scheduling", "no room")
    assert recorder.dropped >= 7 and len(drops) == recorder.dropped  # 1 being posted, 2 queued, the rest dropped
    api.release.set()
    assert recorder.flush(5.0)
    assert len(api.created) == 10 - recorder.dropped


def test_repeats_fold_into_one_event_series():
    api = SlowApi()
    recorder = EventRecorder(api, "s", patch_interval=0.0, workers=1)  # type: ignore[arg-type]
    for _ in range(3):
        recorder.record(POD, "Warning", "FailedScheduling", "Scheduling", "0/3 nodes are available.")
    assert recorder.flush(5.0)
    assert len(api.created) == 1
    assert [p["series"]["count"] for p in api.patched] == [2, 3]


def test_events_still_queued_at_shutdown_are_dropped_not_posted_later():
    api = SlowApi(delay=5.0)
    recorder = EventRecorder(api, "s", workers=1)  # type: ignore[arg-type]
    for i in range(5):
        recorder.record(PodRef("default", f"p{i}", f"u{i}"), "Normal", "Scheduled", "Binding", "bound")
    assert not recorder.close(0.1)  # the API is stuck: shutdown does not wait for it
    api.release.set()
    assert recorder.flush(5.0)
    assert len(api.created) == 1 and recorder.dropped == 4  # the one in flight, then nothing after shutdown
    recorder.record(POD, "Normal", "Scheduled", "Binding", "late")
    assert len(api.created) == 1
