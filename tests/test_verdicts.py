"""Verdict statistics on constructed per-seed data whose answer is known."""

import numpy as np
import pandas as pd
import pytest
from radius_study import radius_study

from ablab.core.errors import ConfigError
from ablab.core.lab import run_summaries
from ablab.core.lab.verdicts import validate_check, verdict
from ablab.core.lab.verdicts.checks import MIN_RUNS
from ablab.core.lab.verdicts.quantities import add_solve_columns, validate_solve

A, B = {"model.cell": "a"}, {"model.cell": "b"}


def frame(columns: dict[str, dict[str, list]], status: dict[str, list] | None = None, seeds=None) -> pd.DataFrame:
    """One row per run: configurations a and b of axis model.cell; columns[name][cell] are the
    per-seed values of one result column."""
    rows = []
    cells = next(iter(columns.values())).keys()
    for cell in cells:
        n = len(columns[next(iter(columns))][cell])
        for i in range(n):
            seed = seeds[cell][i] if seeds else i
            row = {"key": f"{cell}{seed}", "seed": seed, "status": "done", "@model.cell": cell}
            if status:
                row["status"] = status[cell][i]
            for name, per_cell in columns.items():
                row[name] = per_cell[cell][i]
            rows.append(row)
    return pd.DataFrame(rows)


def judge(f, *checks):
    return verdict("t", "claim", [{"what": f"check {i}", **c} for i, c in enumerate(checks)], f)


def less(q="final_loss", **extra):
    return {"quantity": q, "op": "<", "where": A, "than": B, **extra}


# paired differences with mean / standard error = 2.45: a 95% t interval (t = 2.26) clears 0,
# a 97.5% one (t = 2.69) does not
BORDERLINE = np.array([0.808, 1.108, -0.392, 1.408, 0.108, 1.008, -0.692, 1.308, 0.208, 0.708])
RNG = np.random.default_rng(7)
NOISE = RNG.normal(0, 1, 12)


def test_a_clear_effect_holds_and_the_text_shows_effect_interval_and_n():
    f = frame({"final_loss": {"a": 0.1 * np.exp(0.1 * NOISE), "b": np.exp(0.1 * NOISE[::-1])}})
    v = judge(f, less())
    (c,) = v.checks
    assert v.holds is True and c.holds is True
    assert c.low < c.effect < c.high < 1 and 0.05 < c.effect < 0.2
    assert "ratio a/b = " in c.text and "n = 12 paired seeds" in c.text and "needed < 1x" in c.text


def test_the_opposite_effect_does_not_hold():
    f = frame({"final_loss": {"a": np.exp(0.1 * NOISE), "b": 0.1 * np.exp(0.1 * NOISE[::-1])}})
    assert judge(f, less()).holds is False


def test_noise_without_an_effect_is_inconclusive():
    f = frame({"final_loss": {"a": np.exp(NOISE), "b": np.exp(NOISE[::-1])}})
    (c,) = judge(f, less()).checks
    assert c.holds is None and c.low < 1 < c.high


def test_factor_is_a_ratio_threshold_on_the_log_scale():
    f = frame({"final_loss": {"a": 2 * np.exp(0.05 * NOISE), "b": np.exp(0.05 * NOISE)}})
    assert judge(f, less(factor=3.0)).holds is True  # a is 2x b: within 3x
    assert judge(f, less(factor=1.5)).holds is False  # ... and not within 1.5x


def test_pairing_by_seed_narrows_the_interval():
    # a seed effect shared by both configurations (same data and init streams) dominates
    seed_effect = 3 * NOISE
    a, b = 0.2 * np.exp(seed_effect + 0.1 * NOISE[::-1]), np.exp(seed_effect)
    paired = judge(frame({"final_loss": {"a": a, "b": b}}), less()).checks[0]
    # the same values on other seeds of b: nothing to pair
    shifted = frame({"final_loss": {"a": a, "b": b}}, seeds={"a": list(range(12)), "b": list(range(100, 112))})
    unpaired = judge(shifted, less()).checks[0]
    assert "paired" in paired.text and "12 + 12 runs" in unpaired.text
    assert np.log(paired.high / paired.low) < 0.5 * np.log(unpaired.high / unpaired.low)
    assert paired.holds is True and unpaired.holds is None


