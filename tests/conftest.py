import os

# One BLAS thread: results are bit-for-bit reproducible and the suite leaves a core free.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ablab.core.plugin_system.registry import build_registry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# The files that take longest (a full run's --durations, summed per file) start first: `make test` hands whole
# files to its workers in this order (--dist loadfile --no-loadscope-reorder), so no worker opens a long file
# while the others have finished. Only the order changes; a file missing here runs after these, as collected.
LONGEST_FIRST = (
    "test_browser.py",
    "test_reliability.py",
    "test_store_and_runner.py",
    "test_studies.py",
    "test_benchmarks.py",
    "test_dashboard.py",
    "test_plugin_kit.py",
    "test_cluster.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


@pytest.fixture
def registry():
    """A fresh registry per test: built-ins plus installed plugins, nothing cached."""
    return build_registry(strict=False)


@pytest.fixture
def builtin_registry():
    """Only ablab's own plugins: results do not depend on what else is installed."""
    return build_registry(entry_points=False, strict=False)


@pytest.fixture
def repo_root():
    return ROOT


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session; skipped (failed under CI=true) without it."""
    from postgres_server import PostgresServer, find_bin

    bindir = find_bin()
    missing = None if bindir else "PostgreSQL server binaries (apt-get install postgresql)"
    if not missing:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing = "the psycopg package (pip install -e '.[test]')"
    if missing:
        message = f"PostgreSQL store tests need {missing}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


WORDNET = "/usr/share/wordnet"


def need_wordnet() -> str:
    """WordNet 3.0's directory; skips the test without it (fails under CI=true, which installs it)."""
    from ablab.plugins.tasks.wordnet_files import POS

    if all(os.path.isfile(os.path.join(WORDNET, f"{kind}.{pos}")) for pos in POS for kind in ("data", "index")):
        return WORDNET
    message = f"WordNet 3.0 is not installed in {WORDNET} (apt-get install wordnet-base)"
    pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)


@pytest.fixture(scope="session")
def wordnet_data():
    return need_wordnet()


_DB_COUNTER = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store_url(request, tmp_path):
    """The same store tests run against SQLite and a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"ablab_test_{next(_DB_COUNTER)}")
