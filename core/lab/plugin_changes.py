"""Plugin code that changed since a study's runs were stored.

Every run key includes the provider, version and code fingerprint of the plugins its
configuration uses (study.plugin_versions), so an edited plugin makes new runs and the old
ones are set aside as stale when the study is saved again. That is right, but silent: this
module names what changed, so `ablab run` can say so before it recomputes.
"""

from __future__ import annotations

from ablab.core.lab.study import plugin_versions


def _parts(text: str) -> tuple[str, str]:
    """("provider==version", fingerprint) of a plugin_versions value."""
    release, _, fingerprint = text.partition("#")
    return release, fingerprint


def changed_plugins(store, study, registry) -> list[tuple[str, str, int]]:
    """(plugin as "kind 'name'", what changed, number of stored runs) for each plugin whose
    stored runs of this study were computed with other code or another version than now."""
    now: dict[str, str] = {}
    for _, config in study.configurations():
        now.update(plugin_versions(config, registry))
    counts: dict[tuple[str, str], int] = {}
    for versions, n in store.version_counts(study.name):
        for plugin, then in versions.items():
            current = now.get(plugin)
            if current is None or current == then:
                continue  # a plugin this study no longer uses is the study's change, not the plugin's
            old, new = _parts(then)[0], _parts(current)[0]
            what = f"version {old} -> {new}" if old != new else "its code"
            counts[(plugin, what)] = counts.get((plugin, what), 0) + n
    out = []
    for (plugin, what), n in sorted(counts.items()):
        kind, _, name = plugin.partition(":")
        out.append((f"{kind} {name!r}", what, n))
    return out


def changed_notice(store, study, registry) -> str | None:
    """One line for `ablab run` when stored runs of the study used other plugin code, else None."""
    changed = changed_plugins(store, study, registry)
    if not changed:
        return None
    parts = [f"{plugin} changed ({what}) since {n} runs were stored" for plugin, what, n in changed]
    return (
        f"note: {'; '.join(parts)}: those runs are kept aside as stale and this study's runs are recomputed "
        "with the plugin code installed now"
    )
