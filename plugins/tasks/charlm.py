"""Character-level language modelling on a small text bundled with ablab."""

from functools import cache
from importlib.resources import files

import numpy as np

from ablab.core.engine.task import TokenStreamTask
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl


@cache
def corpus() -> tuple[str, np.ndarray, str]:
    """(alphabet, encoded text, raw text) of the bundled corpus."""
    text = files("ablab.plugins.tasks").joinpath("data/charlm.txt").read_text(encoding="utf-8")
    text = " ".join(text.split())  # one space between words: line breaks are layout, not content
    alphabet = "".join(sorted(set(text)))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    lookup = {ord(c): i for i, c in enumerate(alphabet)}
    return alphabet, np.array([lookup[int(c)] for c in codes], dtype=np.int64), text


class CharLM(TokenStreamTask):
    """Predict the next character of random windows of the bundled text (written by the ablab
    team and placed in the public domain). The best input-ignoring predictor uses character
    frequencies: its loss is the text's unigram entropy, drawn as the baseline."""

    summary = "next-character prediction on a bundled public-domain text (baseline: unigram entropy)"
    defaults = {"length": 50}
    loss = "xent"
    readout = "all"
    metric = "accuracy"
    solve = {"metric": "loss", "op": "<=", "value": 0.6, "of": "baseline"}  # text is not predictable to 99%

    def check(self):
        if not 2 <= self.options["length"] < len(corpus()[1]) // 2:
            raise ConfigError(
                f"task charlm: length must be in [2, {len(corpus()[1]) // 2}), got {self.options['length']}"
            )

    @property
    def vocab(self):
        return len(corpus()[0])

    @property
    def stream(self):
        return corpus()[1]


@hookimpl
def register_tasks(register):
    register("charlm", CharLM)
