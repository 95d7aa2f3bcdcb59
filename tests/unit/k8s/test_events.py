"""EventRecorder: Events are posted by its own worker, never on the caller's (bind) path; repeats fold."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

from scheduler.core.effects import PodRef
from scheduler.k8s.events import EventRecorder, micro_time


class SlowApi:
    """Takes `delay` seconds per call, unless released; records what was posted."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.created: List[Dict[str, Any]] = []
        self.patched: List[Dict[str, Any]] = []
        self.release = threading.Event()

    def create_event(self, namespace: str, body: Dict[str, Any]) -> None:
        self.release.wait(self.delay)
        self.created.append(body)

    def patch_event(self, namespace: str, name: str, body: Dict[str, Any]) -> None:
        self.patched.append(body)


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_a_pod_retried_every_minute_costs_a_write_per_half_hour_not_per_retry():
    """client-go's series: patched when it becomes a series, then at most once per patch interval."""
    api, clock = SlowApi(), FakeClock()
    recorder = EventRecorder(api, "s", clock=clock, workers=1, sweep_every=0.05)  # type: ignore[arg-type]
    for _ in range(32):  # one retry a minute, for half an hour after it became a series
        recorder.record(POD, "Warning", "FailedScheduling", "Scheduling", "0/3 nodes are available.")
        assert recorder.flush(5.0)
        clock.now += 60
    assert len(api.created) == 1
    assert [p["series"]["count"] for p in api.patched] == [2, 32]  # a series now; due again after 30 min
    recorder.close(1.0)


def test_the_last_count_is_written_when_a_series_ends_and_a_later_repeat_starts_a_new_event():
    api, clock = SlowApi(), FakeClock()
    recorder = EventRecorder(api, "s", clock=clock, workers=1, sweep_every=0.05)  # type: ignore[arg-type]
    for _ in range(5):
        recorder.record(POD, "Warning", "FailedScheduling", "Scheduling", "no room")
        assert recorder.flush(5.0)
        clock.now += 10
    assert [p["series"]["count"] for p in api.patched] == [2]
    last_seen = micro_time()
    time.sleep(0.05)
    clock.now += 400  # no repeat for longer than the series window: it ended
    assert _until(lambda: [p["series"]["count"] for p in api.patched] == [2, 5])
    assert api.patched[-1]["series"]["lastObservedTime"] <= last_seen  # the last occurrence, not the write
    recorder.record(POD, "Warning", "FailedScheduling", "Scheduling", "no room")
    assert recorder.flush(5.0)
    assert len(api.created) == 2
    recorder.close(1.0)


def test_the_series_memory_is_bounded(monkeypatch):
    from scheduler.k8s import events

    monkeypatch.setattr(events, "MAX_SERIES", 3)
    api, clock = SlowApi(), FakeClock()
    recorder = EventRecorder(api, "s", clock=clock, workers=1)  # type: ignore[arg-type]
    for name in ["a", "b", "c", "a", "d", "a", "b"]:  # "b" was forgotten (least recently seen) when "d" came
        recorder.record(PodRef("default", name, f"uid-{name}"), "Warning", "FailedScheduling", "Scheduling", "no room")
        assert recorder.flush(5.0)
    assert [e["regarding"]["name"] for e in api.created] == ["a", "b", "c", "d", "b"]
    recorder.close(1.0)


def test_an_event_the_api_server_expired_is_created_anew_on_the_next_repeat():
    """The API server deletes Events after its --event-ttl (1 h by default) while the series lives on."""
    from scheduler.k8s.api import ApiError

    class ExpiringApi(SlowApi):
        def patch_event(self, namespace: str, name: str, body: Dict[str, Any]) -> Dict[str, Any]:
            raise ApiError(404, "NotFound", f"events.events.k8s.io {name!r} not found")

    api = ExpiringApi()
    recorder = EventRecorder(api, "s", workers=1)  # type: ignore[arg-type]
    for _ in range(3):  # created; the patch that makes it a series finds it gone; created anew
        recorder.record(POD, "Warning", "FailedScheduling", "Scheduling", "no room")
        assert recorder.flush(5.0)
    assert len(api.created) == 2
    recorder.close(1.0)
