"""Study files: validation, expansion, hashing, and every built-in claim study's verdict."""

import copy
import json
import os
import textwrap

import numpy as np
import pandas as pd
import pytest
import tomli_w
from conftest import need_wordnet

from ablab.core.lab.claims import verdict
from ablab.core.lab.runner import run_study
from ablab.core.lab.store import Store
from ablab.core.lab.study import StudyError, load_study, parse_study, plugin_versions
from ablab.core.lab.verdicts import study_verdict
from ablab.core.plugin_system.registry import build_registry
from ablab.studies import builtin_study_paths

REGISTRY = build_registry(entry_points=False)

TINY = textwrap.dedent(
    """
    [study]
    name = "tiny"
    seeds = [0, 1]

    [base]
    task = { name = "adding", length = 6 }
    model = { kind = "recurrent", cell = "rnn", hidden = 4 }
    train = { steps = 5, batch_size = 4 }
    probes = ["grad_through_time"]

    [axes]
    "model.cell" = ["rnn", "gru"]
    "optimizer.lr" = [0.01, 0.1]
    """
)


def test_grid_and_one_at_a_time_expansion():
    grid = parse_study(TINY, "tiny.toml", REGISTRY)
    assert len(grid.points()) == 4 and len(grid.runs(REGISTRY)) == 8
    ofat = parse_study(
        TINY.replace("seeds = [0, 1]", 'seeds = [0, 1]\ndesign = "one-at-a-time"'), "tiny.toml", REGISTRY
    )
    # base (rnn, default lr) + gru + lr 0.01 + lr 0.1
    assert [p for p in ofat.points()] == [{}, {"model.cell": "gru"}, {"optimizer.lr": 0.01}, {"optimizer.lr": 0.1}]


def test_keys_are_stable_and_distinct():
    a = parse_study(TINY, "a.toml", REGISTRY)
    b = parse_study(TINY, "b.toml", REGISTRY)
    assert a.hash == b.hash
    keys = [r.key for r in a.runs(REGISTRY)]
    assert keys == [r.key for r in b.runs(REGISTRY)] and len(set(keys)) == len(keys)
    assert len({r.config_key for r in a.runs(REGISTRY)}) == 4  # seeds share an ensemble job
    changed = parse_study(TINY.replace("length = 6", "length = 7"), "c.toml", REGISTRY)
    assert changed.hash != a.hash and not set(keys) & {r.key for r in changed.runs(REGISTRY)}


