"""The plugin commands: check-plugin with options and skipped paths, new-plugin with several
kinds, and `ablab runs STUDY --failed` printing stored tracebacks."""

import pytest

from ablab.core.cli.main import main, parse_option
from ablab.core.errors import AblabError


def test_check_plugin_takes_options_and_prints_skipped_paths(capsys):
    assert main(["check-plugin", "cell", "indrnn", "--option", "horizon=10", "--option", 'activation="tanh"']) == 0
    out = capsys.readouterr().out
    assert "ok   constrain" in out and "ok   float64 gradient check" in out
    assert "skip step_z agrees with step: the cell has no step_z" in out
    assert "cell 'indrnn' passes the ablab contract" in out


def test_activation_and_initializer_options_reach_their_checks(capsys):
    assert main(["check-plugin", "activation", "leaky_relu", "--option", "alpha=0.2"]) == 0
    assert main(["check-plugin", "initializer", "normal", "--option", "std=0.5"]) == 0
    capsys.readouterr()
    assert main(["check-plugin", "activation", "leaky_relu", "--option", "beta=0.2"]) == 2
    assert "activation 'leaky_relu' has no option 'beta'; options: alpha" in capsys.readouterr().err


def test_check_plugin_with_a_wrong_option_names_it(capsys):
    assert main(["check-plugin", "cell", "indrnn", "--option", "horizn=10"]) == 2
    assert (
        "cell 'indrnn' has no option 'horizn' (did you mean 'horizon'?); options: horizon (default 100), "
        "activation (default 'relu')" in capsys.readouterr().err
    )
    # the plugin as the user wrote it, never its Python class (IndRNN, Adding, LSTM)
    assert main(["check-plugin", "task", "adding", "--option", "lenght=3"]) == 2
    assert "task 'adding' has no option 'lenght' (did you mean 'length'?)" in capsys.readouterr().err
    assert main(["check-plugin", "cell", "lstm", "--option", "coupled=true", "--option", "no_input_gate=true"]) == 2
    assert "cell 'lstm': lstm option coupled (f = 1 - i) needs both" in capsys.readouterr().err
    assert main(["check-plugin", "probe", "gates", "--option", "x=1"]) == 1
    assert "a probe check takes no options" in capsys.readouterr().err


def test_options_are_toml_values():
    assert parse_option("horizon=10") == ("horizon", 10)
    assert parse_option("leak = 0.25") == ("leak", 0.25)
    assert parse_option("reset_after=true") == ("reset_after", True)
    assert parse_option("activation=relu") == ("activation", "relu")  # a bare word is a string
    assert parse_option('activation={ name = "leaky_relu", alpha = 0.1 }') == (
        "activation",
        {"name": "leaky_relu", "alpha": 0.1},
    )
    with pytest.raises(AblabError, match="--option takes key=value"):
        parse_option("horizon")


def test_new_plugin_writes_several_kinds_in_one_package(tmp_path, capsys):
    assert main(["new-plugin", "duo", "--kind", "task", "--kind", "initializer", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ablab check-plugin task duo && ablab check-plugin initializer duo" in out
    source = (tmp_path / "ablab-duo" / "ablab_duo" / "__init__.py").read_text()
    assert "def register_tasks(register)" in source and "def register_initializers(register)" in source


def test_runs_failed_prints_the_stored_traceback(tmp_path, capsys):
    from ablab.core.lab.runner import run_study
    from ablab.core.lab.store import Store
    from ablab.core.lab.study import parse_study
    from ablab.core.plugin_system.registry import build_registry

    registry = build_registry(entry_points=False)
    study = parse_study(
        '[study]\nname = "tb"\nseeds = [0, 1]\n[base]\ntask = { name = "adding", length = 4 }\n'
        'model = { cell = "rnn", hidden = 3 }\ntrain = { steps = 2, batch_size = 2 }\n',
        "tb.toml",
        registry,
    )
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    store = Store(url)
    run_study(study, registry, store, workers=0)
    assert main(["runs", "tb", "--failed", "--store", url]) == 0
    assert "study tb: no failed runs" in capsys.readouterr().out
    key = study.runs(registry)[1].key
    store.write_run(key, "failed", seconds=0.0, error="Traceback (most recent call last):\nRuntimeError: boom")
    assert main(["runs", "tb", "--failed", "--store", url]) == 1
    out = capsys.readouterr().out
    assert f"== run {key[:12]} seed 1" in out and "RuntimeError: boom" in out
    assert main(["runs", "tb", "--store", url]) == 0
    assert "failed" in capsys.readouterr().out
    assert main(["runs", "nope", "--store", url]) == 2
    assert "no runs of study 'nope'" in capsys.readouterr().err
