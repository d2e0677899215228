"""Hostile and malformed study files: each refused with one short line naming the file and
the key, never a traceback; a hypothesis fuzz test over study documents."""

import textwrap

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ablab.core.lab import study_checks
from ablab.core.lab.study import StudyError, load_study, parse_study
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)

GOOD = textwrap.dedent(
    """
    [study]
    name = "tiny"
    seeds = [0, 1]

    [base]
    task = { name = "adding", length = 6 }
    model = { kind = "recurrent", cell = "rnn", hidden = 4 }
    optimizer = { name = "sgd", lr = 0.1 }
    train = { steps = 5, batch_size = 4 }
    probes = ["grad_through_time"]

    [axes]
    "model.cell" = ["rnn", "gru"]
    """
)


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


AXES = '"model.cell" = ["rnn", "gru"]'
HOSTILE = {
    "deep nesting": ("x = " + "[" * 5000 + "]" * 5000 + "\n" + GOOD, "nested deeper"),
    "nesting under the limit of tomllib": (
        edit("[axes]", '[axes]\n"model.cell_options" = [' + "{a=" * 20 + "1" + "}" * 20 + "]"),
        "nested deeper",
    ),
    "seed above 64 bits": (
        edit("seeds = [0, 1]", "seeds = [0, 18446744073709551616]"),
        "[study.seeds[1]] whole numbers",
    ),
    "seed of 2**63": (edit("seeds = [0, 1]", "seeds = [9223372036854775808]"), "[study.seeds[0]]"),
    # counts checked before a list of seeds is built (a billion seeds once filled 22 GB)
    "seeds as a float": (
        edit("seeds = [0, 1]", "seeds = 1e3"),
        "[study.seeds] must be a count (seeds = 20), a non-empty list of whole numbers",
    ),
    "a billion seeds": (edit("seeds = [0, 1]", "seeds = 1000000000"), "[study.seeds] at most 1000 seeds"),
    "a seed plan of a billion": (
        edit("seeds = [0, 1]", "seeds = { start = 1000000000, add = 1, max = 1000000000 }"),
        "[study.seeds.max] at most 1000 seeds",
    ),
    "a seed plan past 2**63": (
        edit("seeds = [0, 1]", "seeds = { start = 2, add = 1, max = 3, first = 9223372036854775806 }"),
        "[study.seeds.first] the seeds must stay below 2**63",
    ),
    "repeated axis value": (
        edit(AXES, '"model.cell" = ["rnn", "rnn"]'),
        "[axes.model.cell] the value 'rnn' appears twice",
    ),
    "one key in two axes": (
        edit(AXES, AXES + '\n"model.cell+model.hidden" = [["gru", 3]]'),
        "sets the same key as the axis",
    ),
    "table and its key in two axes": (edit(AXES, '"model" = [{cell = "rnn"}]\n"model.hidden" = [3, 4]'), "same key"),
    "a+a axis": (edit(AXES, '"model.hidden+model.hidden" = [[3, 4]]'), "names the same path twice"),
    "axis path into a scalar": (edit(AXES, '"model.cell.size" = [1, 2]'), "base.cell, which is a value, not a table"),
    "axis path syntax": (edit(AXES, '"model..cell" = [1, 2]'), "each path is dotted names"),
    "table where a name belongs": (edit(AXES, '"task.name" = [{ x = 1 }]'), "a task is named by text"),
    "table where a cell name belongs": (
        edit(AXES, '"model.cell" = [{ x = 1 }]'),
        "model.cell must be text, got \"{'x': 1}\"; put the options in model.cell_options",
    ),
    "std is text": (
        edit("hidden = 4 }", 'hidden = 4, recurrent_init = { name = "normal", std = "big" } }'),
        "option 'std' must be a finite number",
    ),
    "cell_options is a number": (
        edit("hidden = 4 }", "hidden = 4, cell_options = 5 }"),
        "model.cell_options must be a table",
    ),
    "nesterov is text": (
        edit("lr = 0.1 }", 'lr = 0.1, nesterov = "yes" }'),
        "optimizer.nesterov must be true or false",
    ),
    "nan lr": (edit("lr = 0.1", "lr = nan"), "[base.optimizer.lr] numbers must be finite"),
    "inf std": (edit("hidden = 4 }", "hidden = 4, spectral_radius = inf }"), "numbers must be finite"),
    "huge grid": (
        edit(
            AXES,
            "\n".join(
                f'"optimizer.{k}" = [{", ".join(str(0.1 + i / 1000) for i in range(100))}]'
                for k in ("lr", "momentum", "gamma", "rho")
            ),
        ),
        "configurations or more; a study has at most 10,000",
    ),
    "hidden 1e9": (edit("hidden = 4", "hidden = 1000000000"), "GiB for 2 seeds, more than this machine's"),
    "a million layers": (edit("hidden = 4", "hidden = 4, layers = 1000000"), "GiB for 2 seeds"),
    "batch 1e12": (edit("batch_size = 4", "batch_size = 1000000000000"), "GiB for 2 seeds"),
    "steps 1e12": (edit("steps = 5", "steps = 1000000000000"), "train.steps = 1000000000000 is more than"),
    "readout overwritten": (
        edit("hidden = 4", 'hidden = 4, readout = "all"'),
        "[base.model.readout] is set from the task",
    ),
    "n_in overwritten": (edit("hidden = 4", "hidden = 4, n_in = 7"), "[base.model.n_in] is set from the task"),
    "gradcheck axis": (edit(AXES, '"gradcheck" = [true, "no"]'), "[gradcheck] must be true or false"),
    "probes axis": (edit(AXES, '"probes" = [["grad_through_time"], ["nope"]]'), "unknown probe 'nope'"),
    "ill-typed check": (
        GOOD + '\n[[checks]]\nwhat = "x"\nquantity = "final_loss"\nop = "<"\nwhere = 3\nvalue = 1\n',
        "[checks[0]]",
    ),
    "check with a table value": (
        GOOD
        + '\n[[checks]]\nwhat = "x"\nquantity = "final_loss"\nop = "<"\nwhere = { "model.cell" = {a = 1} }\n'
        + "value = 1\n",
        "[checks[0]]",
    ),
    "claim is a table": (edit('name = "tiny"', 'name = "tiny"\nclaim = { a = 1 }'), "[study.claim] must be text"),
    "description is a number": (
        edit('name = "tiny"', 'name = "tiny"\ndescription = 3'),
        "[study.description] must be text",
    ),
    "name with a path": (edit('name = "tiny"', 'name = "../../victim/pyproject"'), "[study.name] study name"),
    "name with NUL": (edit('name = "tiny"', 'name = "a\\u0000b"'), "[study.name] text must not contain NUL"),
    "name of 1 MB": (edit('name = "tiny"', f'name = "{"x" * 200_000}"'), "[study.name] text has at most 10000"),
    "long name": (edit('name = "tiny"', f'name = "{"x" * 65}"'), "at most 64 characters"),
    "a date": (edit('name = "tiny"', 'name = "tiny"\nexpect = 1979-05-27'), "dates and times are not study values"),
}


