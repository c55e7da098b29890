"""Where a layer's subtasks run on the threading backend.

Tiny layers run their subtasks in the calling thread while they are quick
(threads cannot beat the GIL on millisecond fits); slow subtasks, and every
subtask of a layer whose input is not tiny, go to the thread workers. The
results are the same wherever the subtasks run.
"""
import threading

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict

from mlcore import _scheduler as S
from mlcore.exceptions import LearnerError
from mlcore.ensemble import SuperLearner

# Every wait below is on an event; the timeout only ends a test that
# would otherwise hang on a broken scheduler.
WAIT = 30


class FakeClock(object):
    """The scheduler's clock, driven by the tests: time passes only when a
    subtask says it took some (no dependence on machine load)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def fake_clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(S, "clock", c)
    return c


class Where(RegressorMixin, BaseEstimator):
    """LinearRegression that records the thread of every fit and can be
    made to take ``cost`` seconds on the scheduler's clock."""

    threads = []

    def __init__(self, cost=0.0):
        self.cost = cost

    def fit(self, X, y):
        type(self).threads.append(threading.current_thread().name)
        if self.cost:
            S.clock.advance(self.cost)
        self.model_ = LinearRegression().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _fit(X, y, n_jobs, cost=0.0):
    Where.threads = []
    ens = SuperLearner(folds=4, n_jobs=n_jobs, backend="threading")
    ens.add([("a", Where(cost)), ("b", Where(cost))])
    ens.add_meta(Ridge())
    ens.fit(X, y)
    return ens, list(Where.threads)


def _oof_reference(X, y):
    ref = cross_val_predict(LinearRegression(), X, y, cv=KFold(4))
    return np.column_stack([ref, ref])


def test_tiny_quick_layer_runs_in_the_calling_thread(fake_clock):
    X, y = make_regression(80, 4, random_state=0)
    ens, threads = _fit(X, y, 2)
    assert len(threads) == 2 * 5
    assert set(threads) == {threading.current_thread().name}
    np.testing.assert_allclose(ens.oof_predictions_["layer-1"],
                               _oof_reference(X, y), rtol=1e-10, atol=1e-10)


def test_slow_subtasks_go_to_the_workers(monkeypatch, fake_clock):
    monkeypatch.setattr(S, "_INLINE_SLACK", 0.0)
    X, y = make_regression(80, 4, random_state=0)
    ens, threads = _fit(X, y, 2, cost=0.02)
    # the first subtask runs inline and is found slow; the rest go to the
    # worker threads
    assert threads[0] == threading.current_thread().name
    assert len(threads) == 10
    assert all(t.startswith("mlcore-worker") for t in threads[1:])
    np.testing.assert_allclose(ens.oof_predictions_["layer-1"],
                               _oof_reference(X, y), rtol=1e-10, atol=1e-10)


def test_layer_over_the_size_limit_uses_the_workers(monkeypatch, fake_clock):
    X, y = make_regression(80, 4, random_state=0)
    monkeypatch.setattr(S, "_INLINE_BYTES", X.nbytes - 1)
    ens, threads = _fit(X, y, 2)
    assert len(threads) == 10
    assert all(t.startswith("mlcore-worker") for t in threads)
    np.testing.assert_allclose(ens.oof_predictions_["layer-1"],
                               _oof_reference(X, y), rtol=1e-10, atol=1e-10)


def test_inline_then_workers_keeps_job_order(fake_clock):
    calls = []

    def job(i, cost):
        calls.append(threading.current_thread().name)
        fake_clock.advance(cost)
        return i

    costs = [0.0, 0.0, 0.05, 0.0, 0.0, 0.0]
    jobs = [(job, (i, c), {}) for i, c in enumerate(costs)]
    out = S.run_jobs(jobs, workers=2, small=True)
    assert out == list(range(6))
    here = threading.current_thread().name
    # 0.05 s after three subtasks is over 3 x 5 ms + 20 ms: the rest move
    assert calls[:3] == [here] * 3
    assert all(c.startswith("mlcore-worker") for c in calls[3:])


def test_inline_error_names_the_learner():
    class Boom(Where):
        def fit(self, X, y):
            raise ValueError("no fit today")

    X, y = make_regression(40, 3, random_state=0)
    ens = SuperLearner(folds=2, n_jobs=2, backend="threading")
    ens.add([("ok", Where()), ("boom", Boom())])
    ens.add_meta(Ridge())
    with pytest.raises(LearnerError, match="'boom'.*no fit today") as info:
        ens.fit(X, y)
    assert isinstance(info.value.__cause__, ValueError)


###############################################################################
# Exclusive fits (liblinear / libsvm draw from one global generator)

def test_jobs_with_the_same_key_never_overlap_and_others_fill_in():
    done = {n: threading.Event() for n in "ABCD"}
    seen = {}

    def job(name):
        if name == "A":
            # holds key k until C and D (no key) have run beside it
            seen["C, D ran during A"] = (done["C"].wait(WAIT) and
                                         done["D"].wait(WAIT))
        if name == "B":
            seen["A done when B started"] = done["A"].is_set()
        done[name].set()
        return name

    names = ["A", "B", "C", "D"]
    keys = ["k", "k", None, None]
    jobs = [(job, (n,), {}) for n in names]
    assert S.run_jobs(jobs, workers=2, keys=keys) == names  # job order
    assert seen == {"C, D ran during A": True, "A done when B started": True}


