"""Property tests: any flags, file or option value gives a bounded Config or a ConfigError, nothing else."""
from __future__ import annotations

import math
import os
import tempfile
from typing import Any, Dict

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.config import OPTIONS, Config, ConfigError, load_config
from scheduler.core.model import INT32_MAX, INT32_MIN, INT64_MAX

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None)

HOSTILE = [
    None, True, False, 0, -1, 2**31, -(2**31) - 1, 2**63, 10**400, float("nan"), float("inf"), float("-inf"), 1e308,
    "", "NaN", "nan", "inf", "-Infinity", "1e400", "-99999999999999999999", "99999999999", "2147483648", "9" * 5000,
    "1e999999999", "8Ei", "1Gi", "500m", "0.5", "true", "yes", "LeastAllocated=nan", "a=1,b", "\x00", [], {}, [[]],
]
scalar = (st.sampled_from(HOSTILE) | st.none() | st.booleans() | st.integers()
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
value = st.recursive(scalar, lambda children: st.lists(children, max_size=3)
                     | st.dictionaries(st.text(max_size=8) | st.integers(), children, max_size=3), max_leaves=10)
likely_hostile = st.sampled_from(HOSTILE) | value
option_key = st.sampled_from([o.attr for o in OPTIONS] + [o.name for o in OPTIONS])
flags = st.dictionaries(option_key | st.text(max_size=8) | st.integers(), likely_hostile, max_size=4)
# config files hold what YAML can represent: no NaN keys, but NaN/inf values and nesting are fine
yaml_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                          lambda children: st.lists(children, max_size=3)
                          | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=10)


def assert_config_bounded(config: Config) -> None:
    assert INT32_MIN <= config.priority <= INT32_MAX
    assert 0 <= config.mem <= INT64_MAX and 0 <= config.cpu_millis <= INT64_MAX
    assert 0.0 < config.alpha <= 1.0
    assert 0 <= config.metrics_port <= 65535
    for number in (config.backoff_initial, config.backoff_max, config.unschedulable_timeout, config.gang_timeout,
                   config.nomination_timeout, config.metrics_refresh, config.metrics_max_age):
        assert math.isfinite(number) and number > 0
    assert all(isinstance(name, str) and math.isfinite(weight) and weight >= 0 for name, weight in config.scores)


def load_or_config_error(*args: Any, **kwargs: Any) -> None:
    try:
        config = load_config(*args, **kwargs)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc) and len(str(exc)) < 1000
        return
    assert_config_bounded(config)


def _parse_or_value_error(option: Any, raw: Any) -> None:
    try:
        option.parse(raw)
    except ValueError:
        pass


def test_every_option_parser_raises_only_value_error_on_each_hostile_value() -> None:
    for option in OPTIONS:
        for raw in HOSTILE:
            _parse_or_value_error(option, raw)


def test_each_hostile_flag_gives_a_bounded_config_or_a_config_error() -> None:
    for option in OPTIONS:
        for raw in HOSTILE:
            load_or_config_error({option.attr: raw}, env={})


@FAST
@given(option=st.sampled_from(OPTIONS), raw=likely_hostile)
def test_every_option_parser_raises_only_value_error(option: Any, raw: Any) -> None:
    _parse_or_value_error(option, raw)


@FAST
@given(flags=flags)
def test_load_config_from_random_flags(flags: Dict[Any, Any]) -> None:
    load_or_config_error(flags, env={})


def _with_file(text: str, **kwargs: Any) -> None:
    handle, path = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        load_or_config_error({}, path, **kwargs)
    finally:
        os.unlink(path)


@FAST
@given(mapping=st.dictionaries(option_key | st.text(max_size=8), yaml_value, max_size=4))
def test_load_config_from_random_config_mappings(mapping: Dict[str, Any]) -> None:
    _with_file(yaml.safe_dump(mapping), env={})


@settings(FAST, max_examples=50)
@given(text=st.text(max_size=200), url=st.text(max_size=20))
def test_load_config_from_arbitrary_file_text_and_environment(text: str, url: str) -> None:
    _with_file(text, env={"PROMETHEUS_URL": url})
