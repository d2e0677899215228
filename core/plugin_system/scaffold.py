"""`ablab new-plugin`: writes a pip-installable plugin package that passes its own tests."""

from __future__ import annotations

import re
from pathlib import Path

from ablab.core.errors import ConfigError

KINDS = ("cell", "activation", "initializer", "task", "probe")

PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "ablab-{dist}"
version = "0.1.0"
description = "{summary}"
requires-python = ">=3.11"
dependencies = ["ablab", "numpy"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.ablab]
{name} = "{module}"

[tool.setuptools]
packages = ["{module}"]
"""

README = """# ablab-{dist}

An ablab {kind} plugin: `{name}`.

    pip install -e .            # ablab discovers it through the `ablab` entry point
    ablab plugins               # lists the {kind} {name!r}
    ablab check-plugin {kind} {name}
    pytest                      # runs the same contract check

Edit `{module}/__init__.py`; keep the backward pass in step with the forward pass, and the
contract check will tell you when they disagree.
"""

TEST = """from ablab.core.plugin_system.testing import check_{kind}


def test_{module}_passes_the_ablab_contract():
    assert check_{kind}("{name}")
"""

CELL = '''"""{name}: an ablab cell plugin (edit the equations, keep the backward in step)."""

import numpy as np

from ablab.plugin import hookimpl
from ablab.core.engine.cell import Cell, RecurrentParam


class {cls}(Cell):
    """A leaky tanh RNN: the state moves a fraction `leak` towards its tanh update.

    With a_t = W x_t + b computed by ablab before the time loop:
        z_t = a_t + h_{{t-1}} U
        n_t = tanh(z_t)
        h_t = (1 - leak) * h_{{t-1}} + leak * n_t
    """

    summary = "leaky tanh RNN (scaffolded by ablab new-plugin)"
    defaults = {{"leak": 0.5}}
    state_names = ("h",)

    @property
    def n_blocks(self):
        return 1

    def recurrent_params(self, hidden):
        return {{"U": RecurrentParam("matrix")}}

    def step(self, p, a, state):
        (h_prev,) = state  # (S,B,H)
        leak = self.options["leak"]
        n = np.tanh(a + np.matmul(h_prev, p["U"]))  # (S,B,H)
        h = (1.0 - leak) * h_prev + leak * n
        return (h,), (h_prev, n)

    def backward_step(self, p, dstate, cache, grads):
        (dh,) = dstate
        h_prev, n = cache
        leak = self.options["leak"]
        # h = (1 - leak) h_prev + leak n
        dz = dh * leak * (1.0 - n * n)  # n = tanh(z)
        # z = a + h_prev U
        grads["U"] += np.matmul(h_prev.transpose(0, 2, 1), dz)
        dh_prev = (1.0 - leak) * dh + np.matmul(dz, p["U"].transpose(0, 2, 1))
        return dz, (dh_prev,)


@hookimpl
def register_cells(register):
    register("{name}", {cls})
'''

ACTIVATION = '''"""{name}: an ablab activation plugin."""

import numpy as np

from ablab.plugin import hookimpl
from ablab.core.engine.activation import Activation


def _fn(x):
    return x / (1.0 + np.abs(x))  # softsign


def _deriv(x, y):
    return 1.0 / (1.0 + np.abs(x)) ** 2


@hookimpl
def register_activations(register):
    register("{name}", Activation("{name}", _fn, _deriv, "softsign x / (1 + |x|) (scaffolded by ablab new-plugin)"))
'''

INITIALIZER = '''"""{name}: an ablab initializer plugin."""

import numpy as np

from ablab.plugin import hookimpl
from ablab.core.engine.initializer import Initializer


def _lecun(rng, fan_in, fan_out, gain):
    return rng.normal(0.0, gain / np.sqrt(fan_in), (fan_in, fan_out))  # LeCun normal


@hookimpl
def register_initializers(register):
    summary = "LeCun normal, Var = gain^2 / fan_in (scaffolded)"
    register("{name}", Initializer("{name}", _lecun, summary, {{"gain": 1.0}}))
'''

TASK = '''"""{name}: an ablab task plugin."""

import numpy as np

from ablab.plugin import hookimpl
from ablab.core.engine.task import Batch, Task


class {cls}(Task):
    """Parity of a bit sequence: is the number of ones odd? Guessing costs ln 2."""

    summary = "parity of a length-T bit sequence (scaffolded by ablab new-plugin)"
    defaults = {{"length": 10}}
    loss = "xent"
    readout = "last"
    metric = "accuracy"

    @property
    def n_in(self):
        return 1

    @property
    def n_out(self):
        return 2

    def batch(self, rng, batch_size):
        bits = rng.integers(0, 2, (self.options["length"], batch_size))
        return Batch(bits[..., None].astype(np.float64), bits.sum(axis=0) % 2)

    def baseline(self):
        return float(np.log(2))


@hookimpl
def register_tasks(register):
    register("{name}", {cls})
'''

PROBE = '''"""{name}: an ablab probe plugin."""

import numpy as np

from ablab.plugin import hookimpl
from ablab.core.engine.probe import Probe


class {cls}(Probe):
    """Mean absolute activation per layer and activation, over probe samples and steps."""

    name = "{name}"
    summary = "mean |activation| per layer (scaffolded by ablab new-plugin)"

    def measure(self, ctx):
        out = []
        for layer, act_name, act, pre, post in ctx.net.activations(ctx.forward[1]):
            value = np.abs(post).reshape(post.shape[0], -1).mean(axis=1)
            out += ctx.record(self.name, act_name, value, layer)
        return out


@hookimpl
def register_probes(register):
    register("{name}", {cls}())
'''

TEMPLATES = {"cell": CELL, "activation": ACTIVATION, "initializer": INITIALIZER, "task": TASK, "probe": PROBE}


def new_plugin(name: str, kind: str, directory: str | Path = ".") -> Path:
    """Write the package ablab-NAME under `directory`; returns its folder."""
    if kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ConfigError(f"plugin name {name!r}: use lowercase letters, digits, '-' and '_', starting with a letter")
    module = "ablab_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    root = Path(directory) / f"ablab-{name}"
    if root.exists():
        raise ConfigError(f"{root} already exists; choose another --dir or name")
    fields = {
        "name": name,
        "dist": name,
        "module": module,
        "cls": cls,
        "kind": kind,
        "summary": f"{name}: an ablab {kind} plugin",
    }
    (root / module).mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.format(**fields))
    (root / "README.md").write_text(README.format(**fields))
    (root / module / "__init__.py").write_text(TEMPLATES[kind].format(**fields))
    (root / "tests" / f"test_{module}.py").write_text(TEST.format(**fields))
    return root