def test_holm_makes_a_borderline_check_inconclusive():
    d = BORDERLINE
    f = frame({"final_accuracy": {"a": 1 + d, "b": np.ones(10)}, "final_loss": {"a": np.exp(NOISE[:10]), "b": d}})
    borderline = {"quantity": "final_accuracy", "op": ">", "where": A, "than": B}
    alone = judge(f, borderline).checks[0]
    assert alone.holds is True and alone.confidence == pytest.approx(0.95)
    noise = {"quantity": "final_loss", "op": ">", "where": A, "value": 1.0}  # noise around 1: never resolves
    among = judge(f, borderline, *[noise] * 4).checks[0]
    assert among.holds is None and among.confidence == pytest.approx(0.99)
    assert "99% interval, Holm over 5 checks" in among.text


def test_holm_steps_down_once_a_check_resolves():
    d = BORDERLINE
    f = frame({"final_accuracy": {"a": 1 + d, "b": np.ones(10)}, "final_loss": {"a": 0.01 + 0 * d, "b": np.ones(10)}})
    borderline = {"quantity": "final_accuracy", "op": ">", "where": A, "than": B}
    clear = {"quantity": "final_loss", "op": "<", "where": A, "than": B}  # exact: resolves at any level
    first, second = judge(f, clear, borderline).checks
    assert first.holds is True and first.confidence == pytest.approx(0.975)
    assert second.holds is True and second.confidence == pytest.approx(0.95)  # at 97.5% it would not


def test_a_rate_check_with_three_against_three_cannot_hold():
    f = frame({"x": {"a": [0] * 3, "b": [0] * 3}}, status={"a": ["diverged"] * 3, "b": ["done"] * 3})
    c = judge(f, {"quantity": "diverged", "op": ">", "where": A, "than": B}).checks[0]
    assert c.holds is None and "3/3" in c.text and "0/3" in c.text and "Fisher" in c.text


def test_a_rate_check_with_enough_seeds_holds_and_its_opposite_does_not():
    status = {"a": ["diverged"] * 9 + ["done"], "b": ["done"] * 9 + ["diverged"]}
    f = frame({"x": {"a": [0] * 10, "b": [0] * 10}}, status=status)
    assert judge(f, {"quantity": "diverged", "op": ">", "where": A, "than": B}).holds is True
    assert judge(f, {"quantity": "diverged", "op": "<", "where": A, "than": B}).holds is False


def test_a_rate_against_a_value_uses_the_exact_binomial_interval():
    status = {"a": ["done"] * 19 + ["diverged"], "b": ["done"] * 20}
    f = frame({"x": {"a": [0] * 20, "b": [0] * 20}}, status=status)
    c = judge(f, {"quantity": "diverged", "op": "<", "where": A, "value": 0.3}).checks[0]
    assert c.holds is True and "1/20" in c.text
    assert c.high == pytest.approx(0.2487, abs=1e-3)  # Clopper-Pearson upper bound of 1/20


def test_diverged_runs_never_feed_a_loss_or_probe_quantity():
    loss = {"a": [0.1, 0.1, 1e30, 0.1, 1e33], "b": [1.0] * 5}
    status = {"a": ["done", "done", "diverged", "done", "diverged"], "b": ["done"] * 5}
    f = frame({"final_loss": loss, "probe.x@final": loss}, status=status)
    for q in ("final_loss", "probe.x@final"):
        c = judge(f, less(q)).checks[0]
        assert c.holds is True and "2 diverged" in c.text and c.effect < 0.2
    f.loc[f["key"] == "a0", "status"] = "diverged"  # two runs left: too few
    c = judge(f, less("probe.x@final")).checks[0]
    assert c.holds is None and "3 diverged" in c.text and f"at least {MIN_RUNS} needed" in c.text


def test_a_diverged_run_counts_as_infinite_for_final_loss_or_inf():
    loss = {"a": [0.1] * 6, "b": [0.2, 0.2, np.nan, np.nan, np.nan, np.nan]}
    status = {"a": ["done"] * 6, "b": ["done", "done"] + ["diverged"] * 4}
    f = frame({"final_loss": loss}, status=status)
    c = judge(f, less("final_loss_or_inf")).checks[0]
    assert c.holds is True and "6 of 6 untied seeds" in c.text


