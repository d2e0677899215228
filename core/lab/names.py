"""Study names: one rule for the CLI, the Run page and the store.

A study name becomes a file name (the Run page's launch files), a database key and a URL
parameter, so it is a plain slug: ASCII letters, digits, `_` and `-`, starting with a letter
or digit, at most 64 characters. No `/`, no `..`, no control or bidirectional characters.
"""

from __future__ import annotations

import re

from ablab.core.errors import ConfigError

MAX_LENGTH = 64
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_study_name(name: object) -> str:
    """Return `name` if it is a valid study name; raise ConfigError saying what to change."""
    if not isinstance(name, str):
        raise ConfigError(f"a study name must be text, got {type(name).__name__}")
    if len(name) > MAX_LENGTH:
        raise ConfigError(f"a study name has at most {MAX_LENGTH} characters, got {len(name)}: {name[:20]!r}...")
    if not _SLUG.fullmatch(name):
        raise ConfigError(
            f"study name {name[:80]!r} is not allowed: use letters, digits, '_' and '-', "
            "starting with a letter or digit (e.g. relu_vs_tanh-2)"
        )
    return name
