"""Dask distributed execution: `ablab run --scheduler tcp://HOST:PORT`."""

from __future__ import annotations

from concurrent.futures import Executor

from ablab.core.errors import AblabError


def dask_executor(address: str) -> Executor:
    """A concurrent.futures Executor on a Dask cluster. pure=False: two jobs that look alike
    (the same configuration with other seeds) must never be merged into one."""
    try:
        from distributed import Client
    except ImportError:
        raise AblabError("--scheduler needs the cluster extra: pip install 'ablab[cluster]'") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise AblabError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    return client.get_executor(pure=False)
