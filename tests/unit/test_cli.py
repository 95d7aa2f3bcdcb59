"""The command line: bad values exit 2 with one line naming the value; flags reach the Config."""
from __future__ import annotations

import pytest

import scheduler.cli as cli


@pytest.fixture
def captured(monkeypatch):
    """Replace the subcommand handler: record the Config the CLI built."""
    seen = {}

    def handler(args, config):
        seen["args"], seen["config"] = args, config
        return 0

    monkeypatch.setattr(cli, "_load_handler", lambda spec: handler)
    monkeypatch.delenv("PROMETHEUS_URL", raising=False)
    return seen


@pytest.mark.parametrize("argv, named", [
    (["--alpha", "1.5"], "--alpha '1.5'"),
    (["--alpha", "0"], "--alpha '0'"),
    (["--cpu", "-1"], "--cpu '-1'"),
    (["--mem", "lots"], "--mem 'lots'"),
    (["--preemption=maybe"], "--preemption 'maybe'"),
])
@pytest.mark.parametrize("command", ["simulate", "plan"])
def test_bad_value_exits_2_with_one_line(capsys, captured, command, argv, named):
    assert cli.main([command] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("preemptive-scheduler: error: ")
    assert named in err
    assert "config" not in captured  # the subcommand never ran


def test_unknown_config_file_key_exits_2(tmp_path, capsys, captured):
    path = tmp_path / "c.yaml"
    path.write_text("alpah: 0.5\n")
    assert cli.main(["simulate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alpah" in err


def test_malformed_yaml_exits_2_with_one_line(tmp_path, capsys, captured):
    path = tmp_path / "c.yaml"
    path.write_text("alpha: [1, 2\n")
    assert cli.main(["simulate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err


def test_preemption_flag_alone_turns_it_on(captured):
    assert cli.main(["simulate", "--preemption"]) == 0
    assert captured["config"].preemption is True


@pytest.mark.parametrize("argv, expected", [
    (["--preemption=false"], False), (["--preemption", "false"], False),
    (["--preemption=true"], True), ([], False),
])
def test_preemption_values(captured, argv, expected):
    assert cli.main(["plan"] + argv) == 0
    assert captured["config"].preemption is expected


def test_flags_override_config_file(tmp_path, captured):
    path = tmp_path / "c.yaml"
    path.write_text("alpha: 0.5\ncpu: 2\npreemption: true\n")
    assert cli.main(["simulate", "--config", str(path), "--alpha", "0.7", "--preemption=false"]) == 0
    config = captured["config"]
    assert (config.alpha, config.cpu_millis, config.preemption) == (0.7, 2000, False)


def test_scheduling_flags_apply_to_every_engine_subcommand(captured):
    for command in ("run", "simulate", "plan", "bench"):
        assert cli.main([command, "--cpu", "0", "--mem", "0", "--priority", "-1"]) == 0
        config = captured["config"]
        assert (config.cpu_millis, config.mem, config.priority) == (0, 0, -1), command


def test_prometheus_url_from_environment(monkeypatch, captured):
    monkeypatch.setenv("PROMETHEUS_URL", "http://prom:9090")
    assert cli.main(["run"]) == 0
    assert captured["config"].prometheus_url == "http://prom:9090"
    assert cli.main(["run", "--prometheus-url", "http://other:9090"]) == 0
    assert captured["config"].prometheus_url == "http://other:9090"


def test_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_non_finite_cpu_exits_2_instead_of_crashing(capsys, captured, value):
    assert cli.main(["simulate", "--cpu", value]) == 2
    assert f"--cpu '{value}'" in capsys.readouterr().err


def test_quantity_flags_work_in_a_fresh_process():
    """`--mem 2Gi` is parsed before anything else of the engine is imported."""
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "scheduler", "simulate", "--mem", "2Gi", "--cpu", "500m", "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["pods"] > 0


@pytest.mark.parametrize("argv, named", [
    (["--filters", "NodeResourcesFit,Foo"], "--filters 'Foo': unknown filter plugin"),
    (["--scores", "Nope=1"], "--scores 'Nope': unknown score plugin"),
])
def test_unknown_plugins_exit_2_with_one_line(capsys, captured, argv, named):
    assert cli.main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert named in err and "(known: " in err and err.count("\n") == 1


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("preemptive-scheduler ")


def test_node_is_a_plan_option_only():
    parser = cli.build_parser()
    assert parser.parse_args(["plan", "--node", "n1"]).node == "n1"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--node", "n1"])


def test_run_without_a_cluster_says_so_in_one_plain_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("preemptive-scheduler: error: cannot load Kubernetes configuration") and err.count("\n") == 1
    assert "ConfigError" not in err


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    def handler(args, config):
        raise BrokenPipeError()

    monkeypatch.setattr(cli, "_load_handler", lambda spec: handler)
    assert cli.main(["simulate"]) == 141


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.8)" in out and "(default: 1Gi)" in out and "(default: false)" in out
