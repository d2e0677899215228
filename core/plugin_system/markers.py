"""pluggy markers of the `ablab` hook namespace."""

import pluggy

hookspec = pluggy.HookspecMarker("ablab")
hookimpl = pluggy.HookimplMarker("ablab")
