"""Contract checks that cannot pass without testing: each case here passed the old checks
(issue 17) and must now fail, naming what is wrong."""

from types import SimpleNamespace

import numpy as np
import pytest

from ablab.plugin import (
    Cell,
    ContractError,
    Embedding,
    Probe,
    RecurrentParam,
    check_cell,
    check_embedding,
    check_probe,
    hookimpl,
    lookup,
    registry_with,
    resolve,
)

BUILTINS = registry_with()


def with_cell(cls, name="broken"):
    @hookimpl
    def register_cells(register):
        register(name, cls)

    return registry_with(SimpleNamespace(register_cells=register_cells))


def with_probe(probe):
    @hookimpl
    def register_probes(register):
        register(probe.name, probe)

    return registry_with(SimpleNamespace(register_probes=register_probes))


# -- probes -------------------------------------------------------------------------------


class OnlyOn(Probe):
    """Records one number, but only for nets whose cell is named in `cells`."""

    summary = "test probe"

    def __init__(self, name, cells, raises=False):
        self.name, self.cells, self.raises = name, cells, raises

    def applies(self, net, task):
        return hasattr(net, "cells") and net.spec.cell in self.cells

    def measure(self, ctx):
        if self.raises:
            raise RuntimeError("measure broke")
        return ctx.record(self.name, "x", np.zeros(len(ctx.seeds)))


def test_a_probe_that_applies_only_to_another_cell_than_the_lstm_is_run_on_it():
    outcomes = check_probe("gru-only", registry=with_probe(OnlyOn("gru-only", {"gru"})))
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]


def test_a_probe_that_applies_to_no_registered_cell_fails():
    with pytest.raises(ContractError, match="probe 'nowhere': .*applies\\(\\) is False for every registered cell"):
        check_probe("nowhere", registry=with_probe(OnlyOn("nowhere", {"no-such-cell"})))


def test_a_probe_that_records_nothing_anywhere_fails():
    class Silent(OnlyOn):
        def measure(self, ctx):
            return []

    with pytest.raises(ContractError, match="recorded nothing with any of the .* models it applies to"):
        check_probe("silent", registry=with_probe(Silent("silent", {"rnn", "lstm", "gru"})))


def test_a_probe_whose_measure_raises_on_one_cell_fails_naming_the_cell_and_task():
    probe = OnlyOn("fragile", {"gru"}, raises=True)
    with pytest.raises(
        ContractError, match="measure\\(\\) raised RuntimeError with gru on task 'adding': measure broke"
    ):
        check_probe("fragile", registry=with_probe(probe))


# -- cells ----------------------------------------------------------------------------------


class Plain(Cell):
    """An Elman RNN as a plain Cell: no speed paths (FusedCell) to take."""

    defaults = {"activation": "tanh"}

    def __init__(self, registry, **options):
        super().__init__(registry, **options)
        self.f = resolve(registry, self.options["activation"])

    n_blocks = 1

    def recurrent_params(self, hidden):
        return {"U": RecurrentParam("matrix")}

    def step(self, p, a, state):
        z = a + np.matmul(state[0], p["U"])
        h = self.f(z)
        return (h,), (state[0], z, h)

    def backward_step(self, p, dstate, cache, grads):
        (dh,) = dstate
        h_prev, z, h = cache
        dz = dh * self.f.deriv(z, h)
        grads["U"] += np.matmul(h_prev.transpose(0, 2, 1), dz)
        return dz, (np.matmul(dz, p["U"].transpose(0, 2, 1)),)

    def activation_values(self, cache):
        return [("h", self.f, cache[1], cache[2])]


def test_speed_paths_a_cell_lacks_are_reported_skipped_not_ok():
    outcomes = {o.name: o for o in check_cell("plain", registry=with_cell(Plain, "plain"))}
    assert outcomes["step_z agrees with step"].status == "skipped"
    assert outcomes["backward_step writes da in place"].status == "skipped"
    assert outcomes["built-in probes run on the cell"].status == "ok"
    assert outcomes["constrain"].status == "skipped"
    assert outcomes["float64 gradient check"].status == "ok"
    assert "skipped: the cell has no step_z" in str(outcomes["step_z agrees with step"])


class OneUnitShort(Plain):
    def step(self, p, a, state):
        (h,), cache = super().step(p, a, state)
        return (h[..., :-1],), cache


def test_a_wrong_state_shape_names_the_expected_s_b_h():
    with pytest.raises(
        ContractError, match=r"step\(\) state 'h' has shape \(2, 3, 3\), expected \(S, B, H\) = \(2, 3, 4\)"
    ):
        check_cell("broken", registry=with_cell(OneUnitShort))


