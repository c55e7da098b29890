"""Ensembles on dask (and ray) through joblib, with nothing shared on disk.

A real ``distributed.LocalCluster`` with two worker processes on the
loopback interface. Predictions must equal the threading backend's bit for
bit. BLAS runs one thread in dask workers (the nanny sets
``OPENBLAS_NUM_THREADS=1``); the threading references are computed under
``threadpool_limits(1)`` too, so that BLAS's own thread-count dependent
rounding is not what the comparison measures.

Skipped when ``distributed`` is not installed (``pip install mlcore[dask]``);
the ray test is skipped when ``ray`` is not installed.
"""
import os
import signal
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")
threadpoolctl = pytest.importorskip("threadpoolctl")
pytest.importorskip("sklearn")

from distributed import Client, LocalCluster  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from mlcore import config  # noqa: E402
from mlcore.backend import ParallelProcessing  # noqa: E402
from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble,  # noqa: E402
                             Subsemble, SuperLearner, TemporalEnsemble)
from mlcore.exceptions import ParallelProcessingError  # noqa: E402
from mlcore.layer import Layer, make_group  # noqa: E402

psutil = pytest.importorskip("psutil")

PREFIX = ".mlcore_cache_"


def _cluster():
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address=None)


@pytest.fixture(scope="module")
def client():
    cluster = _cluster()
    c = Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def _single_thread_blas():
    return threadpoolctl.threadpool_limits(1)


def _mlcore_dirs(root):
    try:
        return {e for e in os.listdir(root) if e.startswith(PREFIX)}
    except OSError:
        return set()


@pytest.fixture
def no_disk(tmp_path):
    """mlcore's temporary caches go to tmp_path; check none is made (the
    system temporary directory is checked for the whole session by
    conftest.py; other test runs may share it)."""
    config.set_tmpdir(str(tmp_path))
    try:
        yield tmp_path
        assert _mlcore_dirs(str(tmp_path)) == set()
    finally:
        config.reset()


def _data(n=300, seed=0):
    return make_classification(n, 8, n_informative=5, random_state=seed)


def _ensemble(cls, backend, **kwargs):
    ens = cls(random_state=0, backend=backend, n_jobs=2, **kwargs)
    ens.add([LogisticRegression(), GaussianNB(),
             DecisionTreeClassifier(max_depth=3)],
            preprocessing=[StandardScaler()], proba=True)
    ens.add([LogisticRegression(C=0.5), GaussianNB()], proba=True,
            propagate_features=[0, 1])
    ens.add_meta(LogisticRegression())
    return ens


def _assert_same(a, b, X):
    assert a.oof_predictions_.keys() == b.oof_predictions_.keys()
    for name in a.oof_predictions_:
        np.testing.assert_array_equal(a.oof_predictions_[name],
                                      b.oof_predictions_[name])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


###############################################################################
# Bit-for-bit equality with the threading backend

@pytest.mark.parametrize("cls, kwargs", [
    (SuperLearner, {"folds": 3}),
    (SuperLearner, {"folds": 3, "shuffle": True}),
    (BlendEnsemble, {"test_size": 0.4}),
    (Subsemble, {"partitions": 2, "folds": 2}),
])
def test_dask_equals_threading(client, no_disk, cls, kwargs):
    X, y = _data()
    X_new, _ = _data(80, seed=1)
    with _single_thread_blas():
        ref = _ensemble(cls, "threading", **kwargs).fit(X, y)
        ens = _ensemble(cls, "dask", **kwargs).fit(X, y)
        _assert_same(ref, ens, X)
        _assert_same(ref, ens, X_new)
        assert ens.data.rows() == ref.data.rows()


def test_dask_sample_weight_regression_and_sparse(client, no_disk):
    X, y = make_regression(240, 6, noise=1.0, random_state=0)
    w = np.random.RandomState(0).uniform(0.5, 2.0, size=len(y))
    with _single_thread_blas():
        fits = []
        for backend in ("threading", "dask"):
            ens = SuperLearner(folds=3, random_state=0, backend=backend)
            ens.add([Ridge(), LinearRegression()])
            ens.add_meta(Ridge())
            fits.append(ens.fit(X, y, sample_weight=w))
        np.testing.assert_array_equal(fits[0].predict(X), fits[1].predict(X))
        Xs, ys = sp.random(200, 30, density=0.1, format="csr",
                           random_state=0), np.arange(200) % 2
        fits = []
        for backend in ("threading", "dask"):
            ens = SuperLearner(folds=3, random_state=0, backend=backend)
            ens.add([LogisticRegression()], proba=True,
                    propagate_features=[0, 1, 2])
            ens.add_meta(LogisticRegression())
            fits.append(ens.fit(Xs, ys))
        np.testing.assert_array_equal(fits[0].predict_proba(Xs),
                                      fits[1].predict_proba(Xs))
        np.testing.assert_array_equal(
            fits[0].oof_predictions_["layer-1"].toarray(),
            fits[1].oof_predictions_["layer-1"].toarray())


