"""The plugin registry: built-ins and installed plugins, looked up by (kind, name).

Built-ins register through the same hooks as third-party plugins. A plugin that fails to
import or whose hook raises is recorded and skipped, unless ABLAB_STRICT_PLUGINS=1.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as md
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ablab.core.errors import ConfigError, PluginError, UnknownPluginError, did_you_mean
from ablab.core.plugin_system import hookspecs
from ablab.core.plugin_system.kinds import KINDS

ENTRY_POINT_GROUP = "ablab"
BUILTIN_PROVIDER = "ablab"


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    obj: Any
    provider: str
    version: str

    @property
    def summary(self) -> str:
        return summary_of(self.obj)


@dataclass(frozen=True)
class Failure:
    provider: str
    version: str
    error: str
    kind: str | None = None  # None: the plugin failed to import, so no kind is known


def summary_of(obj: Any) -> str:
    doc = getattr(obj, "summary", None) or inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def strict_from_env() -> bool:
    return os.environ.get("ABLAB_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _ablab_version() -> str:
    return md.version("ablab")  # ablab imports only when installed (pyproject maps the package)


def as_written(message: str, kind: str, name: str, obj: Any) -> str:
    """An option error with the plugin named as the user wrote it: "cell LSTM has no option"
    becomes "cell 'lstm' has no option"; a message naming neither gets the name in front.
    obj: the registered class (an activation or initialiser is an object, named already)."""
    label, named = f"{kind} {getattr(obj, '__name__', name)}", f"{kind} {name!r}"
    if message.startswith(label):
        return named + message[len(label) :]
    if f"{kind} {name}" not in message and named not in message:  # say whose check refused
        return f"{named}: {message}"
    return message


@dataclass
class Registry:
    """Registered plugins by kind and name, plus the plugins that failed to load."""

    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def get(self, kind: str, name: str) -> Any:
        """The registered object; a missing name lists the available ones and failed plugins."""
        return self.entry(kind, name).obj

    def create(self, kind: str, name: str, *args: Any, **options: Any) -> Any:
        """An instance of the registered class; an option error names the plugin as the user
        wrote it ("task 'recall'"), not its Python class ("task Recall", "cell LSTMPreset")."""
        cls = self.get(kind, name)
        try:
            return cls(*args, **options)
        except ConfigError as exc:
            raise ConfigError(as_written(str(exc), kind, name, cls)) from None

    def entry(self, kind: str, name: str) -> Entry:
        """The object with its provider and version."""
        if kind not in KINDS:
            raise UnknownPluginError(f"unknown plugin kind {kind!r}; kinds are: {', '.join(KINDS)}")
        if not isinstance(name, str):  # e.g. a table where a name belongs: not a lookup key
            raise UnknownPluginError(f"a {kind} is named by text, got {type(name).__name__} {str(name)[:40]}")
        try:
            return self.entries[(kind, name)]
        except KeyError:
            available = ", ".join(self.names(kind)) or "(none registered)"
            raise UnknownPluginError(
                f"no {kind} named {name!r}{did_you_mean(name, self.names(kind))}{self.failure_note()}; "
                f"available {kind}s: {available}"
            ) from None

    def failure_note(self) -> str:
        """'; 1 plugin failed to load: ablab-boom (import of ... failed: ...)', or ''."""
        if not self.failures:
            return ""
        n = len(self.failures)
        listed = "; ".join(f"{f.provider} ({f.error})" for f in self.failures)
        return f"; {n} plugin{'s' if n > 1 else ''} failed to load: {listed} (see `ablab plugins`)"

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(n for (k, n) in self.entries if k == kind)

    def of_kind(self, kind: str) -> list[Entry]:
        """Entries of one kind, by name."""
        return [self.entries[(kind, n)] for n in self.names(kind)]

    def all(self) -> list[Entry]:
        """Every entry, kind by kind."""
        return [e for kind in KINDS for e in self.of_kind(kind)]


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def build_registry(
    *,
    builtins: bool = True,
    entry_points: bool = True,
    extra: Iterable[tuple[Any, str, str]] = (),
    strict: bool | None = None,
) -> Registry:
    """Load plugins and collect every registered item.

    extra: (plugin object or module, provider name, version) triples, used by tests and by
    hosts that embed ablab.
    """
    strict = strict_from_env() if strict is None else strict
    pm = new_plugin_manager()
    registry = Registry()
    providers: dict[int, tuple[str, str]] = {}

    def fail(failure: Failure, exc: BaseException) -> None:
        if strict:
            raise PluginError(
                f"plugin {failure.provider!r} failed ({failure.error}); unset ABLAB_STRICT_PLUGINS "
                "to skip it and load the rest"
            ) from exc
        registry.failures.append(failure)

    def add(plugin: Any, provider: str, version: str) -> None:
        pm.register(plugin, name=f"{provider}:{getattr(plugin, '__name__', id(plugin))}")
        providers[id(plugin)] = (provider, version)

    if builtins:
        from ablab.plugins import DEFAULT_PLUGINS

        for modname in DEFAULT_PLUGINS:
            add(importlib.import_module(modname), BUILTIN_PROVIDER, _ablab_version())

    if entry_points:
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            dist, version = ep.dist.name, ep.dist.version  # entry points come from installed distributions
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as exc:  # a broken plugin (even one calling sys.exit) must not stop ablab
                fail(Failure(dist, version, f"import of {ep.value} failed: {exc!r}"[:500]), exc)
                continue
            add(plugin, dist, version)

    for plugin, provider, version in extra:
        add(plugin, provider, version)

    for kind, spec in KINDS.items():
        hook_name, validate = spec.hook, spec.validate
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            provider, version = providers[id(impl.plugin)]
            staged: list[Entry] = []

            def register(
                name: str, obj: Any, *, _kind=kind, _p=provider, _v=version, _check=validate, _to=staged
            ) -> None:
                if not isinstance(name, str) or not name or name != name.strip() or " " in name:
                    raise PluginError(f"{_kind} names must be non-empty strings without spaces, got {name!r}")
                _check(name, obj)
                _to.append(Entry(_kind, name, obj, _p, _v))

            try:
                impl.function(register=register)
            except (Exception, SystemExit) as exc:
                fail(Failure(provider, version, f"{hook_name} raised {exc!r}"[:500], kind), exc)
                continue
            for e in staged:  # a clash drops that one name; the hook's other names stay
                clash = registry.entries.get((e.kind, e.name))
                if clash is not None or sum(o.name == e.name for o in staged) > 1:
                    other = clash.provider if clash is not None else e.provider
                    message = (
                        f"duplicate {e.kind} name {e.name!r}: registered by {other!r} and by {e.provider!r}; "
                        f"the one from {e.provider!r} is skipped; rename one of them"
                    )
                    fail(Failure(provider, version, message, kind), PluginError(message))
                    continue
                registry.entries[(e.kind, e.name)] = e
    return registry


def registry_with(*plugins: Any, builtins: bool = True, entry_points: bool = False) -> Registry:
    """A registry of ablab's built-ins plus these plugin objects (modules or objects whose
    functions carry @hookimpl), registered in-process without installing them, strictly (an
    error in a hook raises): what a plugin's own tests pass to the check_* helpers.

        from ablab.plugin import check_cell, registry_with
        import my_plugin
        check_cell("my-cell", registry=registry_with(my_plugin))
    """
    extra = [(plugin, getattr(plugin, "__name__", type(plugin).__name__), "0+test") for plugin in plugins]
    return build_registry(builtins=builtins, entry_points=entry_points, extra=extra, strict=True)


@functools.cache
def default_registry() -> Registry:
    """The process-wide registry (built-ins plus installed plugins), built once."""
    return build_registry()


def plugin_rows(registry) -> list[dict[str, str]]:
    rows = [
        {
            "kind": e.kind,
            "name": e.name,
            "provider": e.provider,
            "version": e.version,
            "status": "ok",
            "summary": e.summary,
        }
        for e in registry.all()
    ]
    for f in registry.failures:
        rows.append(
            {
                "kind": f.kind or "",
                "name": "",
                "provider": f.provider,
                "version": f.version,
                "status": "failed",
                "summary": f.error,
            }
        )
    return rows