def test_between_each_and_spread():
    rng = np.random.default_rng(1)
    f = frame({"final_loss": {"a": 1 + 0.01 * rng.normal(size=8), "b": 1.5 + 0.01 * rng.normal(size=8)}})
    assert judge(f, {"quantity": "final_loss", "op": "between", "where": A, "value": [0.9, 1.1]}).holds is True
    assert judge(f, {"quantity": "final_loss", "op": "between", "where": B, "value": [0.9, 1.1]}).holds is False
    assert judge(f, {"quantity": "final_loss", "op": "<", "value": 2.0, "each": True}).holds is True
    each = judge(f, {"quantity": "final_loss", "op": "<", "value": 1.2, "each": True}).checks[0]
    assert each.holds is False and "fails for b" in each.text
    assert judge(f, {"quantity": "final_loss", "op": "spread<", "value": 2.0}).holds is True
    assert judge(f, {"quantity": "final_loss", "op": "spread>", "value": 1.2}).holds is True
    assert judge(f, {"quantity": "final_loss", "op": "spread>", "value": 2.0}).holds is False


def test_a_deterministic_quantity_has_a_point_interval():
    f = frame({"gradcheck_error": {"a": [1e-9] * 3, "b": [1e-9] * 3}})
    c = judge(f, {"quantity": "gradcheck_error", "op": "<", "value": 1e-6}).checks[0]
    assert c.holds is True and c.low == c.high == pytest.approx(1e-9)


def metric_rows(curves: dict[str, list[float]], name: str, baseline: float | None = None) -> pd.DataFrame:
    rows = []
    for key, values in curves.items():
        rows += [{"run_key": key, "step": 10 * i, "name": name, "value": v} for i, v in enumerate(values)]
        if baseline is not None:
            rows.append({"run_key": key, "step": 0, "name": "baseline", "value": baseline})
    return pd.DataFrame(rows)


def summarised(f: pd.DataFrame, metrics: pd.DataFrame, solve: dict) -> pd.DataFrame:
    """f with the budget and solve steps the store keeps for runs with these records."""
    no_probes = pd.DataFrame(columns=["run_key", "step", "probe", "name", "idx", "value"])
    values = run_summaries.summarize(metrics, no_probes, {k: [solve] for k in f["key"]})
    wide = values.pivot(index="run_key", columns="name", values="value")
    return f.join(wide[["budget", run_summaries.solve_name(solve)]], on="key")


def test_solved_and_steps_to_solve_from_the_metric_curves():
    fast, late, never = [0.5] * 2 + [1.0] * 18, [0.5] * 10 + [1.0] * 10, [0.5] * 20
    curves = {"a0": fast, "a1": fast, "a2": late, "b0": never, "b1": late, "b2": never}
    f = frame(
        {"final_accuracy": {"a": [1.0, 1.0, 1.0], "b": [0.5, 1.0, np.nan]}},
        status={"a": ["done"] * 3, "b": ["done", "done", "diverged"]},
    )
    solve = {"metric": "accuracy", "op": ">=", "value": 0.99}
    out = add_solve_columns(None, summarised(f, metric_rows(curves, "accuracy"), solve), solve).set_index("key")
    assert out["solved"].to_dict() == {"a0": 1, "a1": 1, "a2": 1, "b0": 0, "b1": 1, "b2": 0}
    assert out.loc["a0", "steps_to_solve"] < out.loc["a2", "steps_to_solve"] < out.loc["b0", "steps_to_solve"]
    assert out.loc["b0", "steps_to_solve"] == out.loc["b2", "steps_to_solve"] == out.loc["b0", "budget"] == 191
    loss_solve = {"metric": "loss", "op": "<=", "value": 0.1, "of": "baseline"}
    f2 = frame({"final_loss": {"a": [0.05, 0.5, 0.01]}}).assign(baseline=1.0)
    loss = metric_rows({"a0": [1, 0.05], "a1": [1, 0.5], "a2": [1, 0.01]}, "loss", baseline=1.0)
    out2 = add_solve_columns(None, summarised(f2, loss, loss_solve), loss_solve)
    assert out2["solved"].tolist() == [1, 0, 1]


