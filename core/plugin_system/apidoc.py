"""The API reference of ablab.plugin, rendered as Markdown from its docstrings (docs/api.md;
tests/test_plugin_kit.py keeps the checked-in file equal to this output)."""

from __future__ import annotations

import inspect
from types import ModuleType

import pluggy

HEADER = """# ablab.plugin API reference

Generated from the docstrings by `python -m ablab.plugin > docs/api.md`; do not edit by hand.
These names (`ablab.plugin.__all__`) are the stable plugin API; docs/plugins.md shows them in use.
"""

HOOKIMPL = """The marker of a hook implementation: decorate each `register_*(register)` function of
your plugin module with it (pluggy's HookimplMarker for the "ablab" project)."""


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__) if obj.__doc__ else "(no docstring)"


def _members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined by the class itself, in source order."""
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            out.append((name, value))
    return out


def render(module: ModuleType) -> str:
    parts = [HEADER]
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, pluggy.HookimplMarker):  # pluggy's own docstring speaks of pluggy, not ablab
            parts.append(f"## `@{name}`\n")
            parts.append(HOOKIMPL + "\n")
        elif inspect.isclass(obj):
            bases = ", ".join(b.__name__ for b in obj.__bases__ if b is not object)
            parts.append(f"## class `{name}`" + (f" ({bases})" if bases else "") + "\n")
            if not issubclass(obj, BaseException):
                parts.append(f"```\n{name}{_signature(obj)}\n```\n")
            parts.append(_doc(obj) + "\n")
            for member, value in _members(obj):
                if isinstance(value, property):
                    parts.append(f"- `{member}` (property): {_doc(value).splitlines()[0]}")
                else:
                    first = _doc(value).split("\n\n")[0].replace("\n", " ")
                    parts.append(f"- `{member}{_signature(value)}`: {first}")
            if _members(obj):
                parts.append("")
        elif callable(obj):
            parts.append(f"## `{name}{_signature(obj)}`\n")
            parts.append(_doc(obj) + "\n")
        else:
            parts.append(f"## `{name}`\n\n{obj!r}\n")
    return "\n".join(parts).rstrip() + "\n"
