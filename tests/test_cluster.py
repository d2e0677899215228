"""A real Dask LocalCluster (2 worker processes) running a study into a real PostgreSQL store,
including a worker killed mid-study."""

import os
import signal
import threading
import time

import pytest

from ablab.core.lab.runner import run_study
from ablab.core.lab.store import Store
from ablab.core.lab.study import parse_study
from ablab.core.plugin_system.registry import build_registry

REGISTRY = build_registry(entry_points=False)
STUDY = """
[study]
name = "cluster"
seeds = [0, 1]

[base]
task = { name = "adding", length = 8 }
model = { kind = "recurrent", cell = "lstm", hidden = 8 }
train = { steps = STEPS, batch_size = 8, log_every = 10 }

[axes]
"model.cell" = ["rnn", "lstm", "gru", "lstm-cifg"]
"optimizer.lr" = [0.01, 0.03]
"""


@pytest.fixture
def cluster():
    try:
        import distributed
    except ImportError:
        message = "cluster tests need dask[distributed] (pip install -e '.[test]')"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, worker_dashboard_address=None
        ) as lc,
        distributed.Client(lc) as client,
    ):
        yield client


def stored_once(store, study):
    runs = store.runs_of(study)
    metrics = store.metrics_of([r["key"] for r in runs])
    assert not metrics.duplicated(["run_key", "step", "name"]).any()
    assert metrics.groupby("run_key").size().nunique() == 1
    return runs


def test_study_on_a_dask_cluster_into_postgres(cluster, postgres_server):
    store = Store(postgres_server.create_database("ablab_cluster_a"))
    study = parse_study(STUDY.replace("STEPS", "40"), "cluster.toml", REGISTRY)
    progress = run_study(study, REGISTRY, store, executor=cluster.get_executor(pure=False))
    assert (progress.done, progress.failed) == (16, 0)
    runs = stored_once(store, "cluster")
    assert len(runs) == 16 and {r["status"] for r in runs} == {"done"}


def test_a_worker_killed_mid_study(cluster, postgres_server):
    store = Store(postgres_server.create_database("ablab_cluster_b"))
    study = parse_study(STUDY.replace("STEPS", "300"), "cluster.toml", REGISTRY)
    pids = list(cluster.run(os.getpid).values())
    killed = []

    def kill_when_running():
        deadline = time.time() + 60
        while time.time() < deadline:
            counts = {s["name"]: s["counts"] for s in store.studies()}.get("cluster", {})
            if counts.get("running", 0) >= 1 and counts.get("done", 0) >= 2:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    progress = run_study(study, REGISTRY, store, executor=cluster.get_executor(pure=False))
    killer.join()
    assert killed, "no worker was killed: the study finished too fast"
    if progress.finished < 16:  # the scheduler gave up on the job: a re-run completes it
        progress = run_study(study, REGISTRY, store, executor=cluster.get_executor(pure=False))
    runs = stored_once(store, "cluster")
    assert len(runs) == 16 and all(r["status"] == "done" for r in runs)
