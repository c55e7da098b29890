"""Tests of the native thread-pool limits (mlcore.threadpools).

threadpoolctl is the reference: whatever mlcore's own limiter sets must be
what ``threadpoolctl.threadpool_info()`` then reports, in the thread that
asks (OpenMP's team size is a per-thread setting), and everything must be
back to its previous value afterwards.
"""
import ctypes
import ctypes.util
import threading

import pytest
from joblib import cpu_count
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge

threadpoolctl = pytest.importorskip("threadpoolctl")

from mlcore import _scheduler, threadpools  # noqa: E402
from mlcore.ensemble import SuperLearner  # noqa: E402
from mlcore.threadpools import native_limits  # noqa: E402


def _threads(user_api):
    """{library path: threads} as threadpoolctl sees them from this thread."""
    return {d["filepath"]: d["num_threads"]
            for d in threadpoolctl.threadpool_info()
            if d["user_api"] == user_api}


@pytest.fixture
def wide_pools():
    """Every BLAS and OpenMP pool at 4 threads for the test (more than the
    limits below whatever the number of cores), restored afterwards."""
    with threadpoolctl.threadpool_limits(limits=4):
        yield


def test_native_path_is_taken_for_openblas_and_openmp():
    # numpy's and scipy's wheels bring OpenBLAS, scikit-learn's libgomp:
    # this environment needs no threadpoolctl scan.
    limits = native_limits()
    assert isinstance(limits, threadpools._NativeLimits)
    kinds = [threadpools._kind(p) for p in threadpools._pool_paths(
        threadpools._dl_iterate_phdr())]
    assert "openblas" in kinds and "openmp" in kinds


@pytest.mark.parametrize("n", [1, 2, 3])
def test_limits_match_threadpoolctl(wide_pools, n):
    blas0, omp0 = _threads("blas"), _threads("openmp")
    assert blas0 and omp0 and set(blas0.values()) == set(omp0.values()) == {4}
    limits = native_limits()
    with limits.blas(n):
        assert _threads("blas") == {k: n for k in blas0}
        assert _threads("openmp") == omp0
        with limits.openmp(n):
            assert _threads("openmp") == {k: n for k in omp0}
        assert _threads("openmp") == omp0
    assert _threads("blas") == blas0


def test_limit_never_raises_a_smaller_pool():
    with threadpoolctl.threadpool_limits(limits=1):
        limits = native_limits()
        with limits.blas(3), limits.openmp(3):
            assert set(_threads("blas").values()) == {1}
            assert set(_threads("openmp").values()) == {1}


def test_openmp_limit_is_per_thread(wide_pools):
    limits = native_limits()
    seen = {}

    def other():
        seen["other"] = _threads("openmp")

    with limits.openmp(1):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        seen["here"] = _threads("openmp")
    # a new thread starts from the process default, not our limit
    assert set(seen["here"].values()) == {1}
    assert 1 not in set(seen["other"].values())


def test_limits_restored_after_an_exception(wide_pools):
    blas0, omp0 = _threads("blas"), _threads("openmp")
    limits = native_limits()
    with pytest.raises(KeyError):
        with limits.blas(1), limits.openmp(1):
            raise KeyError("boom")
    assert _threads("blas") == blas0 and _threads("openmp") == omp0


def test_scan_is_cached_until_a_library_is_loaded():
    first = native_limits()
    assert native_limits() is first
    # a library this process has not loaded yet changes the loader's
    # counters, and the next call scans again
    iterate = threadpools._dl_iterate_phdr()
    before = threadpools._load_counters(iterate)
    loaded = False
    for name in ("bz2", "lzma", "ffi", "uuid", "expat", "sqlite3", "z"):
        path = ctypes.util.find_library(name)
        if path is None:
            continue
        ctypes.CDLL(path)
        if threadpools._load_counters(iterate) != before:
            loaded = True
            break
    if not loaded:
        pytest.skip("every candidate library was loaded already")
    again = native_limits()
    assert again is not first
    assert native_limits() is again


def test_unknown_pool_library_falls_back_to_threadpoolctl(monkeypatch,
                                                          wide_pools):
    assert threadpools._Native.scan(frozenset(["/x/libmkl_rt.so.2"])) is None
    assert threadpools._Native.scan(frozenset(["/no/such/libgomp.so.1"])) \
        is None
    monkeypatch.setattr(threadpools._Native, "scan",
                        classmethod(lambda cls, paths: None))
    monkeypatch.setitem(threadpools._STATE, "key", None)
    limits = native_limits()
    assert isinstance(limits, threadpools._ThreadpoolctlLimits)
    with limits.blas(2), limits.openmp(1):
        assert set(_threads("blas").values()) == {2}
        assert set(_threads("openmp").values()) == {1}
    assert set(_threads("blas").values()) == {4}
    monkeypatch.undo()
    threadpools._STATE["key"] = None  # rescan on the next call


def test_no_dl_iterate_phdr_uses_threadpoolctl(monkeypatch, wide_pools):
    monkeypatch.setattr(threadpools, "_dl_iterate_phdr", lambda: None)
    monkeypatch.setitem(threadpools._STATE, "limits", None)
    limits = native_limits()
    assert isinstance(limits, threadpools._ThreadpoolctlLimits)
    with limits.blas(1):
        assert set(_threads("blas").values()) == {1}
    monkeypatch.undo()
    threadpools._STATE["key"] = None


