"""`ablab new-plugin`: writes a pip-installable plugin package that passes its own tests.

One package may register several kinds (`--kind cell --kind activation`): one module with one
hook per kind, one contract test per kind and a README that explains each hook."""

from __future__ import annotations

import re
from pathlib import Path

from ablab.core.errors import ConfigError
from ablab.core.plugin_system.kinds import KINDS as _KINDS

KINDS = tuple(_KINDS)  # every plugin kind can be scaffolded

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

[tool.pytest.ini_options]
pythonpath = ["."]  # the tests import the package from here: no install needed
"""

README = """# ablab-{dist}

An ablab plugin package registering {listing}. Everything it imports comes from
`ablab.plugin`, ablab's stable plugin API (see ablab's docs/plugins.md and docs/api.md).

    pip install -e .            # ablab discovers it through the `ablab` entry point
    ablab plugins               # lists what it registers
{checks}
    pytest                      # runs the same contract checks, without installing

## The hooks in `{module}/__init__.py`

{hooks}
Keep each backward pass in step with its forward pass: the contract check compares them
with float64 finite differences and names the output that disagrees.

## Publishing

Pin the ablab major version you tested against (`dependencies = ["ablab>=0.1,<1"]`) and bump
this package's version whenever results would change: ablab recomputes stored runs when a
plugin's version or code changes.
"""

HOOK_DOCS = {
    "cell": """- `register_cells(register)` registers `{cls}Cell`, a `Cell`: ablab computes a_t = x_t W + b before
  the time loop; `step(p, a, state)` returns the new state tuple (h first) and a cache, and
  `backward_step(p, dstate, cache, grads)` adds parameter gradients into `grads` and returns
  `(da, dstate_prev)`. `recurrent_params(hidden)` names its recurrent weights
  (`RecurrentParam("matrix")` or `("vector")`, with an optional `init(rng, hidden)`); an
  optional `constrain(p)` runs after each optimiser step. Every array has a leading ensemble
  axis S: never mix values across it.
""",
    "activation": """- `register_activations(register)` registers an `Activation(name, fn, deriv, summary)`: `fn(x)` is
  f(x) and `deriv(x, y)` is f'(x) given y = f(x) too; cells use it by name through `resolve`.
""",
    "embedding": """- `register_embeddings(register)` registers `{cls}Embedding`, an `Embedding` for token tasks:
  `init_member(rng)` draws the member's parameters, `forward(p, tokens)` maps (S, T, B) tokens to
  (S, T, B, dim) vectors and, when trainable, `backward(p, tokens, dx, grads)` adds the gradient.
""",
    "initializer": """- `register_initializers(register)` registers an `Initializer(name, fn, summary, defaults)`:
  `fn(rng, fan_in, fan_out, **options)` returns a (fan_in, fan_out) array drawn only from `rng`.
""",
    "task": """- `register_tasks(register)` registers `{cls}Task`, a `Task`: `batch(rng, batch_size)` returns a
  time-major `Batch(x, y, mask)` drawn only from `rng`, `baseline()` the loss of the best
  input-ignoring guess; `loss`, `readout`, `metric`, `n_in` and `n_out` describe it.
""",
    "probe": """- `register_probes(register)` registers a `{cls}Probe` instance: `measure(ctx)` reads the network at
  a checkpoint (`ctx.forward`, `ctx.backward`, `ctx.params`, `ctx.net`) and returns records
  made with `ctx.record(...)`; `applies(net, task)` narrows where it runs. The Results page
  charts every probe quantity it records.
""",
}

TEST = """def test_the_{kind}_passes_the_ablab_contract():
    # registered in-process: the test needs no pip install
    assert check_{kind}("{name}", registry=registry_with({module}))
"""

IMPORTS = {
    "cell": ("numpy", "Cell", "RecurrentParam"),
    "activation": ("numpy", "Activation"),
    "embedding": ("Embedding", "lookup", "scatter_add"),
    "initializer": ("numpy", "Initializer"),
    "task": ("numpy", "Batch", "Task"),
    "probe": ("numpy", "Probe"),
}

CELL = '''class {cls}Cell(Cell):
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
    register("{name}", {cls}Cell)
'''

ACTIVATION = """def _activation(x):
    return x / (1.0 + np.abs(x))  # softsign


def _activation_deriv(x, y):
    return 1.0 / (1.0 + np.abs(x)) ** 2


@hookimpl
def register_activations(register):
    summary = "softsign x / (1 + |x|) (scaffolded by ablab new-plugin)"
    register("{name}", Activation("{name}", _activation, _activation_deriv, summary))