@pytest.mark.parametrize("text,message", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_study_is_refused_in_one_short_line(tmp_path, text, message):
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    with pytest.raises(StudyError) as info:
        load_study(path, REGISTRY)
    line = str(info.value)
    assert message in line and str(path) in line
    assert "\n" not in line and len(line) <= study_checks.MAX_MESSAGE


def test_non_utf8_and_huge_files_are_refused(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(GOOD.replace("tiny", "t\xefny").encode("latin-1"))
    with pytest.raises(StudyError, match=r"not UTF-8 text \(byte 0xef at offset"):
        load_study(path, REGISTRY)
    path.write_text(GOOD + "# " + "x" * 2_000_000)
    with pytest.raises(StudyError, match="a study file has at most 1000000"):
        load_study(path, REGISTRY)


def test_the_good_study_is_accepted_and_largest_allowed_seed_works():
    study = parse_study(GOOD.replace("seeds = [0, 1]", f"seeds = [0, {2**63 - 1}]"), "good.toml", REGISTRY)
    assert study.seeds == [0, 2**63 - 1] and len(study.runs(REGISTRY)) == 4


def test_grids_are_counted_not_expanded():
    axes = {f"a{i}": list(range(10)) for i in range(30)}  # 10**30 configurations
    assert study_checks.count_configurations(axes, "grid") > study_checks.MAX_CONFIGURATIONS
    assert study_checks.count_configurations(axes, "one-at-a-time") == 301


# -- fuzzing -------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["rnn", "gru", "lstm", "adding", "normal", "sgd", "grad_through_time", "grid", "tiny"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
PATHS = st.sampled_from(
    [
        "model.cell",
        "model.hidden",
        "model.cell.x",
        "model.layers",
        "model.readout",
        "optimizer.lr",
        "optimizer.nesterov",
        "train.steps",
        "train.batch_size",
        "task.length",
        "task.name",
        "gradcheck",
        "probes",
        "model.hidden+model.hidden",
        "model.cell+optimizer.lr",
        "model",
        "nope.x",
    ]
)


def _document(base_edits, axes, meta_edits, checks):
    doc = tomllib_loads(GOOD)
    for (section, key), value in base_edits:
        table = doc["base"].setdefault(section, {}) if section != "." else doc["base"]
        if isinstance(table, dict):
            table[key] = value
    doc["axes"] = axes
    doc["study"].update(meta_edits)
    if checks is not None:
        doc["checks"] = checks
    return doc


def tomllib_loads(text):
    import tomllib

    return tomllib.loads(text)


DOCUMENTS = st.builds(
    _document,
    st.lists(
        st.tuples(
            st.tuples(
                st.sampled_from(["model", "optimizer", "train", "task", "clip", "."]),
                st.sampled_from(
                    ["cell", "hidden", "lr", "steps", "name", "layers", "std", "kind", "gradcheck", "probes"]
                ),
            ),
            VALUES,
        ),
        max_size=3,
    ),
    st.dictionaries(PATHS, st.lists(VALUES, max_size=3), max_size=2),
    st.dictionaries(st.sampled_from(["name", "seeds", "claim", "design", "expect", "colour"]), VALUES, max_size=2),
    st.none()
    | st.lists(st.dictionaries(st.sampled_from(["what", "quantity", "op", "where", "value"]), VALUES), max_size=2),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_fuzz_study_documents_give_a_study_or_a_short_study_error(doc):
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # not representable in TOML (e.g. a NaN-free writer): nothing to parse
        return
    try:
        study = parse_study(text, "fuzz.toml", REGISTRY)
    except StudyError as exc:
        line = str(exc)
        assert line.startswith("fuzz.toml: ") and "\n" not in line and len(line) <= study_checks.MAX_MESSAGE
        return
    assert study.runs(REGISTRY)  # a valid study has runs