def test_keyed_jobs_start_first():
    k1_started = threading.Event()
    waited = {}

    def job(name):
        if name == "K1":
            k1_started.set()
        elif name != "K2":
            # True at once when the chain started first; on a scheduler
            # that ran p..s first, both workers would wait here in vain
            waited[name] = k1_started.wait(WAIT)
        return name

    names = ["p", "q", "r", "s", "K1", "K2"]
    keys = [None, None, None, None, "k", "k"]
    jobs = [(job, (n,), {}) for n in names]
    assert S.run_jobs(jobs, workers=2, keys=keys) == names
    # the chain starts at once (beside one other job), not after p..s
    assert waited == {n: True for n in "pqrs"}


def test_error_stops_the_queue(monkeypatch):
    started = []
    recorded = threading.Event()
    done = S._JobQueue.done

    def done_and_tell(self, i, result=None, error=None):
        done(self, i, result=result, error=error)
        if error is not None:
            recorded.set()

    monkeypatch.setattr(S._JobQueue, "done", done_and_tell)

    def job(i):
        started.append(i)
        if i == 1:
            raise KeyError("job 1")
        # job 0 ends only once the error is recorded: nothing else starts
        assert recorded.wait(WAIT)
        return i

    jobs = [(job, (i,), {}) for i in range(8)]
    with pytest.raises(KeyError, match="job 1"):
        S._run_in_threads(2, jobs)
    assert sorted(started) == [0, 1]


@pytest.mark.parametrize("est, key", [
    ("LinearSVR(random_state=0)", "liblinear"),
    ("LinearSVR()", None),  # unseeded: not reproducible anyway
    ("LinearSVR(random_state=0, dual=False, "
     "loss='squared_epsilon_insensitive')", None),  # primal: no draws
    ("LinearSVC(random_state=0)", "liblinear"),
    ("LinearSVC(random_state=0, dual=False)", None),
    ("LinearSVC(random_state=0, dual=False, penalty='l1')", "liblinear"),
    ("LogisticRegression(solver='liblinear', random_state=0)", None),
    ("LogisticRegression(solver='liblinear', penalty='l1', "
     "random_state=0)", "liblinear"),
    ("LogisticRegression(solver='liblinear', dual=True, random_state=0)",
     "liblinear"),
    ("LogisticRegression(random_state=0)", None),
    ("SVC(probability=True, random_state=0)", "libsvm"),
    ("SVC(random_state=0)", None),
    ("make_pipeline(StandardScaler(), LinearSVC(random_state=0))",
     "liblinear"),
    ("BaggingRegressor(LinearSVR(random_state=0))", "liblinear"),
    ("Ridge()", None),
])
def test_exclusive_key(est, key):
    from sklearn.ensemble import BaggingRegressor  # noqa: F401
    from sklearn.linear_model import LogisticRegression  # noqa: F401
    from sklearn.pipeline import make_pipeline  # noqa: F401
    from sklearn.preprocessing import StandardScaler  # noqa: F401
    from sklearn.svm import SVC, LinearSVC, LinearSVR  # noqa: F401
    assert S.exclusive_key(eval(est)) == key


@pytest.mark.parametrize("repeat", range(2))
def test_liblinear_in_threads_is_reproducible(repeat):
    """LinearSVR's out-of-fold predictions on two thread workers equal
    cross_val_predict's (they differed when two liblinear fits overlapped)."""
    from sklearn.svm import LinearSVR
    X, y = make_regression(3000, 60, noise=5.0, random_state=repeat)
    est = LinearSVR(C=10.0, tol=1e-8, max_iter=300, random_state=0)
    ens = SuperLearner(folds=KFold(4), n_jobs=2, backend="threading")
    ens.add([("svr", est), ("svr2", LinearSVR(C=1.0, tol=1e-8, max_iter=300,
                                               random_state=1))])
    ens.add_meta(Ridge())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ens.fit(X, y)
        ref = np.column_stack([
            cross_val_predict(est, X, y, cv=KFold(4)),
            cross_val_predict(LinearSVR(C=1.0, tol=1e-8, max_iter=300,
                                        random_state=1), X, y, cv=KFold(4))])
    np.testing.assert_array_equal(ens.oof_predictions_["layer-1"], ref)


