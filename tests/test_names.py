"""One rule for study names, wherever a name arrives."""

import pytest

from ablab.core.errors import ConfigError
from ablab.core.lab.names import MAX_LENGTH, check_study_name


@pytest.mark.parametrize("name", ["clipping", "lstm_gates", "Relu-vs-tanh-2", "a", "x" * MAX_LENGTH])
def test_plain_slugs_are_accepted(name):
    assert check_study_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../evil",
        "a/b",
        "/abs",
        ".",
        "..",
        ".hidden",
        "-dash",
        "a b",
        "nul\x00",
        "esc\x1b[31m",
        "rtl\u202eexe",
        "caf\u00e9",
        "emoji\U0001f600",
        "x" * (MAX_LENGTH + 1),
        "x" * 1_000_000,
        7,
        None,
    ],
)
def test_unsafe_names_are_refused_with_a_short_message(name):
    with pytest.raises(ConfigError) as info:
        check_study_name(name)
    assert len(str(info.value)) < 300
