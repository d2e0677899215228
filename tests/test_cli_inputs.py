"""Bad command lines and store URLs: each gets one line naming what to change, and nothing is
created or lost (found by a newcomer's walk through the CLI)."""

import json
import socket
import subprocess
import sys

import pytest

from ablab.core.cli.main import main
from ablab.core.lab.store import Store, StoreError

STUDY = """
[study]
name = "cli-inputs"
seeds = [0]

[base]
task = { name = "adding", length = 4 }
model = { kind = "recurrent", cell = "rnn", hidden = 3 }
optimizer = { name = "sgd", lr = 0.1 }
train = { steps = 2, batch_size = 2, log_every = 1 }

[axes]
"model.hidden" = [10, 4]
"""


def error_of(capsys, *argv) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse refuses before the command runs
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["results", "x", "--bogus"], "ablab results: error: unrecognized arguments: --bogus"),
        (["run", "a.toml", "--workers", "-1"], "--workers: must be a whole number from 0 to 1024, got -1"),
        (["claims", "--workers", "many"], "--workers: must be a whole number from 0 to 1024, got 'many'"),
        (["dashboard", "--port", "99999"], "--port: must be a whole number from 1 to 65535, got 99999"),
        (["new-plugin", "a" * 300, "--kind", "cell"], "plugin name: at most 64 characters, got 300"),
    ],
)
def test_bad_arguments_name_the_command_and_the_allowed_values(capsys, argv, message):
    code, err = error_of(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    if argv[0] in ("results", "run", "dashboard"):
        assert f"usage: ablab {argv[0]}" in err  # the command's own usage, not the top-level one


def test_a_plain_path_as_store_says_how_to_write_the_url(capsys, tmp_path):
    code, err = error_of(capsys, "studies", "--store", str(tmp_path / "x.sqlite"))
    assert code == 2 and f"sqlite:///{tmp_path / 'x.sqlite'}" in err and "must be a URL" in err


def test_read_commands_never_create_a_store_at_a_mistyped_path(capsys, tmp_path):
    typo = tmp_path / "typo" / "store.sqlite"
    for argv in (["studies"], ["results", "anything"]):
        code, err = error_of(capsys, *argv, "--store", f"sqlite:///{typo}")
        assert code == 2 and f"no results store at {typo}" in err
    assert not typo.parent.exists()


def test_studies_on_a_fresh_machine_says_there_are_none_yet(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("ABLAB_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["studies"]) == 0
    assert "no studies in the store yet" in capsys.readouterr().out and not (tmp_path / "ablab").exists()


def test_a_missing_database_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the cluster extra were not installed
    with pytest.raises(StoreError, match=r"pip install 'ablab\[cluster\]'"):
        Store("postgresql+psycopg://someone@localhost/ablab")


def test_a_changed_study_is_named_and_its_rows_sort_by_axis_value(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    assert main(["run", str(path), "--store", url, "--workers", "0"]) == 0
    assert "another definition" not in capsys.readouterr().err
    assert main(["results", "cli-inputs", "--store", url, "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["4", "10"]  # as numbers, not as text
    assert (
        main(["results", "cli-inputs", "--store", url, "--format", "json", "--columns", "steps_to_0.1x_baseline"]) == 0
    )
    first = json.loads(capsys.readouterr().out)[0]
    assert first["steps_to_0.1x_baseline"] == "inf" and first["model.hidden"] == 4  # never reached, not missing
    path.write_text(STUDY.replace("[10, 4]", "[4]"))
    # a reused name would drop the stored runs of hidden 10 out of view: refused until asked for
    code, err = error_of(capsys, "run", str(path), "--store", url, "--workers", "0")
    assert code == 2 and "would set aside 1 of its 2 runs" in err and "pass --replace" in err
    (listed,) = Store(url).studies()
    assert listed["counts"].get("stale", 0) == 0 and sum(listed["counts"].values()) == 2  # nothing changed in the store
    assert main(["run", str(path), "--store", url, "--workers", "0", "--replace"]) == 0
    assert (
        "another definition; its runs this file no longer makes (1) are kept, marked stale" in capsys.readouterr().err
    )
    assert main(["studies", "--store", url]) == 0
    assert "stale: runs the study no longer makes (its file changed" in capsys.readouterr().out


CHECK = """
[[checks]]
what = "more units learn no worse"
quantity = "final_loss"
where = { "model.hidden" = 10 }
op = "<="
than = { "model.hidden" = 4 }
"""


def test_a_stored_study_without_checks_or_a_claim_says_so(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    main(["run", str(path), "--store", url, "--workers", "0"])
    capsys.readouterr()
    code, err = error_of(capsys, "claims", "--study", "cli-inputs", "--no-run", "--store", url)
    assert code == 2 and "study cli-inputs has no [[checks]]: nothing to judge (add [[checks]] to its file" in err
    code, err = error_of(capsys, "claims", str(path), "--no-run", "--store", url)
    assert code == 2 and f"study cli-inputs ({path}) has no [[checks]]" in err
    path.write_text(STUDY + CHECK)
    main(["run", str(path), "--store", url, "--workers", "0"])
    capsys.readouterr()
    main(["claims", "--study", "cli-inputs", "--no-run", "--store", url])
    assert "cli-inputs: (no claim sentence: add claim = ... under [study])" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["text", "folder"])
def test_a_store_that_is_not_a_database_is_named_and_left_alone(capsys, tmp_path, kind):
    target = tmp_path / ("readme.txt" if kind == "text" else "folder")
    if kind == "text":
        target.write_bytes(b"notes, not a database\n" * 40)
    else:
        target.mkdir()
    before = target.read_bytes() if kind == "text" else sorted(target.iterdir())
    message = f"{target} is not a SQLite database (a text file? a folder?); give --store a .sqlite file"
    for argv in (["studies"], ["results", "x"], ["claims", "--no-run"]):
        code, err = error_of(capsys, *argv, "--store", f"sqlite:///{target}")
        assert code == 2 and message in err and "Traceback" not in err
    # the dashboard says so before it serves, not in the browser (a subprocess: it would exec Streamlit)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dashboard = [sys.executable, "-m", "ablab.core.cli", "dashboard", "--store", f"sqlite:///{target}"]
    done = subprocess.run([*dashboard, "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and "http://" not in done.stdout
    with pytest.raises(StoreError, match="is not a SQLite database"):
        Store(f"sqlite:///{target}")  # the writing open refuses as well
    assert (target.read_bytes() if kind == "text" else sorted(target.iterdir())) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no -wal, -journal or other file


def test_dashboard_on_a_busy_port_says_so_in_one_line(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = error_of(capsys, "dashboard", "--port", str(port))
    assert code == 2 and err.strip() == f"ablab: error: port {port} is in use; pass --port with a free one"
