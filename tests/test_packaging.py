"""The distribution's package list matches the folders on disk, and a wheel holds every module."""

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = ("core", "plugins", "dashboard", "studies")


def declared_packages():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"ablab": "."}
    return set(config["packages"])


def packages_on_disk():
    """Folders with an __init__.py, and data folders inside them (setuptools sees both as
    importable and warns about any it is not told to package)."""
    found = {"ablab"}
    for top in TOP_LEVEL:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            found.add("ablab." + ".".join(rel.parts))
            for sub in init.parent.iterdir():
                if sub.is_dir() and sub.name != "__pycache__" and not (sub / "__init__.py").exists():
                    found.add("ablab." + ".".join((*rel.parts, sub.name)))
    return found


def test_declared_packages_equal_package_folders():
    assert declared_packages() == packages_on_disk()


def test_every_python_file_lives_in_a_declared_package():
    for top in TOP_LEVEL:
        for py in (ROOT / top).rglob("*.py"):
            assert (py.parent / "__init__.py").exists(), f"{py} is outside any package: add an __init__.py"


# What a clean clone holds: the build runs in a copy, so it never writes build/ or ablab.egg-info into the
# checkout while other test workers read this environment's package metadata.
NOT_SOURCES = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "test-artifacts",
    ".*_cache",
    ".hypothesis",
    "__pycache__",
)


def test_wheel_contains_every_module(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    # setuptools' warning about an undeclared folder (it would one day be left out of the wheel)
    assert "absent from the `packages` configuration" not in build.stdout + build.stderr
    (wheel,) = tmp_path.glob("ablab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"ablab/__init__.py", "ablab/plugin.py"}
    for top in TOP_LEVEL:
        expected |= {"ablab/" + str(p.relative_to(ROOT)) for p in (ROOT / top).rglob("*.py")}
    expected |= {"ablab/" + str(p.relative_to(ROOT)) for p in (ROOT / "studies").glob("*.toml")}
    expected |= {"ablab/" + str(p.relative_to(ROOT)) for p in (ROOT / "plugins" / "tasks" / "data").glob("*.txt")}
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    bare = {n.split("/")[0] for n in names if not n.startswith(("ablab/", "ablab-"))}
    assert not bare, f"the wheel installs top-level modules besides ablab: {bare}"


def test_importing_core_from_repository_root_fails_loudly():
    proc = subprocess.run([sys.executable, "-c", "import core"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "import it as `ablab.core`" in proc.stderr


def test_installed_ablab_core_is_the_repository_copy():
    import ablab.core

    assert Path(ablab.core.__file__).resolve() == ROOT / "core" / "__init__.py"