def test_solved_rates_judge_a_bimodal_outcome():
    # one seed at 0.26 and two at 1.0 read as a rate, not a mean of 0.75
    f = frame({"solved": {"a": [1.0] * 20, "b": [1.0, 0.0] * 10}, "final_accuracy": {"a": [1.0] * 20, "b": [0.5] * 20}})
    assert judge(f, {"quantity": "solved", "op": ">", "where": A, "value": 0.8}).holds is True
    assert judge(f, {"quantity": "solved", "op": ">", "where": A, "than": B}).holds is True


@pytest.mark.parametrize(
    "check,message",
    [
        ({"quantity": "diverged", "op": ">", "than": {}, "factor": 2.0}, "factor and offset do not apply"),
        ({"quantity": "final_loss", "op": "spread<", "value": 0.5}, "ratio above 1"),
        ({"quantity": "solved", "op": "spread<", "value": 2}, "is not one"),
        ({"quantity": "final_loss_or_inf", "op": "between", "value": [0, 1]}, "needs finite values"),
        ({"quantity": "final_loss", "op": "<", "value": 1, "factor": 0}, "factor must be > 0"),
        ({"quantity": "final_loss", "op": "<", "than_quantity": "diverged"}, "is a rate quantity"),
    ],
)
def test_checks_that_cannot_be_judged_are_config_errors(check, message):
    with pytest.raises(ConfigError, match=message):
        validate_check({"what": "x", **check}, {})


@pytest.mark.parametrize(
    "solve,message",
    [
        ({"metric": "acc", "op": ">=", "value": 1}, "metric must be one of"),
        ({"metric": "loss", "op": "=", "value": 1}, "op must be one of"),
        ({"metric": "loss", "op": "<", "value": "1"}, "value must be a number"),
        ({"metric": "loss", "op": "<", "value": 1, "of": "start"}, 'of can only be "baseline"'),
        ({"metric": "loss", "op": "<", "value": 1, "by": 2}, "unknown key 'by'"),
    ],
)
def test_bad_solve_tables(solve, message):
    with pytest.raises(ConfigError, match=message):
        validate_solve(solve)


USER_STUDY = radius_study(
    "my_radius",
    seeds=8,
    steps=2,
    study_extra='solve = { metric = "loss", op = "<=", value = 0.01, of = "baseline" }',
    checks_extra="""
[[checks]]
what = "two steps solve nothing"
quantity = "solved"
op = "<"
value = 0.5
""",
)


def cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "ablab.core.cli", *args], capture_output=True, text=True)


def test_a_users_study_gets_its_verdict_from_the_file_and_from_the_store(tmp_path):
    import json

    path = tmp_path / "mine.toml"
    path.write_text(USER_STUDY)
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    assert cli("run", str(path), "--store", store, "--workers", "0").returncode == 0
    by_file = cli("claims", str(path), "--no-run", "--store", store)
    assert by_file.returncode == 0, by_file.stdout + by_file.stderr
    assert "[HOLDS] my_radius" in by_file.stdout and "0/16" in by_file.stdout
    assert "ablab claims: 1 study in" in by_file.stderr and "holds: " in by_file.stderr  # the wall time
    by_name = cli("claims", "--study", "my_radius", "--store", store)  # not a built-in: judged from the store
    assert by_name.returncode == 0 and by_name.stdout == by_file.stdout
    table = cli("claims", "--study", "my_radius", "--store", store, "--markdown").stdout
    assert table.startswith("| study | claim | verdict |") and "| my_radius |" in table and "**holds**" in table
    (record,) = json.loads(cli("claims", "--study", "my_radius", "--store", store, "--json").stdout)
    assert record["verdict"] == "holds" and [c["n"] for c in record["checks"]] == [8, 8, 16]
    missing = cli("claims", "--study", "nope", "--store", store)
    assert missing.returncode == 2 and "my_radius" in missing.stderr and "relatedness" in missing.stderr


def test_seeds_may_be_a_count(registry):
    from ablab.core.lab.study import StudyError, parse_study

    assert parse_study(USER_STUDY, "u.toml", registry).seeds == list(range(8))
    with pytest.raises(StudyError, match=r"\[study.seeds\] a number of seeds must be >= 1"):
        parse_study(USER_STUDY.replace("seeds = 8", "seeds = 0"), "u.toml", registry)
    bad_solve = USER_STUDY.replace('metric = "loss"', 'metric = "accuracy"')
    with pytest.raises(StudyError, match="the task has no accuracy"):
        parse_study(bad_solve, "u.toml", registry)