def test_parallel_config_dask_is_honoured(client, no_disk):
    """backend=None: an active joblib.parallel_config wins over
    mlcore.config; an explicit backend wins over both."""
    X, y = _data(200)
    config.set_backend("sequential")
    with joblib.parallel_config(backend="dask"):
        assert ParallelProcessing().memory == "distributed"
        assert ParallelProcessing("threading").memory == "shared"
        with _single_thread_blas():
            ens = _ensemble(SuperLearner, None).fit(X, y)
    assert ParallelProcessing().backend == "sequential"
    with _single_thread_blas():
        ref = _ensemble(SuperLearner, "threading").fit(X, y)
    _assert_same(ref, ens, X)


def test_inputs_scattered_once_per_layer(client, no_disk, monkeypatch):
    """Each layer's input and targets are broadcast once; subtasks get their
    futures, never the arrays, and nothing else is scattered (joblib's
    automatic scatter puts data on one worker, which a lost worker takes
    along)."""
    calls, submitted = [], []
    scatter, submit = client.scatter, client.submit

    def spy_scatter(data, *args, **kwargs):
        calls.append((data, kwargs))
        return scatter(data, *args, **kwargs)

    def spy_submit(*args, **kwargs):
        submitted.extend(kwargs.get("tasks") or [])
        return submit(*args, **kwargs)

    monkeypatch.setattr(client, "scatter", spy_scatter)
    monkeypatch.setattr(client, "submit", spy_submit)
    X, y = _data()
    ens = _ensemble(SuperLearner, "dask", folds=3).fit(X, y)
    assert ens.predict(X).shape == (len(y),)
    # fit: 3 layers (input, targets); predict: 3 layers (input)
    assert [kw.get("broadcast") for _, kw in calls] == [True] * 6
    assert [len(d) for d, _ in calls] == [2, 2, 2, 1, 1, 1]
    np.testing.assert_array_equal(calls[0][0][0], X)
    # 3 layers x (pipelines + learners) at fit; the predict subtasks
    assert len(submitted) > 20
    for func, args, kwargs in submitted:
        futures = [a for a in args if isinstance(a, distributed.Future)]
        assert futures, func  # X (and y at fit) arrive as futures
        big = [a for a in args if getattr(a, "nbytes", 0) >= 1000]
        assert big == [] or all(a.nbytes < X.nbytes // 4 for a in big)
        assert args[-1] is True  # hand-back


###############################################################################
# Nothing on disk, clear errors

def test_distributed_engine_keeps_everything_in_memory(client, no_disk,
                                                       tmp_path):
    X, y = _data(120)
    group = make_group(2, [LogisticRegression()],
                       learner_kwargs={"proba": True})
    layer = Layer("layer-1", [group], classes=np.arange(2))
    with ParallelProcessing("dask", 2) as engine:
        assert engine.memory == "distributed" and not engine.__threading__
        P = engine.stack([layer], "fit", X, y, return_preds=True)
        assert isinstance(engine.job.dir, dict)
        assert not isinstance(engine.job.predict_out, np.memmap)
        assert engine.job._origin[0] is X  # neither copied nor memory-mapped
    assert P.shape == (120, 2)
    assert len(layer.estimators_) == 3
    with pytest.raises(ValueError, match="no cache on disk"):
        ParallelProcessing("dask", 2).map([layer], "fit", X, y,
                                          path=str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


def test_task_without_handback_is_refused(client, no_disk):
    class Writer(object):
        name = "writer"
        __no_output__ = False

        def setup(self, X, y, job):
            self.n = X.shape[0]

        def shape(self, job):
            return (self.n, 1)

        def __call__(self, args, parallel):  # pragma: no cover
            raise AssertionError("must not run")

    X, y = _data(50)
    with pytest.raises(ParallelProcessingError, match="handback"):
        ParallelProcessing("dask", 2).map([Writer()], "fit", X, y)


def test_temporal_and_sequential_ensembles(client, no_disk):
    X, y = make_regression(60, 5, noise=1.0, random_state=0)
    with _single_thread_blas():
        fits = []
        for backend in ("threading", "dask"):
            t = TemporalEnsemble(step_size=5, burn_in=10, window=20,
                                 backend=backend)
            t.add([LinearRegression(), Ridge(alpha=2.0)])
            t.add_meta(LinearRegression())
            s = SequentialEnsemble(backend=backend, random_state=0)
            s.add("stack", [Ridge(), LinearRegression()], folds=3)
            s.add("blend", [Ridge(alpha=2.0)], test_size=0.4)
            s.add("full", LinearRegression())
            fits.append((t.fit(X, y), s.fit(X, y)))
        for a, b in zip(*fits):
            np.testing.assert_array_equal(a.predict(X), b.predict(X))
            for name in a.oof_predictions_:
                np.testing.assert_array_equal(a.oof_predictions_[name],
                                              b.oof_predictions_[name])


def test_evaluator_on_a_local_dask_cluster(client, tmp_path):
    """ParallelEvaluation keeps its on-disk cache on dask (it works where
    the workers see the driver's temporary directory, as on a LocalCluster)
    and removes it."""
    from mlcore.model_selection import Benchmark
    X, y = make_regression(120, 5, noise=1.0, random_state=0)

    def mse(a, b):
        return float(np.mean((a - b) ** 2))

    config.set_tmpdir(str(tmp_path))
    try:
        res = [Benchmark(backend=b, n_jobs=2).fit(
            X, y, mse, 3, [Ridge(), LinearRegression()],
            preprocessing={"sc": [StandardScaler()]}).results
            for b in ("threading", "dask")]
        assert _mlcore_dirs(str(tmp_path)) == set()
    finally:
        config.reset()
    assert list(res[0]["test_score-m"]) == list(res[1]["test_score-m"])
    for key in res[0]["test_score-m"]:
        assert res[0]["test_score-m"][key] == pytest.approx(
            res[1]["test_score-m"][key], rel=1e-12)


###############################################################################
# Hand-back reproduces the in-place protocol without dask

def _layer(handback):
    group = make_group(3, {"sc": [LogisticRegression(), GaussianNB()],
                           None: [DecisionTreeClassifier(max_depth=2,
                                                         random_state=0)]},
                       preprocessing={"sc": [StandardScaler()]},
                       learner_kwargs={"proba": True})
    layer = Layer("layer-1", [group], classes=np.arange(2))
    layer.handback = handback
    return layer


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_handback_equals_in_place(backend, no_disk):
    X, y = _data(150)
    out = []
    for handback in (False, True):
        layer = _layer(handback)
        with ParallelProcessing(backend, 2) as engine:
            P = engine.stack([layer], "fit", X, y, return_preds=True)
            Q = engine.stack([layer], "predict", X, return_preds=True)
        out.append((P, Q, layer))
    (P0, Q0, l0), (P1, Q1, l1) = out
    np.testing.assert_array_equal(P0, P1)
    np.testing.assert_array_equal(Q0, Q1)
    assert l0.estimators_.keys() == l1.estimators_.keys()
    assert l0.pipelines_.keys() == l1.pipelines_.keys()


###############################################################################
# A worker killed mid-fit

class SlowLogisticRegression(LogisticRegression):
    """A LogisticRegression whose fit takes a while (module level, so dask
    workers import it)."""

    def fit(self, X, y, sample_weight=None):
        time.sleep(0.4)
        return super().fit(X, y, sample_weight=sample_weight)


def _children():
    me = psutil.Process()
    out = set()
    for p in me.children(recursive=True):
        try:
            if "resource_tracker" in " ".join(p.cmdline()):
                continue  # multiprocessing's per-interpreter helper
            out.add(p.pid)
        except psutil.Error:
            pass
    return out


def _slow_ensemble(backend):
    ens = SuperLearner(folds=4, random_state=0, backend=backend)
    ens.add([SlowLogisticRegression(), SlowLogisticRegression(C=0.3),
             GaussianNB()], proba=True)
    ens.add_meta(LogisticRegression())
    return ens


def test_failing_learners_are_dropped_on_dask(client, no_disk):
    """raise_on_exception=False on dask: the fit equals threading's fit of
    the ensemble built without the failing learners."""
    from mlcore.exceptions import LearnerFailedWarning
    from tests.test_tolerate import Faulty
    X, y = make_regression(120, 5, noise=1.0, random_state=0)

    def build(backend, with_bad):
        ens = SuperLearner(folds=3, backend=backend, raise_on_exception=False)
        ens.add([("ols", LinearRegression())] +
                ([("nan", Faulty("nan"))] if with_bad else []) +
                [("ridge", Ridge())], propagate_features=[0])
        ens.add([("r2", Ridge(alpha=2.0))] +
                ([("raises", Faulty("raise", 80))] if with_bad else []))
        ens.add_meta(LinearRegression())
        return ens

    with _single_thread_blas():
        ref = build("threading", False).fit(X, y)
        with pytest.warns(LearnerFailedWarning):
            ens = build("dask", True).fit(X, y)
        assert sorted(ens.failed_learners_) == ["layer-1/nan",
                                                "layer-2/raises"]
        assert ens.oof_predictions_.keys() == ref.oof_predictions_.keys()
        for name in ref.oof_predictions_:
            np.testing.assert_array_equal(ens.oof_predictions_[name],
                                          ref.oof_predictions_[name])
        np.testing.assert_array_equal(ens.predict(X), ref.predict(X))


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_worker_killed_mid_fit(no_disk):
    X, y = _data(200)
    with _single_thread_blas():
        ref = _slow_ensemble("threading").fit(X, y)
    children_before = _children()
    cluster = _cluster()
    client = Client(cluster)
    pids = set()
    outcome = {}
    try:
        pids.update(client.run(os.getpid).values())
        assert len(pids) == 2

        def kill_one():
            # wait until the workers are busy with subtasks, then kill one
            deadline = time.time() + 30
            while time.time() < deadline:
                busy = {w: t for w, t in client.processing().items() if t}
                if busy:
                    worker = sorted(busy)[0]
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    outcome["killed"] = pid
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one, daemon=True)
        killer.start()
        try:
            ens = _slow_ensemble("dask").fit(X, y)
        except Exception as exc:  # a clear error is the other allowed outcome
            outcome["error"] = exc
        killer.join(60)
        if "killed" not in outcome:
            # On a loaded machine the fit can end (or fail on its own)
            # before the killer sees a busy worker: nothing was tested.
            pytest.skip("no worker was busy long enough to be killed")
        print("worker killed mid-fit; outcome: %s"
              % ("error %r" % outcome["error"] if "error" in outcome
                 else "completed"))
        if "error" in outcome:
            exc = outcome["error"]
            text = "%s: %s" % (type(exc).__name__, exc)
            assert "worker" in text.lower() or "Killed" in text, text
        else:
            with _single_thread_blas():
                _assert_same(ref, ens, X)
        # the nanny restarts the killed worker: record the new process too
        try:
            client.wait_for_workers(2, timeout=30)
            pids.update(client.run(os.getpid).values())
        except Exception:
            pass
    finally:
        client.close()
        cluster.close()
    deadline = time.time() + 20
    while time.time() < deadline:
        alive = {p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
        leaked = _children() - children_before
        if not alive and not leaked:
            break
        time.sleep(0.2)
    assert not alive, "worker processes still alive: %s" % sorted(alive)
    assert not leaked, "processes left behind: %s" % sorted(leaked)
    assert cluster.status.name == "closed"


###############################################################################
# ray (optional)

def test_ray_equals_threading(no_disk):
    ray = pytest.importorskip("ray")
    from joblib.pool import PicklingPool
    from ray.util.joblib import register_ray
    # ray's joblib backend rebases joblib's PicklingPool onto ray's Pool for
    # good (PicklingPool.__bases__ = ...), which would send every later
    # 'multiprocessing' fit of this process to ray: undo it afterwards.
    bases = PicklingPool.__bases__
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        register_ray()
        X, y = _data(200)
        assert ParallelProcessing("ray").memory == "distributed"
        with _single_thread_blas():
            ref = _ensemble(SuperLearner, "threading", folds=2).fit(X, y)
            ens = _ensemble(SuperLearner, "ray", folds=2).fit(X, y)
        for name in ref.oof_predictions_:
            np.testing.assert_array_equal(ref.oof_predictions_[name],
                                          ens.oof_predictions_[name])
    finally:
        ray.shutdown()
        PicklingPool.__bases__ = bases
