"""Defences of study parsing against hostile or broken files.

A study file comes from anyone (a colleague, the Run page, a fuzzer). Everything here runs
before a single configuration is built: the bytes must be UTF-8 TOML of bounded size and
depth, every value a finite number, a bounded integer or NUL-free text, the grid is counted
(never expanded) against a cap, and each configuration's arrays must fit in memory.
Every message is one short line naming the file and the key.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 8  # [axes] "a.b" = [{ name = "x", opt = [1, 2] }] is 5 deep; real studies need fewer
MAX_TEXT = 10_000  # characters in one text value (a claim, a description)
MAX_KEY = 100  # characters in one key
MAX_INT = 2**63 - 1  # both stores hold signed 64-bit integers
MAX_CONFIGURATIONS = 10_000
MAX_SEEDS = 1_000
MAX_STEPS = 10_000_000  # a million steps of the smallest net already take hours
MAX_MESSAGE = 280  # plus "ablab: error: " the line stays under 300 characters
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# keys of the model table the task sets: a study that sets them would be silently overruled
TASK_SET_MODEL_KEYS = ("n_in", "n_out", "readout", "vocab")


def short(value: Any, n: int = 60) -> str:
    """repr() of a value, cut to n characters: messages never echo a huge input."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def cap(message: str) -> str:
    message = message.splitlines()[0] if message else message
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def key_text(key: str) -> str:
    """A key as shown in a message: printable and short."""
    text = key if key.isprintable() else repr(key)[1:-1]
    return text if len(text) <= MAX_KEY else text[: MAX_KEY - 3] + "..."


def read_study_bytes(path: Path) -> str:
    """The file's text; refuses huge and non-UTF-8 files. Raises ValueError(message)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"the file has {size} bytes; a study file has at most {MAX_FILE_BYTES}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def parse_toml(text: str) -> dict:
    """tomllib.loads with the failures a hostile file can cause turned into ValueError."""
    if len(text) > MAX_FILE_BYTES:
        raise ValueError(f"the text has {len(text)} characters; a study file has at most {MAX_FILE_BYTES}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(f"not valid TOML: nested deeper than {MAX_DEPTH} levels") from None


def check_values(data: dict) -> tuple[str, str] | None:
    """(key path, problem) of the first value no study may hold, else None. Iterative, so
    depth is checked before anything recurses into the document."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path, f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(node, dict):
            for key, value in node.items():
                sub = f"{path}.{key_text(key)}" if path else key_text(key)
                if len(key) > MAX_KEY or "\x00" in key:
                    return sub, f"keys have at most {MAX_KEY} characters and no NUL"
                stack.append((value, sub, depth + 1))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))
        elif isinstance(node, str):
            if "\x00" in node:
                return path, "text must not contain NUL characters"
            if len(node) > MAX_TEXT:
                return path, f"text has at most {MAX_TEXT} characters, got {len(node)}"
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if abs(node) > MAX_INT:
                return path, f"whole numbers must lie within +-(2**63 - 1), got {short(node, 30)}"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return path, f"numbers must be finite, got {node}"
        else:  # TOML dates and times
            return path, f"dates and times are not study values, got {short(node)}"
    return None


def count_configurations(axes: dict[str, list], design: str) -> int:
    """How many configurations the axes make, counted without expanding them; stops early
    once past the cap."""
    if design != "grid":
        return 1 + sum(len(v) for v in axes.values())
    n = 1
    for values in axes.values():
        n *= len(values)
        if n > MAX_CONFIGURATIONS:
            return n
    return n