def test_nested_ensemble_on_threads_does_not_deadlock(monkeypatch):
    monkeypatch.setattr(S, "_INLINE_BYTES", -1)  # use the workers
    X, y = make_regression(200, 5, random_state=0)

    def make(n_jobs):
        inner = SuperLearner(folds=2, n_jobs=n_jobs, backend="threading")
        inner.add([("a", Ridge()), ("b", LinearRegression())])
        inner.add_meta(Ridge())
        outer = SuperLearner(folds=3, n_jobs=n_jobs, backend="threading")
        outer.add([("inner", inner), ("r", Ridge())])
        outer.add_meta(Ridge())
        return outer

    result = {}
    t = threading.Thread(target=lambda: result.update(
        pred=make(2).fit(X, y).predict(X)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "nested fit on thread workers deadlocked"
    np.testing.assert_allclose(result["pred"], make(1).fit(X, y).predict(X),
                               rtol=1e-10, atol=1e-8)


###############################################################################
# Memory-aware order: working sets (injected here) keep the peak down

def _recording_jobs(names, hold=None):
    """Jobs that record, when they start, which jobs have finished; job
    ``n`` waits for the jobs ``hold[n]`` to finish before it does (a
    scheduler that kept those from starting meanwhile would hang, and the
    wait's timeout fail the test)."""
    hold = hold or {}
    done = {n: threading.Event() for n in names}
    finished_before = {}

    def job(name):
        finished_before[name] = {n for n, e in done.items() if e.is_set()}
        for other in hold.get(name, ()):
            assert done[other].wait(WAIT), "%s never ran" % other
        done[name].set()
        return name

    return [(job, (n,), {}) for n in names], finished_before


def test_large_jobs_do_not_run_beside_each_other():
    # the peak to keep: the largest (10) beside the smallest (1), 11. A
    # runs until C and D are done, and B (10), though before them in
    # order, waits while they can start
    names, sizes = ["A", "B", "C", "D"], [10, 10, 1, 1]
    jobs, before = _recording_jobs(names, hold={"A": ["C", "D"]})
    assert S.run_jobs(jobs, workers=2, sizes=sizes) == names
    assert {"C", "D"} <= before["B"]


def test_without_sizes_jobs_start_in_order():
    # the same jobs without working sets: B starts beside A, first
    names = ["A", "B", "C", "D"]
    jobs, before = _recording_jobs(names, hold={"A": ["B"]})
    assert S.run_jobs(jobs, workers=2) == names
    assert not {"C", "D"} & before["B"]


def test_no_worker_idles_to_save_memory():
    # once only B (10) is left it starts beside A (10), which ends only
    # after B: the scheduler must not wait for A to end first
    names, sizes = ["A", "B", "C"], [10, 10, 1]
    jobs, before = _recording_jobs(names, hold={"A": ["C", "B"]})
    assert S.run_jobs(jobs, workers=2, sizes=sizes) == names
    assert "C" in before["B"]


def test_over_the_peak_the_smallest_starts():
    # the peak to keep is 10 + 2 = 12: beside A (10) only D (2) fits;
    # then neither B (6) nor C (4) does, and the smaller, C, starts
    names, sizes = ["A", "B", "C", "D"], [10, 6, 4, 2]
    jobs, before = _recording_jobs(names, hold={"A": ["D", "C"]})
    assert S.run_jobs(jobs, workers=2, sizes=sizes) == names
    assert "D" in before["C"] and {"C", "D"} <= before["B"]


def test_keyed_jobs_still_never_overlap_with_sizes():
    names, sizes, keys = ["K1", "K2", "s"], [1, 1, 10], ["k", "k", None]
    jobs, before = _recording_jobs(names, hold={"K1": ["s"]})
    assert S.run_jobs(jobs, workers=2, keys=keys, sizes=sizes) == names
    assert {"K1", "s"} <= before["K2"]


def test_layer_gives_the_bytes_of_each_fit_s_training_rows(monkeypatch):
    seen = []
    run_jobs = S.run_jobs

    def recording(jobs, **kwargs):
        seen.append(kwargs.get("sizes"))
        return run_jobs(jobs, **kwargs)

    monkeypatch.setattr(S, "run_jobs", recording)
    X, y = make_regression(100, 4, random_state=0)
    ens = SuperLearner(folds=KFold(4), n_jobs=2, backend="threading")
    ens.add([("a", LinearRegression()), ("b", Ridge())])
    ens.add_meta(Ridge())
    ens.fit(X, y)
    # layer 1: per learner the full fit (all rows), then 4 folds of 75
    # rows; the meta layer likewise, on its input (2 columns of float64)
    full, fold = float(X.nbytes), X.nbytes * 75 / 100.0
    assert seen[0] == [full, fold, fold, fold, fold] * 2
    assert seen[1] == [1600.0, 1200.0, 1200.0, 1200.0, 1200.0]


@pytest.mark.parametrize("rows, count", [
    (None, 10), (slice(2, 7), 5), (slice(None, None, 3), 4),
    (np.array([0, 3, 3]), 3)])
def test_working_set_is_the_share_of_input_bytes(rows, count):
    import scipy.sparse as sp
    from mlcore._subtasks import working_set
    X = np.ones((10, 3))
    assert working_set(X, rows) == X.nbytes * count / 10.0
    Xs = sp.random(10, 50, density=0.2, format="csr", random_state=0)
    total = Xs.data.nbytes + Xs.indices.nbytes + Xs.indptr.nbytes
    assert working_set(Xs, rows) == total * count / 10.0