BAD = [
    ("[study\nname = 'x'", "not valid TOML"),
    (TINY.replace("seeds = [0, 1]", 'seeds = [0, 1]\ncolour = "red"'), "[study.colour] unknown key; allowed keys:"),
    (
        TINY.replace("hidden = 4", "hidden = 4, hiden = 5"),
        "[base] model: unknown key 'hiden' (did you mean 'hidden'?); allowed keys:",
    ),
    (TINY.replace("hidden = 4", 'hidden = "four"'), "model.hidden must be a whole number, got 'four'"),
    (TINY.replace('name = "adding"', 'name = "addition"'), "no task named 'addition'; available tasks: adding, charlm"),
    (TINY.replace('"model.cell" = ["rnn", "gru"]', '"model.cell" = []'), "[axes.model.cell] must be a non-empty list"),
    (
        TINY.replace('"model.cell" = ["rnn", "gru"]', '"model.cell" = ["rnn", "grux"]'),
        "in model.cell = 'grux', optimizer.lr = 0.01: no cell named 'grux' (did you mean 'gru'?); available cells: gru",
    ),
    (
        TINY.replace('probes = ["grad_through_time"]', 'probes = ["gradient"]'),
        "unknown probe 'gradient'; available probes:",
    ),
    (TINY.replace("seeds = [0, 1]", "seeds = []"), "[study.seeds] must be a count (seeds = 20), a non-empty list"),
    (
        TINY.replace('task = { name = "adding", length = 6 }', 'task = { name = "adding", length = 1 }'),
        "length must be >= 2",
    ),
    (
        TINY.replace('"optimizer.lr" = [0.01, 0.1]', '"optimizer.lr" = [0.01, -0.1]'),
        "optimizer.lr must be a number > 0",
    ),
    (
        TINY
        + '\n[[checks]]\nwhat = "x"\nquantity = "final_loss"\nop = "<"\nwhere = { "model.depth" = 3 }\nvalue = 1\n',
        "which is not an axis",
    ),
    (
        TINY + '\n[[checks]]\nwhat = "x"\nquantity = "final_los"\nop = "<"\nvalue = 1\n',
        "quantity 'final_los' is unknown",
    ),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_bad_study_files_name_file_key_and_fix(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(StudyError) as info:
        load_study(path, REGISTRY)
    assert message in str(info.value) and str(path) in str(info.value)


# A mistake in [base] of a study with axes is the base's, not its first axis point's; a near miss
# of a key or a plugin name gets a hint.
TYPOS = [
    ("hidden = 4", "hiden = 4", "[base] model: unknown key 'hiden' (did you mean 'hidden'?)"),
    ('name = "adding"', 'name = "addin"', "[base] no task named 'addin' (did you mean 'adding'?)"),
    ("length = 6", "lenght = 6", "[base] task 'adding' has no option 'lenght' (did you mean 'length'?)"),
    ("steps = 5", "step = 5", "[base] train: unknown key 'step' (did you mean 'steps'?)"),
    ('["grad_through_time"]', '["grad_through_tim"]', "probe 'grad_through_tim' (did you mean 'grad_through_time'?)"),
    ("[axes]", "optimizer = { name = 'adamm' }\n[axes]", "[base] optimizer: optimizer.name must be one of"),
    ("seeds = [0, 1]", "seeds = [0, 1]\nseed = 2", "[study.seed] unknown key (did you mean 'seeds'?)"),
    (
        '["rnn", "gru"]',
        '["rnn", "lstmm"]',
        "in model.cell = 'lstmm', optimizer.lr = 0.01: no cell named 'lstmm' (did you",
    ),
]


@pytest.mark.parametrize("old,new,message", TYPOS, ids=[t[1] for t in TYPOS])
def test_typos_are_placed_and_hinted(old, new, message):
    with pytest.raises(StudyError) as info:
        parse_study(TINY.replace(old, new), "typo.toml", REGISTRY)
    assert message in str(info.value)
    if message.startswith("[base]"):
        assert " in model.cell" not in str(info.value)


@pytest.mark.parametrize("typo", TYPOS[:2], ids=["key", "plugin name"])
def test_the_cli_reports_a_typo_in_base_on_one_line_with_its_hint(tmp_path, typo):
    import subprocess
    import sys

    old, new, message = typo
    path = tmp_path / "typo.toml"
    path.write_text(TINY.replace(old, new))
    argv = [sys.executable, "-m", "ablab.core.cli", "run", str(path), "--store", f"sqlite:///{tmp_path / 's.sqlite'}"]
    out = subprocess.run(argv, capture_output=True, text=True)
    (line,) = out.stderr.strip().splitlines()  # one line, no traceback
    assert out.returncode == 2 and message in line and str(path) in line and " in model.cell" not in line, line


def test_a_base_value_that_every_axis_point_overrides_is_no_error():
    study = parse_study(TINY.replace('cell = "rnn"', 'cell = "rn"'), "t.toml", REGISTRY)  # the axis sets the cell
    assert {c["model"]["cell"] for _, c in study.configurations()} == {"rnn", "gru"}


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StudyError, match="cannot read the study file"):
        load_study(tmp_path / "nope.toml", REGISTRY)


def test_every_builtin_study_is_valid():
    names = [load_study(p, REGISTRY).name for p in builtin_study_paths()]
    assert len(names) == len(set(names)) >= 14


# The verdict each claim is expected to reach. A test accepts it or "inconclusive", never the
# opposite: a verdict is three-valued and interval-based (ablab.core.lab.verdicts), so an
# outcome at a noise edge reads as inconclusive instead of flipping with the seeds or the CPU.
# Three claims do not hold at ablab's small scale, and the lab says so (each study's
# description gives the numbers): with learning rates tuned per variant, dropping the output
# activation is not shown to hurt (lstm_variants, inconclusive at 12 seeds); batch norm alone does
# not make a 50-layer plain net trainable (deep_batchnorm: skip connections do, with or without
# batch norm, and the study's other checks say so); on a tanh teacher the tanh
# student ends 4x lower than the ReLU student (activation_speed).
EXPECTED = {
    "relatedness": True,
    "polysemy": True,
    "bptt_exact": True,
    "gradient_decay": True,
    "memory_span": True,
    "clipping": True,
    "orthogonal_init": True,
    "lstm_gates": True,
    "lstm_variants": False,
    "dying_relu": True,
    "mean_shift": True,
    "deep_batchnorm": False,
    "identity_linear": True,
    "activation_speed": False,
}
LABEL = {True: "holds", False: "does not hold"}


def test_every_builtin_study_has_an_expected_verdict():
    assert {load_study(p, REGISTRY).name for p in builtin_study_paths()} == set(EXPECTED)


def needs_data(study) -> None:
    """Studies on WordNet's text skip without it (fail under CI=true, which installs it)."""
    task = study.data["base"].get("task", {})
    if isinstance(task, dict) and task.get("name") == "wordnet":
        need_wordnet()


def shrink(study, fraction: float = 0.1, seeds: int = 3):
    """The study at a small size: a tenth of the steps, three seeds, one word2vec epoch."""
    data = copy.deepcopy(study.data)
    data["study"]["seeds"] = study.seeds[:seeds]
    base = data["base"]
    train = base.setdefault("train", {})
    train["steps"] = max(2, int(train.get("steps", 300) * fraction))
    if base.get("model", {}).get("kind") == "word2vec":
        base["model"]["epochs"] = 1
    return parse_study(tomli_w.dumps(data), study.source, REGISTRY)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    return Store(f"sqlite:///{tmp_path_factory.mktemp('small') / 'small.sqlite'}")


@pytest.mark.parametrize("path", builtin_study_paths(), ids=lambda p: p.stem)
def test_claim_study_at_small_size(path, small_store):
    """Every built-in study runs and every one of its checks is judged (any verdict: a tenth
    of the steps decides nothing); the full size runs under `make claims`."""
    study = shrink(load_study(path, REGISTRY))
    needs_data(study)
    progress = run_study(study, REGISTRY, small_store, workers=2)
    assert progress.failed == 0
    v = study_verdict(study, small_store, REGISTRY)
    assert len(v.checks) == len(study.checks) and v.label in ("holds", "does not hold", "inconclusive")
    assert all(c.text and c.text != "no runs stored" for c in v.checks), [c.text for c in v.checks]


@pytest.fixture(scope="module")
def claims_store(tmp_path_factory):
    # `make claims` fills ABLAB_CLAIMS_STORE with `ablab claims` first (and prints its time)
    url = os.environ.get("ABLAB_CLAIMS_STORE") or f"sqlite:///{tmp_path_factory.mktemp('claims') / 'claims.sqlite'}"
    return Store(url)


@pytest.mark.claims
@pytest.mark.parametrize("path", builtin_study_paths(), ids=lambda p: p.stem)
def test_claim_verdict(path, claims_store):
    study = load_study(path, REGISTRY)
    needs_data(study)
    progress = run_study(study, REGISTRY, claims_store, workers=2)
    assert progress.failed == 0
    v = study_verdict(study, claims_store, REGISTRY)
    assert v.label in (LABEL[EXPECTED[study.name]], "inconclusive"), [c.text for c in v.checks]


def test_verdict_without_stored_runs_is_inconclusive():
    import pandas as pd

    study = load_study(builtin_study_paths()[0], REGISTRY)
    v = verdict(study.name, study.claim, study.checks, pd.DataFrame())
    assert v.holds is None and v.label == "inconclusive" and all(c.text == "no runs stored" for c in v.checks)


def test_embedding_is_an_ablation_axis(tmp_path):
    text = """
[study]
name = "emb"
seeds = [0]

[base]
task = { name = "recall", max_lag = 2 }
model = { cell = "gru", hidden = 4 }
train = { steps = 3, batch_size = 4 }

[axes]
"model.embedding" = ["onehot", { name = "random", dim = 3 }, { name = "learned", dim = 3 },
                     { name = "word2vec", dim = 3, epochs = 1, stream_batches = 2, finetune = true }]
"""
    study = parse_study(text, "emb.toml", REGISTRY)
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    assert run_study(study, REGISTRY, store, workers=0).done == 4
    bad = text.replace('{ name = "learned", dim = 3 }', '{ name = "learned", dim = 0 }')
    with pytest.raises(StudyError, match="'dim' must be a whole number >= 1"):
        parse_study(bad, "emb.toml", REGISTRY)


def test_model_table_is_optional():
    text = '[study]\nname = "m"\nseeds = [0]\n[base]\ntask = { name = "adding", length = 5 }\n'
    study = parse_study(text, "m.toml", REGISTRY)
    (run,) = study.runs(REGISTRY)
    assert "cell:lstm" in json.dumps(plugin_versions(run.config, REGISTRY))


def test_summary_of_a_target_never_reached_is_inf_without_a_spread():
    import warnings

    from ablab.core.lab.results import summary

    frame = pd.DataFrame(
        {
            "key": ["a", "b", "c", "d"],
            "seed": [0, 1, 0, 1],
            "status": ["done"] * 4,
            "@cell": ["rnn", "rnn", "lstm", "lstm"],
            "steps_to_0.5x_baseline": [np.inf, np.inf, 10.0, 14.0],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no "invalid value" from std over inf
        table = summary(frame).set_index("cell")
    assert table.loc["rnn", "steps_to_0.5x_baseline"] == np.inf and np.isnan(
        table.loc["rnn", "steps_to_0.5x_baseline ±95%"]
    )
    assert table.loc["lstm", "steps_to_0.5x_baseline"] == 12.0 and table.loc["lstm", "steps_to_0.5x_baseline ±95%"] > 0
