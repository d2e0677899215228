"""One small claim study for the tests of verdicts, new seeds and the stability benchmark: a
tanh RNN's gradient through time at spectral radius 0.5 and 1.5, a step or two of training
(seconds). Each test names it and sets its seeds, steps and any extra lines for [study] or
further checks."""


def radius_study(name: str, seeds: int, steps: int = 1, study_extra: str = "", checks_extra: str = "") -> str:
    return f"""
[study]
name = "{name}"
claim = "Gradients through time vanish below spectral radius 1 and grow above it."
seeds = {seeds}
{study_extra}
[base]
task = {{ name = "adding", length = 12 }}
model = {{ kind = "recurrent", cell = "rnn", hidden = 8, recurrent_init = {{ name = "normal", std = 0.1 }} }}
train = {{ steps = {steps}, batch_size = 8, probe_batch = 16 }}
probes = ["grad_through_time"]

[axes]
"model.spectral_radius" = [0.5, 1.5]

[[checks]]
what = "at radius 0.5 the per-step factor eta is below 0.9"
quantity = "grad_through_time.eta@init"
where = {{ "model.spectral_radius" = 0.5 }}
op = "<"
value = 0.9

[[checks]]
what = "eta is larger at radius 1.5"
quantity = "grad_through_time.eta@init"
where = {{ "model.spectral_radius" = 1.5 }}
op = ">"
than = {{ "model.spectral_radius" = 0.5 }}
{checks_extra}"""