class FlatButDeclaredBlockMajor(BUILTINS.get("cell", "rnn")):
    """The built-in RNN, written for z_t (S, B, H), declaring the block-major layout: it gets
    z_t as (S, 1, B, H) and returns a state of that shape, which the shape check names."""

    block_major = True


def test_a_cell_that_declares_block_major_gets_and_is_checked_in_that_layout():
    with pytest.raises(
        ContractError, match=r"step\(\) state 'h' has shape \(2, 1, 3, 4\), expected \(S, B, H\) = \(2, 3, 4\)"
    ):
        check_cell("broken", registry=with_cell(FlatButDeclaredBlockMajor))


class WrongDhPrev(Plain):
    def backward_step(self, p, dstate, cache, grads):
        da, (dh_prev,) = super().backward_step(p, dstate, cache, grads)
        return da, (dh_prev * 1.01,)


class WrongDa(Plain):
    def backward_step(self, p, dstate, cache, grads):
        da, dprev = super().backward_step(p, dstate, cache, grads)
        return da * 1.01, dprev


class WrongDu(Plain):
    def backward_step(self, p, dstate, cache, grads):
        da, dprev = super().backward_step(p, dstate, cache, grads)
        grads["U"] *= 1.01
        return da, dprev


class WrongDcPrev(BUILTINS.get("cell", "lstm")):  # a FusedCell: da_t goes into `out`
    def backward_step(self, p, dstate, cache, grads, out):
        da, (dh_prev, dc_prev) = super().backward_step(p, dstate, cache, grads, out)
        return da, (dh_prev, dc_prev * 1.01)


@pytest.mark.parametrize(
    "cls, output", [(WrongDhPrev, "dh_prev"), (WrongDa, "da"), (WrongDu, "U"), (WrongDcPrev, "dc_prev")]
)
def test_the_gradient_check_names_the_wrong_output(cls, output):
    with pytest.raises(ContractError) as info:
        check_cell("broken", registry=with_cell(cls))
    assert f"(one step): gradient of {output!r} is wrong" in str(info.value)


class TransposedCache(Plain):
    """Caches h_{t-1} transposed, (S, H, B): a fine cell, but the state Jacobian takes example
    b of every cached array along axis 1, the batch axis the contract promises."""

    def step(self, p, a, state):
        (h,), (h_prev, z, _) = super().step(p, a, state)
        return (h,), (np.ascontiguousarray(h_prev.transpose(0, 2, 1)), z, h)

    def backward_step(self, p, dstate, cache, grads):
        (dh,) = dstate
        h_prev_t, z, h = cache
        dz = dh * self.f.deriv(z, h)
        grads["U"] += np.matmul(h_prev_t, dz)
        return dz, (np.matmul(dz, p["U"].transpose(0, 2, 1)),)


def test_a_cache_the_builtin_probes_cannot_read_fails_the_cell_check():
    with pytest.raises(ContractError, match="built-in probes run on the cell: the built-in probe 'jacobian' raised"):
        check_cell("broken", registry=with_cell(TransposedCache))


class DictCache(Plain):
    def step(self, p, a, state):
        (h,), (h_prev, z, _) = super().step(p, a, state)
        return (h,), {"h_prev": h_prev, "z": z, "h": h}

    def backward_step(self, p, dstate, cache, grads):
        return super().backward_step(p, dstate, (cache["h_prev"], cache["z"], cache["h"]), grads)

    def activation_values(self, cache):
        return [("h", self.f, cache["z"], cache["h"])]


def test_a_dict_cache_passes_the_cell_alone_but_fails_with_the_builtin_probes():
    # a dict is not the tuple the cache rule asks for: the state Jacobian cannot take one example
    with pytest.raises(ContractError, match="the built-in probe 'jacobian' raised"):
        check_cell("dict-cache", registry=with_cell(DictCache, "dict-cache"))


class GlobalRandomInit(Plain):
    def recurrent_params(self, hidden):
        return {"U": RecurrentParam("matrix", init=lambda rng, h: np.random.default_rng().normal(0, 0.3, (h, h)))}


class MixingConstrain(Plain):
    def constrain(self, p):
        p["U"] -= p["U"].mean(axis=0)  # couples the members


@pytest.mark.parametrize(
    "cls, message",
    [
        (GlobalRandomInit, "two initialisations with seed 7 differ in 'l0.U'"),
        (MixingConstrain, "constrain() of 'l0.U' for member 1 depends on member 0"),
    ],
)
def test_init_and_constrain_hooks_must_keep_members_independent(cls, message):
    with pytest.raises(ContractError) as info:
        check_cell("broken", registry=with_cell(cls))
    assert message in str(info.value)