def test_kind_of_library_names():
    kind = threadpools._kind
    assert kind("/a/numpy.libs/libscipy_openblas64_-32a4b2a6.so") == \
        "openblas"
    assert kind("/usr/lib/libopenblas.so.0") == "openblas"
    assert kind("/a/libgomp-e985bcbb.so.1.0.0") == "openmp"
    assert kind("/a/libomp.so") == "openmp"
    assert kind("/a/libiomp5.so") == "openmp"
    assert kind("/a/libmkl_rt.so.2") == "other"
    assert kind("/a/libblis.so.4") == "other"
    assert kind("/usr/lib/libm.so.6") is None
    assert kind("/a/libgompx.so") == "openmp"  # prefix match, as threadpoolctl


class ThreadsSeen(RegressorMixin, BaseEstimator):
    """Ridge that records the BLAS and OpenMP thread counts its fit saw."""

    seen = []

    def fit(self, X, y):
        type(self).seen.append((threading.current_thread().name,
                                _threads("blas"), _threads("openmp")))
        self.model_ = Ridge().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_layer_limits_pools_in_thread_workers(wide_pools, n_jobs,
                                              monkeypatch):
    # tiny layers run their quick subtasks in the calling thread (see
    # tests/test_scheduling.py): make this one count as large
    monkeypatch.setattr(_scheduler, "_INLINE_BYTES", -1)
    X, y = make_regression(60, 4, random_state=0)
    blas0, omp0 = _threads("blas"), _threads("openmp")
    ThreadsSeen.seen = []
    ens = SuperLearner(folds=3, n_jobs=n_jobs, backend="threading")
    ens.add([("a", ThreadsSeen()), ("b", ThreadsSeen())])
    ens.add_meta(Ridge())
    ens.fit(X, y)
    assert len(ThreadsSeen.seen) == 2 * 4
    cap = max(1, cpu_count() // n_jobs) if n_jobs > 1 else None
    for thread, blas, omp in ThreadsSeen.seen:
        if cap is None:  # one worker: nothing to share, nothing limited
            assert blas == blas0 and omp == omp0
        else:
            assert thread.startswith("mlcore-worker")
            assert blas == {k: min(v, cap) for k, v in blas0.items()}
            assert omp == {k: min(v, cap) for k, v in omp0.items()}
    assert _threads("blas") == blas0 and _threads("openmp") == omp0


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_small_inputs_fit_with_one_native_thread(wide_pools, monkeypatch,
                                                 n_jobs):
    # a tiny layer's quick subtasks run one after another in this thread,
    # each with one BLAS and one OpenMP thread: a team of threads on a tiny
    # matrix costs more than it saves (threadpool_info in ThreadsSeen.fit is
    # slow: every subtask counts as quick here)
    monkeypatch.setattr(_scheduler, "_INLINE_SECONDS", 10.0)
    X, y = make_regression(60, 4, random_state=0)
    blas0, omp0 = _threads("blas"), _threads("openmp")
    ThreadsSeen.seen = []
    ens = SuperLearner(folds=3, n_jobs=n_jobs, backend="threading")
    ens.add([("a", ThreadsSeen()), ("b", ThreadsSeen())])
    ens.add_meta(Ridge())
    ens.fit(X, y)
    assert len(ThreadsSeen.seen) == 8
    for thread, blas, omp in ThreadsSeen.seen:
        assert thread == threading.current_thread().name
        assert blas == {k: 1 for k in blas0}
        assert omp == {k: 1 for k in omp0}
    assert _threads("blas") == blas0 and _threads("openmp") == omp0


def test_small_inputs_fit_with_one_native_thread_in_workers_too(
        wide_pools, monkeypatch):
    # the subtasks that timing sends on to the workers get one thread too:
    # a fit's thread count (and its last bits) does not depend on timing.
    # A machine of 8 cores, as joblib counts them: the workers' limit would
    # otherwise be 4
    import joblib
    monkeypatch.setattr(joblib, "cpu_count", lambda *a, **k: 8)
    monkeypatch.setattr(_scheduler, "_INLINE_SECONDS", -1.0)
    monkeypatch.setattr(_scheduler, "_INLINE_SLACK", -1.0)
    X, y = make_regression(60, 4, random_state=0)
    blas0, omp0 = _threads("blas"), _threads("openmp")
    ThreadsSeen.seen = []
    ens = SuperLearner(folds=3, n_jobs=2, backend="threading")
    ens.add([("a", ThreadsSeen()), ("b", ThreadsSeen())])
    ens.add_meta(Ridge())
    ens.fit(X, y)
    assert len(ThreadsSeen.seen) == 8
    workers = [s for s in ThreadsSeen.seen if s[0].startswith("mlcore-worker")]
    assert len(workers) == 7  # the first ran here, the rest moved
    for thread, blas, omp in ThreadsSeen.seen:
        assert blas == {k: 1 for k in blas0}
        assert omp == {k: 1 for k in omp0}
    assert _threads("blas") == blas0 and _threads("openmp") == omp0


@pytest.mark.parametrize("limit", [1, 2])
def test_native_threads_are_what_threadpoolctl_reports(limit):
    import os
    from mlcore.threadpools import native_threads
    with threadpoolctl.threadpool_limits(limits=limit):
        expected = sorted((d["internal_api"], os.path.basename(d["filepath"]),
                           d["num_threads"])
                          for d in threadpoolctl.threadpool_info())
        assert sorted(native_threads()) == expected
