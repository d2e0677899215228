"""ablab.core: engine, registry, runner, store and CLI. Never imports Streamlit."""

if __name__ != "ablab.core":
    # The repository root maps to the `ablab` package; a bare `import core` would load a
    # second, unconnected copy of every module (two registries, two sets of classes).
    raise ImportError(
        f"ablab's core was imported as {__name__!r}. Install ablab (`make test` or "
        "`pip install -e .`) and import it as `ablab.core`."
    )

import pluggy

hookspec = pluggy.HookspecMarker("ablab")
hookimpl = pluggy.HookimplMarker("ablab")

__all__ = ["hookimpl", "hookspec"]