def test_an_init_hook_of_the_wrong_shape_is_named():
    class Short(Plain):
        def recurrent_params(self, hidden):
            return {"U": RecurrentParam("matrix", init=lambda rng, h: np.zeros((h, h - 1)))}

    with pytest.raises(ContractError, match=r"init of matrix 'U' returned shape \(4, 3\), expected \(4, 4\)"):
        check_cell("broken", registry=with_cell(Short))


def test_recurrent_param_rejects_bad_fields():
    from ablab.plugin import PluginError

    with pytest.raises(PluginError, match="kind must be 'matrix' or 'vector', got 'scalar'"):
        RecurrentParam("scalar")
    with pytest.raises(PluginError, match="init must be a function init\\(rng, hidden\\)"):
        RecurrentParam("vector", init=0.5)


# -- embeddings -----------------------------------------------------------------------------


def test_builtin_embeddings_pass_and_a_mixing_embedding_fails():
    for name in ("onehot", "random", "learned"):
        assert check_embedding(name, registry=BUILTINS)

    class Mixing(Embedding):
        defaults = {"dim": 3}

        def init_member(self, rng):
            return {"E": rng.normal(size=(self.vocab, self.dim))}

        def forward(self, p, tokens):
            return lookup(p["E"].mean(axis=0, keepdims=True).repeat(p["E"].shape[0], 0), tokens)

    @hookimpl
    def register_embeddings(register):
        register("mixing", Mixing)

    with pytest.raises(ContractError, match="embedding 'mixing': ensemble-member independence"):
        check_embedding("mixing", registry=registry_with(SimpleNamespace(register_embeddings=register_embeddings)))


def test_a_probe_for_one_cell_on_one_task_is_found_and_run():
    class Narrow(OnlyOn):
        def applies(self, net, task):
            return super().applies(net, task) and hasattr(task, "batch_at_lag")  # recall only

    outcomes = check_probe("narrow", registry=with_probe(Narrow("narrow", {"lstm-cifg"})))
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]


def test_every_builtin_probe_passes_its_contract_somewhere():
    for name in BUILTINS.names("probe"):
        assert check_probe(name, registry=BUILTINS), name


GRADCHECK_STUDY = """
[study]
name = "wrong-gradient"
seeds = 1

[base]
task = { name = "adding", length = 4 }
model = { kind = "recurrent", cell = "CELL", hidden = 3 }
train = { steps = 2, batch_size = 2, log_every = 1 }
gradcheck = true
"""


@pytest.mark.parametrize("cls, warned", [(WrongDcPrev, True), (BUILTINS.get("cell", "lstm"), False)])
def test_a_study_that_checks_gradients_warns_of_a_wrong_backward(cls, warned, tmp_path, monkeypatch, capsys):
    """`gradcheck = true` stores each configuration's error; `ablab run` says when one fails."""
    from ablab.core.cli.main import main
    from ablab.core.plugin_system import registry as registry_module

    monkeypatch.setattr(registry_module, "default_registry", lambda: with_cell(cls, "mine"))
    path = tmp_path / "study.toml"
    path.write_text(GRADCHECK_STUDY.replace("CELL", "mine"))
    assert main(["run", str(path), "--store", f"sqlite:///{tmp_path / 's.sqlite'}", "--workers", "0"]) == 0
    err = capsys.readouterr().err
    assert ("warning: gradient check failed in 1 of 1 configurations" in err) is warned, err
    if warned:
        assert "the base: " in err and "`ablab check-plugin` names the wrong gradient" in err


class GatesAsList(BUILTINS.get("cell", "gru")):
    def gate_values(self, cache):
        return list(super().gate_values(cache).values())


class TwoBlocksOneMatrix(Plain):
    """Declares two gate blocks but a one-block U: numpy's broadcast error alone names nothing."""

    n_blocks = 2

    def bias_init(self, hidden):
        return np.zeros(2 * hidden)


def test_a_gate_values_list_is_named_as_the_wrong_return_type():
    with pytest.raises(ContractError, match=r"GatesAsList.gate_values\(cache\) must return a dict \{gate name"):
        check_cell("broken", registry=with_cell(GatesAsList))


def test_a_broadcast_error_in_step_says_what_step_was_given():
    with pytest.raises(ContractError) as info:
        check_cell("broken", registry=with_cell(TwoBlocksOneMatrix))
    message = str(info.value)
    assert "step and backward_step shapes: step() raised ValueError" in message
    assert "(n_blocks = 2)" in message and "U (4, 4)" in message and "RecurrentParam('matrix', blocks)" in message
