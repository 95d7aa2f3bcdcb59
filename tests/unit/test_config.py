"""Config: defaults < file < PROMETHEUS_URL < flags, each value validated with a clear error."""
from __future__ import annotations

import pytest

from scheduler.config import Config, ConfigError, listen_address, load_config


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_without_anything():
    config = load_config({}, env={})
    assert config == Config()
    assert config.preemption is False and config.alpha == 0.8 and config.cpu_millis == 1000
    assert config.mem == 1 << 30 and config.priority == 10


def test_flags_are_parsed_to_typed_values():
    config = load_config({"cpu": "0.5", "mem": "512Mi", "priority": "-3", "alpha": "0.6", "preemption": "true"}, env={})
    assert config.cpu_millis == 500
    assert config.mem == 512 << 20
    assert config.priority == -3
    assert config.alpha == 0.6
    assert config.preemption is True


def test_mem_accepts_plain_bytes():
    assert load_config({"mem": "1048576"}, env={}).mem == 1 << 20


def test_zero_cpu_and_mem_are_allowed():
    config = load_config({"cpu": "0", "mem": "0"}, env={})
    assert (config.cpu_millis, config.mem) == (0, 0)


@pytest.mark.parametrize("flag, value, expected", [
    ("alpha", "1.5", "(0, 1]"),
    ("alpha", "0", "(0, 1]"),
    ("alpha", "high", "number"),
    ("cpu", "-1", ">= 0"),
    ("mem", "lots", "quantity"),
    ("priority", "1.5", "integer"),
    ("preemption", "maybe", "true or false"),
    ("on_missing_metrics", "ignore", "allow, deny"),
])
def test_bad_flag_values_name_flag_value_and_expectation(flag, value, expected):
    with pytest.raises(ConfigError) as info:
        load_config({flag: value}, env={})
    message = str(info.value)
    assert f"--{flag.replace('_', '-')}" in message and repr(value) in message and expected in message
    assert "\n" not in message


def test_config_file_values_are_used(tmp_path):
    path = write(tmp_path, "alpha: 0.5\ncpu: 2\nmem: 2Gi\npreemption: true\nscheduler-name: mine\n")
    config = load_config({}, path, env={})
    assert (config.alpha, config.cpu_millis, config.mem, config.preemption, config.scheduler_name) == \
        (0.5, 2000, 2 << 30, True, "mine")


def test_config_file_accepts_underscored_keys(tmp_path):
    assert load_config({}, write(tmp_path, "max_victims: 3\n"), env={}).max_victims == 3


def test_flags_override_config_file(tmp_path):
    path = write(tmp_path, "alpha: 0.5\npriority: 7\n")
    config = load_config({"alpha": "0.9", "priority": None}, path, env={})
    assert config.alpha == 0.9
    assert config.priority == 7  # a flag not given does not override the file


def test_unknown_config_file_key(tmp_path):
    path = write(tmp_path, "alpah: 0.5\n")
    with pytest.raises(ConfigError, match=r"unknown key 'alpah' \(known: .*alpha"):
        load_config({}, path, env={})


