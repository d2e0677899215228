import os

# One BLAS thread: results are bit-for-bit reproducible and the suite leaves a core free.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ablab.core.registry import build_registry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


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
