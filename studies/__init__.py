"""Built-in claim studies: one TOML file per claim the lab checks."""

from importlib.resources import files
from pathlib import Path


def builtin_study_paths() -> list[Path]:
    return sorted(Path(str(p)) for p in files(__name__).iterdir() if p.name.endswith(".toml"))
