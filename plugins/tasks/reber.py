"""Embedded Reber grammar (Reber 1967; embedded form: Hochreiter & Schmidhuber 1997)."""

import numpy as np

from ablab.core.engine.task import Batch, Task
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl

SYMBOLS = "BTSXPVE"
# Reber automaton: state -> [(symbol, next state)]; state 6 emits E and stops
GRAMMAR = {
    0: [("B", 1)],
    1: [("T", 2), ("P", 3)],
    2: [("S", 2), ("X", 4)],
    3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)],
    5: [("P", 4), ("V", 6)],
    6: [("E", None)],
}


def reber_string(rng) -> str:
    state, out = 0, []
    while state is not None:
        symbol, state = GRAMMAR[state][rng.integers(len(GRAMMAR[state]))]
        out.append(symbol)
    return "".join(out)


def embedded_reber_string(rng) -> str:
    """B, then T or P, a Reber string, the same T or P again, E. Predicting that second T/P
    needs the symbol seen at step 1: a long-range dependency."""
    branch = "TP"[rng.integers(2)]
    return "B" + branch + reber_string(rng) + branch + "E"


class Reber(Task):
    """Next-symbol prediction on embedded Reber strings (7 symbols). Strings longer than
    max_length are redrawn; shorter ones are padded and masked. An untrained model's uniform
    guess costs ln 7, the reference level drawn on loss charts."""

    summary = "embedded Reber grammar, next-symbol prediction over 7 symbols (start loss ln 7)"
    defaults = {"max_length": 30}
    loss = "xent"
    readout = "all"
    metric = "accuracy"
    solve = {"metric": "loss", "op": "<=", "value": 0.5, "of": "baseline"}  # half the next symbols are a coin flip
    vocab = 8  # 7 symbols and padding

    def check(self):
        if self.options["max_length"] < 9:
            raise ConfigError(
                f"task reber: max_length must be >= 9 (the shortest string), got {self.options['max_length']}"
            )

    @property
    def n_out(self):
        return len(SYMBOLS)

    def batch(self, rng, batch_size):
        T = self.options["max_length"] - 1
        x = np.full((T, batch_size), 7, dtype=np.int64)
        y = np.zeros((T, batch_size), dtype=np.int64)
        mask = np.zeros((T, batch_size))
        for b in range(batch_size):
            s = embedded_reber_string(rng)
            while len(s) > T + 1:
                s = embedded_reber_string(rng)
            codes = [SYMBOLS.index(c) for c in s]
            n = len(codes) - 1
            x[:n, b] = codes[:-1]
            y[:n, b] = codes[1:]
            mask[:n, b] = 1.0
        return Batch(x, y, mask)

    def baseline(self):
        return float(np.log(len(SYMBOLS)))


@hookimpl
def register_tasks(register):
    register("reber", Reber)
