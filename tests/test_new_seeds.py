"""New seeds for a claim (`ablab claims --new-seeds`): the study again with shifted seeds under
its own name, both verdicts side by side with a stability line; "not run" apart from
"inconclusive"."""

import json

import pytest
from radius_study import radius_study

from ablab.core.cli.main import main
from ablab.core.errors import ConfigError
from ablab.core.lab.seed_shift import check_shift, seeds_text, shifted_data, shifted_name, stability_line
from ablab.core.lab.store import Store

# two configurations x 4 seeds of one training step: seconds, in this process
TINY = radius_study("tiny_radius", seeds=4)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path, f"sqlite:///{tmp_path / 's.sqlite'}"


def claims(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(["claims", *argv])
    except SystemExit as exc:  # argparse refuses before the command runs
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_new_seeds_run_the_study_again_under_its_own_name_beside_the_original(tiny, capsys):
    path, url = tiny
    code, out, err = claims(capsys, str(path), "--store", url, "--workers", "0", "--new-seeds")
    assert code == 0, out + err
    assert "[HOLDS] tiny_radius" in out
    assert "seeds 0-3 " in out and "seeds 1000-1003 (tiny_radius-s1000)" in out
    assert out.count(" holds  ") == 4  # each check on both seed sets
    assert "    stability: holds on seeds 0-3 and 1000-1003" in out
    assert "on seeds + 1000: 1 same, 0 moved, 0 flipped, 0 not run" in err
    store = Store(url)
    assert {r["seed"] for r in store.runs_of("tiny_radius-s1000")} == {1000, 1001, 1002, 1003}
    assert {r["seed"] for r in store.runs_of("tiny_radius")} == {0, 1, 2, 3}  # the original is untouched
    # read back from the store, as JSON: which seeds each verdict rests on
    code, out, _ = claims(capsys, str(path), "--store", url, "--no-run", "--new-seeds", "--json")
    (record,) = json.loads(out)
    assert record["seeds"] == [0, 1, 2, 3] and record["new_seeds"]["seeds"] == [1000, 1001, 1002, 1003]
    assert record["new_seeds"]["study"] == "tiny_radius-s1000" and record["new_seeds"]["flipped"] is False
    assert record["new_seeds"]["stability"] == "holds on seeds 0-3 and 1000-1003"
    # another shift is another study; not run yet, it says so and the exit status is not 0
    code, out, err = claims(capsys, str(path), "--store", url, "--no-run", "--new-seeds", "7")
    assert code == 1 and "stability: nothing to compare yet: the new seeds not run" in out
    assert "not run yet (tiny_radius-s7)" in out and "1 not run" in err


@pytest.mark.parametrize("shift", ["-5", "0", "1000000001", "abc", "1e3"])
def test_a_bad_shift_is_refused_in_one_line(tiny, capsys, shift):
    path, url = tiny
    code, out, err = claims(capsys, str(path), "--store", url, "--new-seeds", shift)
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("ablab claims: error: argument --new-seeds: must be a whole number from 1")
    assert shift in err.splitlines()[-1]


def test_a_never_run_study_is_not_run_not_inconclusive(tiny, capsys):
    path, url = tiny
    code, out, err = claims(capsys, str(path), "--store", url, "--no-run")
    assert code == 1 and out.startswith("[NOT RUN] tiny_radius") and "    --   at radius 0.5" in out
    assert "INCONCLUSIVE" not in out and "??" not in out
    assert "holds: 0, does not hold: 0, inconclusive: 0, not run: 1" in err
    code, out, _ = claims(capsys, str(path), "--store", url, "--no-run", "--json")
    (record,) = json.loads(out)
    assert record["verdict"] == "not run" and record["seeds"] == []
    assert {c["verdict"] for c in record["checks"]} == {"not run"} and {c["n"] for c in record["checks"]} == {0}


def test_shifting_keeps_a_valid_name_and_every_kind_of_seed_list():
    assert shifted_name("clipping", 1000) == "clipping-s1000"
    long = shifted_name("x" * 64, 1000)
    assert len(long) == 64 and long.endswith("-s1000")
    study = {"study": {"name": "a", "seeds": 3}}
    assert shifted_data(study, 10)["study"] == {"name": "a-s10", "seeds": [10, 11, 12]}
    assert shifted_data({"study": {"name": "a", "seeds": [0, 5]}}, 10, rename=False)["study"]["seeds"] == [10, 15]
    plan = {"study": {"name": "a", "seeds": {"start": 3, "add": 3, "max": 9}}}
    assert shifted_data(plan, 10)["study"]["seeds"]["first"] == 10
    assert study == {"study": {"name": "a", "seeds": 3}}  # the original is not changed
    for bad in (0, -1, 10**9 + 1, 1.5, True, "5"):
        with pytest.raises(ConfigError, match="a seed shift must be a whole number from 1 to 1000000000"):
            check_shift(bad)


def test_stability_lines_name_a_flip_and_a_move():
    assert seeds_text([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert stability_line("holds", [0, 1], "holds", [10, 11]) == "holds on seeds 0-1 and 10-11"
    moved = stability_line("holds", [0, 1], "inconclusive", [10, 11])
    assert moved == "moved: holds -> inconclusive (seeds 0-1 -> 10-11)"
    assert stability_line("holds", [0], "does not hold", [10]).startswith("FLIPPED: holds -> does not hold")
    checks = [("inconclusive", "holds"), ("holds", "inconclusive"), ("holds", "holds")]
    line = stability_line("inconclusive", [0], "inconclusive", [10], checks)
    assert line == "inconclusive on seeds 0 and 10; 2 of 3 checks moved (none flipped)"
    line = stability_line("does not hold", [0], "does not hold", [10], [("holds", "does not hold")])
    assert line.endswith("1 of 1 checks moved, 1 FLIPPED")


def test_the_claims_page_finds_new_seed_runs_of_any_shift_even_under_a_cut_name():
    from ablab.dashboard.claim_list import stored_shifts

    checks, other = [{"what": "eta is small"}], [{"what": "something else"}]
    long = "a" * 64  # its shifted names are cut to fit the 64-character rule
    names = {long: checks, shifted_name(long, 1000): checks, shifted_name(long, 7): checks}
    names |= {"foo": checks, "foo-s3": checks, "foo-s2": other, "foo-s07": checks, "bar-s0": checks, "bar": checks}
    assert stored_shifts(names) == {
        long: [(7, shifted_name(long, 7)), (1000, shifted_name(long, 1000))],
        "foo": [(3, "foo-s3")],  # foo-s2 has other checks, foo-s07 is not a name the shift makes: claims
    }
