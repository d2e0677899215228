"""ablab.core, in four layers; imports only go downward (tests/test_architecture.py):

    cli/            the `ablab` command line, on top of everything
    lab/            studies, runner, store, results, verdicts: what an ablation study is
    plugin_system/  hook specs, registry, contract checks, scaffold: how plugins arrive
    engine/         cells' contract, model, BPTT, training, probes' contract: the numerics

`errors` is shared by all layers. Never imports Streamlit.
"""

if __name__ != "ablab.core":
    # The repository root maps to the `ablab` package; a bare `import core` would load a
    # second, unconnected copy of every module (two registries, two sets of classes).
    raise ImportError(
        f"ablab's core was imported as {__name__!r}. Install ablab (`make test` or "
        "`pip install -e .`) and import it as `ablab.core`."
    )

from ablab.core.plugin_system.markers import hookimpl, hookspec  # kept for plugins written before ablab.plugin

__all__ = ["hookimpl", "hookspec"]