"""

EMBEDDING = '''class {cls}Embedding(Embedding):
    """A trainable lookup table with vectors drawn N(0, 1/dim): x_t = E[token_t]."""

    summary = "trainable lookup table (scaffolded by ablab new-plugin)"
    defaults = {{"dim": 16}}
    trainable = True

    def init_member(self, rng):
        return {{"E": rng.normal(0.0, self.dim**-0.5, (self.vocab, self.dim))}}

    def forward(self, p, tokens):
        return lookup(p["E"], tokens)  # (S, T, B) -> (S, T, B, dim)

    def backward(self, p, tokens, dx, grads):
        scatter_add(grads["E"], tokens, dx)  # the sparse gradient of the lookup


@hookimpl
def register_embeddings(register):
    register("{name}", {cls}Embedding)
'''

INITIALIZER = """def _lecun(rng, fan_in, fan_out, gain):
    return rng.normal(0.0, gain / np.sqrt(fan_in), (fan_in, fan_out))  # LeCun normal


@hookimpl
def register_initializers(register):
    summary = "LeCun normal, Var = gain^2 / fan_in (scaffolded)"
    register("{name}", Initializer("{name}", _lecun, summary, {{"gain": 1.0}}))
"""

TASK = '''class {cls}Task(Task):
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
    register("{name}", {cls}Task)
'''

PROBE = '''class {cls}Probe(Probe):
    """Mean absolute activation per layer and activation, over probe samples and steps."""

    name = "{name}"
    summary = "mean |activation| per layer (scaffolded by ablab new-plugin)"

    def measure(self, ctx):
        out = []
        for layer, act_name, _act, _pre, post in ctx.net.activations(ctx.forward[1]):
            value = np.abs(post).reshape(post.shape[0], -1).mean(axis=1)
            out += ctx.record(self.name, act_name, value, layer)
        return out


@hookimpl
def register_probes(register):
    register("{name}", {cls}Probe())
'''

TEMPLATES = {
    "cell": CELL,
    "activation": ACTIVATION,
    "embedding": EMBEDDING,
    "initializer": INITIALIZER,
    "task": TASK,
    "probe": PROBE,
}


def _module_text(kinds: list[str], fields: dict) -> str:
    needs = {n for kind in kinds for n in IMPORTS[kind]}
    api = sorted(needs - {"numpy"} | {"hookimpl"}, key=lambda n: (n[0].islower(), n))  # as isort orders them
    lines = [f'"""{fields["summary"]}."""', ""]
    if "numpy" in needs:
        lines += ["import numpy as np"]  # numpy and ablab are both third-party to the plugin: one block
    lines += [_import_line("ablab.plugin", api), "", "", ""]
    bodies = [TEMPLATES[kind].format(**fields).rstrip() + "\n" for kind in kinds]
    return "\n".join(lines) + "\n\n".join(bodies)


def _import_line(module: str, names: list[str]) -> str:
    """`from module import a, b`, wrapped as ruff format would past 120 characters."""
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 120:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


MAX_NAME = 64


def new_plugin(name: str, kinds: str | list[str], directory: str | Path = ".") -> Path:
    """Write the package ablab-NAME under `directory`, registering NAME once per kind in
    `kinds` ("cell", or ["cell", "activation"]); returns its folder."""
    kinds = [kinds] if isinstance(kinds, str) else list(dict.fromkeys(kinds))
    if not kinds:
        raise ConfigError(f"give at least one --kind: {', '.join(KINDS)}")
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ConfigError(
            f"plugin name {name[:40]!r}: use lowercase letters, digits, '-' and '_', starting with a letter"
        )
    if len(name) > MAX_NAME:  # it names a folder, a module and a class: keep them within file-name limits
        raise ConfigError(f"plugin name: at most {MAX_NAME} characters, got {len(name)}")
    module = "ablab_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    root = Path(directory) / f"ablab-{name}"
    if root.exists():
        raise ConfigError(f"{root} already exists; choose another --dir or name")
    things = [f"the {kind} `{name}`" for kind in kinds]
    listing = " and ".join(things) if len(things) < 3 else ", ".join(things[:-1]) + " and " + things[-1]
    fields = {
        "name": name,
        "dist": name,
        "module": module,
        "cls": cls,
        "listing": listing,
        "summary": f"{name}: an ablab plugin ({', '.join(kinds)})",
    }
    fields["checks"] = "\n".join(f"    ablab check-plugin {kind} {name}" for kind in kinds)
    fields["hooks"] = "".join(HOOK_DOCS[kind].format(**fields) for kind in kinds)
    try:
        (root / module).mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {str(root)[:200]}: {exc.strerror}; choose another --dir") from None
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.format(**fields))
    (root / "README.md").write_text(README.format(**fields))
    (root / module / "__init__.py").write_text(_module_text(kinds, fields))
    checks = sorted(f"check_{k}" for k in kinds) + ["registry_with"]
    imports = f"{_import_line('ablab.plugin', checks)}\n\nimport {module}\n"
    tests = "\n\n".join(TEST.format(kind=k, **fields) for k in kinds)
    (root / "tests" / f"test_{module}.py").write_text(f"{imports}\n\n{tests}")
    return root