SEQUENTIAL = """
[study]
name = "by_need"
claim = "Two training steps solve nothing."
seeds = { start = 3, add = 3, max = 12 }
solve = { metric = "loss", op = "<=", value = 0.001, of = "baseline" }

[base]
task = { name = "adding", length = 8 }
model = { kind = "recurrent", cell = "rnn", hidden = 4 }
train = { steps = 2, batch_size = 4 }

[[checks]]
what = "fewer than half the runs solve the task"
quantity = "solved"
op = "<"
value = 0.5
"""


def test_seeds_by_need_add_blocks_until_every_check_resolves(tmp_path, registry):
    from ablab.core.lab.store import Store
    from ablab.core.lab.study import parse_study
    from ablab.core.lab.verdicts.verdict import run_by_need, stored_verdict

    study = parse_study(SEQUENTIAL, "seq.toml", registry)
    assert study.seeds == [0, 1, 2] and study.looks == 4
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    looks = []
    final, _ = run_by_need(study, registry, store, workers=0, on_look=lambda s, p, v: looks.append((len(s.seeds), v)))
    # 0 of n solved: the exact upper bound at 1 - 0.05/4 first falls under 0.5 at 9 seeds
    assert [(n, v.label) for n, v in looks] == [(3, "inconclusive"), (6, "inconclusive"), (9, "holds")]
    assert final.seeds == list(range(9))
    v = stored_verdict(store, "by_need", registry)
    assert v.label == "holds" and "0/9" in v.checks[0].text and "4 looks" in v.checks[0].text
    shifted = parse_study(SEQUENTIAL.replace("max = 12 }", "max = 12, first = 1000 }"), "s.toml", registry)
    assert shifted.seeds == [1000, 1001, 1002] and shifted.with_seed_count(6).seeds[-1] == 1005


@pytest.mark.parametrize(
    "plan,message",
    [
        ("{ start = 3, add = 3 }", "[study.seeds.max] must be a whole number >= 1"),
        ("{ start = 5, add = 1, max = 4 }", "[study.seeds.max] must be >= start (5)"),
        ("{ start = 3, add = 3, max = 9, step = 1 }", "[study.seeds.step] unknown key"),
    ],
)
def test_bad_seed_plans(plan, message, registry):
    from ablab.core.lab.study import StudyError, parse_study

    with pytest.raises(StudyError) as info:
        parse_study(SEQUENTIAL.replace("{ start = 3, add = 3, max = 12 }", plan), "seq.toml", registry)
    assert message in str(info.value)


def test_a_check_on_paths_varied_together_names_each_part_and_says_what_both_sides_share():
    axis = "model.cell+model.hidden+train.steps"
    f = frame({"final_accuracy": {"a": 0.9 + 0.01 * NOISE, "b": 0.5 + 0.01 * NOISE[::-1]}})
    f = f.assign(**{f"@{axis}": [f"{c} / 64 / 100" for c in f["@model.cell"]]}).drop(columns="@model.cell")
    check = {"quantity": "final_accuracy", "op": ">", "where": {axis: ["a", 64, 100]}, "than": {axis: ["b", 64, 100]}}
    (c,) = judge(f, check).checks
    assert "final_accuracy difference at hidden=64, steps=100: cell=a - cell=b = 0.4" in c.text, c.text
    # a rate and a ratio say the shared part too (it was lost from their texts)
    status = {"a": ["done"] * 12, "b": ["diverged"] * 12}
    g = frame({"final_loss": {"a": 0.1 * np.exp(0.1 * NOISE), "b": np.exp(0.1 * NOISE)}}, status=status)
    g = g.assign(**{f"@{axis}": [f"{c} / 64 / 100" for c in g["@model.cell"]]}).drop(columns="@model.cell")
    (r,) = judge(g, {**check, "quantity": "diverged", "op": "<"}).checks
    assert "diverged at hidden=64, steps=100: cell=a 0/12 = 0% vs cell=b 12/12 = 100%" in r.text, r.text