def check_axis_path(path: str, base: dict, base_keys: set[str]) -> str | None:
    """The problem with an axis name such as "model.cell" or "a.b+c.d", else None."""
    parts = path.split("+")
    for part in parts:
        if not _PATH.fullmatch(part):
            return "each path is dotted names such as model.hidden (paths joined with '+')"
        if part.split(".")[0] not in base_keys:
            return f"each path must start with one of {', '.join(sorted(base_keys))}"
        node: Any = base
        for step in part.split(".")[:-1]:
            node = node.get(step) if isinstance(node, dict) else None
            if node is None:
                break
            if not isinstance(node, dict):
                return f"{part} goes into base.{step}, which is a value, not a table"
    if len(set(parts)) != len(parts):
        return "names the same path twice"
    return None


def overlapping_axes(axes: dict) -> tuple[str, str] | None:
    """Two axes that set the same key (or one sets a table the other reaches into)."""
    owners: list[tuple[str, str]] = [(part, path) for path in axes for part in path.split("+")]
    for i, (a, path_a) in enumerate(owners):
        for b, path_b in owners[i + 1 :]:
            if path_a != path_b and (a == b or a.startswith(b + ".") or b.startswith(a + ".")):
                return path_a, path_b
    return None


def repeated_value(values: list) -> Any:
    from ablab.core.lab.study import canonical

    seen = set()
    for value in values:
        c = canonical(value)
        if c in seen:
            return value
        seen.add(c)
    return None


def task_set_keys(config: dict) -> list[str]:
    model = config.get("model", {})
    return [k for k in TASK_SET_MODEL_KEYS if isinstance(model, dict) and k in model]


# -- sizes -------------------------------------------------------------------------------


def memory_bytes() -> int:
    """Physical memory of this machine (the bound a configuration's arrays must fit in)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def _int(table: Any, key: str, default: int) -> int:
    value = table.get(key, default) if isinstance(table, dict) else default
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def estimate_bytes(config: dict, task, members: int) -> int:
    """A rough upper estimate of the float64 arrays one ensemble job holds at once: the
    parameters with their optimiser state and gradients, and the activations kept for BPTT.
    The sequence length is bounded by the sum of the task's whole-number options."""
    model, train = config.get("model", {}), config.get("train", {})
    kind = model.get("kind", "recurrent") if isinstance(model, dict) else "recurrent"
    batch = max(_int(train, "batch_size", 32), _int(train, "probe_batch", 64))
    options = getattr(task, "options", {}) or {}
    length = max(1, sum(v for v in options.values() if isinstance(v, int) and not isinstance(v, bool)))
    n_in, n_out = _safe_dim(task, "n_in"), _safe_dim(task, "n_out")
    if kind == "word2vec":
        dim = _int(model, "dim", 16)
        return 8 * members * 4 * dim * max(n_in, 1)
    if kind == "feedforward":
        depth, width = _int(model, "depth", 50), _int(model, "width", 64)
        params = depth * width * (width + 1) + width * (n_in + n_out)
        activations = batch * depth * width * 4
    else:
        hidden, layers = _int(model, "hidden", 32), _int(model, "layers", 1)
        gates = 4  # LSTM: the widest built-in cell
        params = layers * gates * hidden * (2 * hidden + 1) + hidden * (n_in + n_out) + gates * hidden * n_in
        activations = batch * length * layers * hidden * gates * 3 + batch * length * (n_in + n_out)
    return 8 * members * (4 * params + activations)


def _safe_dim(task, name: str) -> int:
    try:
        value = getattr(task, name)
    except Exception:  # noqa: BLE001 - a task without this dimension: count it as 1
        return 1
    return value if isinstance(value, int) and value > 0 else 1


def check_size(config: dict, task, members: int) -> str | None:
    """The problem with a configuration's sizes, else None."""
    steps = _int(config.get("train", {}), "steps", 300)
    if steps > MAX_STEPS:
        return f"train.steps = {steps} is more than {MAX_STEPS:,} steps"
    need, have = estimate_bytes(config, task, members), memory_bytes()
    if need > have:
        return (
            f"its arrays would need about {need / 2**30:,.1f} GiB for {members} seeds, "
            f"more than this machine's {have / 2**30:,.1f} GiB of memory; make the model or batch smaller"
        )
    return None