def test_bad_value_in_config_file_names_file_and_key(tmp_path):
    path = write(tmp_path, "alpha: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, path, env={})
    assert path in str(info.value) and "alpha" in str(info.value)


def test_malformed_yaml_is_one_readable_line(tmp_path):
    path = write(tmp_path, "alpha: [1, 2\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, path, env={})
    message = str(info.value)
    assert path in message and "YAML" in message
    assert "\n" not in message


def test_config_file_that_is_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="mapping"):
        load_config({}, write(tmp_path, "- alpha\n"), env={})


def test_empty_config_file_means_defaults(tmp_path):
    assert load_config({}, write(tmp_path, ""), env={}) == Config()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config({}, str(tmp_path / "nope.yaml"), env={})


def test_prometheus_url_from_environment():
    assert load_config({}, env={"PROMETHEUS_URL": "http://prom:9090"}).prometheus_url == "http://prom:9090"


def test_prometheus_url_flag_beats_environment_and_environment_beats_file(tmp_path):
    path = write(tmp_path, "prometheus-url: http://file:9090\n")
    env = {"PROMETHEUS_URL": "http://env:9090"}
    assert load_config({}, path, env=env).prometheus_url == "http://env:9090"
    assert load_config({"prometheus_url": "http://flag:9090"}, path, env=env).prometheus_url == "http://flag:9090"


def test_scores_from_string_and_mapping(tmp_path):
    assert dict(load_config({"scores": "MostAllocated=2,LeastAllocated=0"}, env={}).scores) == \
        {"MostAllocated": 2.0, "LeastAllocated": 0.0}
    path = write(tmp_path, "scores: {MostAllocated: 1}\n")
    assert dict(load_config({}, path, env={}).scores) == {"MostAllocated": 1.0}


def test_backoff_initial_above_max_is_rejected():
    with pytest.raises(ConfigError, match="backoff"):
        load_config({"backoff_initial": "20", "backoff_max": "10"}, env={})


def test_config_is_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().alpha = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("flag", ["cpu", "backoff_max", "unschedulable_timeout"])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_non_finite_numbers_are_rejected(flag, value):
    with pytest.raises(ConfigError, match="finite"):
        load_config({flag: value}, env={})


@pytest.mark.parametrize("flag, value, expected", [
    ("priority", "2147483648", "<= 2147483647"),
    ("priority", "-2147483649", ">= -2147483648"),
    ("priority", 2**80, "<= 2147483647"),
    ("priority", 10**400, "<= 2147483647"),
    ("max_victims", -(10**400), ">= 0"),
    ("priority", 1.5, "integer"),
    ("priority", float("inf"), "finite"),
    ("priority", "9" * 100000, "integer"),
    ("preemption_min_priority_gap", 2**32, "<= 4294967295"),
    ("metrics_port", 70000, "<= 65535"),
    ("bind_workers", 0, ">= 1 and <= 256"),
    ("bind_workers", 10**6, ">= 1 and <= 256"),  # a thread and a connection each
    ("metrics_bind_address", "0.0.0.0:0", "port must be 1..65535"),
    ("metrics_bind_address", "0.0.0.0:http", "port must be 1..65535"),
    ("metrics_bind_address", "[::1]x", "IP address or host name"),
    ("metrics_bind_address", "::1:99999", "IP address or host name"),
    ("metrics_bind_address", "http://localhost", "IP address or host name"),
    ("metrics_bind_address", "", "IP address or host name"),
    ("metrics_bind_address", 127, "IP address or host name"),
    ("backoff_max", 10**400, "finite"),
    ("backoff_max", "1e400", "finite"),
    ("alpha", 10**400, "finite"),
    ("cpu", 10**400, "finite"),
    ("cpu", "1e300", "millicores"),
    ("cpu", 1e308, "millicores"),
    ("mem", "1e30", "quantity"),
    ("mem", "NaN", "quantity"),
    ("mem", True, "quantity"),
    ("scores", "LeastAllocated=nan", "finite"),
    ("scores", {"LeastAllocated": 10**400}, "finite"),
    ("scores", {"LeastAllocated": -1}, ">= 0"),
    ("scores", {5: 1}, "plugin names"),
    ("log_level", ["info"], "expected one of"),
    ("preemption", [[[]]], "true or false"),
    ("preemption", 2**5000, "true or false"),
])
def test_hostile_values_are_config_errors(flag, value, expected):
    with pytest.raises(ConfigError) as info:
        load_config({flag: value}, env={})
    message = str(info.value)
    assert expected in message and "\n" not in message and len(message) < 400


def test_priority_bounds_are_accepted():
    assert load_config({"priority": "-2147483648"}, env={}).priority == -(2**31)
    assert load_config({"priority": 2147483647}, env={}).priority == 2**31 - 1


def test_unknown_non_string_keys_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 5"):
        load_config({5: "x"}, env={})
    with pytest.raises(ConfigError, match="unknown key 5"):
        load_config({}, write(tmp_path, "5: 3\n"), env={})
    with pytest.raises(ConfigError, match="YAML"):
        load_config({}, write(tmp_path, "[1, 2]: 3\n"), env={})


def test_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"alpha: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config({}, str(path), env={})


def test_config_file_nested_too_deeply(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        load_config({}, write(tmp_path, "alpha: " + "[" * 100000 + "]" * 100000 + "\n"), env={})


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1", "127.0.0.1"), ("::", "::"), ("[::1]", "::1"), (" 0.0.0.0 ", "0.0.0.0"), ("metrics.local", "metrics.local"),
    ("0.0.0.0:9100", "0.0.0.0:9100"), ("[::]:9100", "[::]:9100"), ("localhost:80", "localhost:80"),
])
def test_metrics_bind_address_takes_ip_literals_and_host_names(text, expected):
    assert load_config({"metrics_bind_address": text}, env={}).metrics_bind_address == expected


def test_a_port_in_the_bind_address_beats_metrics_port():
    assert listen_address(load_config({"metrics_port": "10260"}, env={})) == ("0.0.0.0", 10260)
    assert listen_address(load_config({"metrics_bind_address": "127.0.0.1"}, env={})) == ("127.0.0.1", 10260)
    assert listen_address(load_config({"metrics_bind_address": "[::1]:9100", "metrics_port": 0}, env={})) == ("::1", 9100)
