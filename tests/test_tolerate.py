"""Failing learners tolerated (``raise_on_exception=False``) and time
budgets (``max_fit_time``).

The reference of every tolerated failure is the same ensemble built without
the failing learner: its out-of-fold predictions, predictions and tables
must be equal, exactly. Time budgets are judged on an injected clock
(``mlcore._scheduler.clock``): in a thread, a learner that advances its
thread's clock runs over; on process workers, a learner that never returns
(it waits on an event nobody sets) is provably over any budget, whatever
the clock. No test depends on how long anything takes.
"""
import itertools
import os
import pickle
import re
import threading
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import (BaseEstimator, RegressorMixin,
                          TransformerMixin, clone)
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import StandardScaler

from mlcore import _scheduler
from mlcore._tolerance import _is_child
from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble, Subsemble,
                             SuperLearner)
from mlcore.exceptions import (LayerSpecificationError, LearnerError,
                               LearnerFailedWarning, LearnerTimeoutError,
                               LearnerValueError, WorkerDiedError)

from tests._tasks import assert_clean, cache_root  # noqa: F401 (fixture)

psutil = pytest.importorskip("psutil")

BACKENDS = [("sequential", 1), ("threading", 2), ("loky", 2),
            ("multiprocessing", 2)]
BACKEND_IDS = [b for b, _ in BACKENDS]


###############################################################################
# Learners (module level: process workers import them)

class Faulty(RegressorMixin, BaseEstimator):
    """Predicts the training mean; ``how`` says how it fails on the fits
    of ``rows`` training rows: 'raise' (fit raises), 'shape' (predict
    returns a row too many), 'nan' (predict returns NaN), 'predict'
    (predict raises)."""

    def __init__(self, how="raise", rows=None):
        self.how, self.rows = how, rows

    def fit(self, X, y):
        self.n_ = X.shape[0]
        if self.how == "raise" and self.n_ == self.rows:
            raise ValueError("refusing %d rows" % self.n_)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        n = X.shape[0]
        bad = self.rows is None or self.n_ == self.rows
        if self.how == "shape" and bad:
            return np.full(n + 1, self.mean_)
        if self.how == "nan" and bad:
            return np.full(n, np.nan)
        if self.how == "predict" and bad:
            raise KeyError("no predictions from %d rows" % self.n_)
        return np.full(n, self.mean_)


class FaultyNB(GaussianNB):
    """GaussianNB whose fit raises."""

    def fit(self, X, y, sample_weight=None):
        raise RuntimeError("no naive Bayes today")


class FaultyScaler(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        raise ArithmeticError("cannot scale")

    def transform(self, X):
        return X


class Blocked(RegressorMixin, BaseEstimator):
    """Notes its process id in ``pidfile``, then waits on an event that no
    one sets: its fit never returns."""

    def __init__(self, pidfile=None):
        self.pidfile = pidfile

    def fit(self, X, y):
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % os.getpid())
        threading.Event().wait()

    def predict(self, X):  # pragma: no cover - never fitted
        return np.zeros(X.shape[0])


class Exits(RegressorMixin, BaseEstimator):
    """Ends its worker process in fit."""

    def fit(self, X, y):
        os._exit(3)


_THREAD = threading.local()
STARTED = []


def thread_clock():
    """Seconds on the calling thread's own clock, which only Slow moves."""
    return getattr(_THREAD, "t", 0.0)


class Slow(RegressorMixin, BaseEstimator):
    """A fit that takes 100 s on :func:`thread_clock`."""

    def fit(self, X, y):
        STARTED.append(X.shape[0])
        _THREAD.t = thread_clock() + 100.0
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.mean_)


###############################################################################
# Helpers

def _regression():
    return make_regression(60, 4, noise=1.0, random_state=0)


def _super(estimators, backend="threading", n_jobs=2, meta=None, **kw):
    ens = SuperLearner(folds=3, backend=backend, n_jobs=n_jobs, **kw)
    ens.add(estimators)
    ens.add_meta(meta if meta is not None else LinearRegression())
    return ens


def _fit_warned(ens, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ens.fit(*args)
    return [w for w in caught if issubclass(w.category, LearnerFailedWarning)]


def _dense(P):
    return P.toarray() if sp.issparse(P) else np.asarray(P)


def assert_same_fit(ens, ref, X):
    """``ens`` (fitted with a failing learner dropped) equals ``ref``
    (fitted without it), exactly."""
    assert list(ens.oof_predictions_) == list(ref.oof_predictions_)
    for name, P in ref.oof_predictions_.items():
        Q = ens.oof_predictions_[name]
        assert Q.shape == P.shape, name
        assert Q.dtype == P.dtype, name
        np.testing.assert_array_equal(_dense(Q), _dense(P), err_msg=name)
    np.testing.assert_array_equal(ens.predict(X), ref.predict(X))
    np.testing.assert_array_equal(_dense(ens.transform(X)),
                                  _dense(ref.transform(X)))
    np.testing.assert_array_equal(ens.get_feature_names_out(),
                                  ref.get_feature_names_out())
    for la, lb in zip(ens.layers_, ref.layers_):
        assert [lr.key for lr in la.learners] == \
            [lr.key for lr in lb.learners]
        assert sorted(la.estimators_) == sorted(lb.estimators_)
        np.testing.assert_array_equal(la.get_feature_names_out(),
                                      lb.get_feature_names_out())
        assert la.scores_ == lb.scores_
    assert list(ens.data) == list(ref.data)


###############################################################################
# raise_on_exception=False

@pytest.mark.parametrize("backend, n_jobs", BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("how, stage, cause", [
    ("raise", "fit", "ValueError: refusing 40 rows"),
    ("shape", "predict", "output of shape (21,) for 20 rows"),
    ("nan", "predict", "20 non-finite value(s)"),
])
def test_failing_learner_is_dropped_as_if_never_added(
        cache_root, backend, n_jobs, how, stage, cause):
    X, y = _regression()
    # fails on the fold fits (40 training rows), not on the full fit
    ens = _super([("ols", LinearRegression()), ("bad", Faulty(how, 40)),
                  ("ridge", Ridge())], backend, n_jobs,
                 raise_on_exception=False)
    ref = _super([("ols", LinearRegression()), ("ridge", Ridge())], backend,
                 n_jobs)
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "layer 'layer-1'" in message and "learner 'bad'" in message
    assert "partition 0, fold " in message and stage in message
    assert cause in message
    reason = ens.failed_learners_["layer-1/bad"]
    assert list(ens.failed_learners_) == ["layer-1/bad"]
    assert "learner 'bad'" in reason and cause in reason
    assert "layer-1/bad" not in ens.data
    assert "layer-1/bad: %s" % reason in str(ens.data)
    assert ref.failed_learners_ == {}
    assert "failed" not in str(ref.data)
    assert_clean(cache_root)


@pytest.mark.parametrize("backend, n_jobs", BACKENDS, ids=BACKEND_IDS)
def test_failures_raise_by_default(cache_root, backend, n_jobs):
    X, y = _regression()
    ens = _super([("ols", LinearRegression()), ("bad", Faulty("raise", 40))],
                 backend, n_jobs)
    with pytest.raises(LearnerValueError,
                       match=r"learner 'bad' failed on partition 0, fold "
                             r"\d during fit: ValueError: refusing 40 rows"):
        ens.fit(X, y)
    assert_clean(cache_root)


def test_a_layer_whose_learners_all_fail_raises():
    X, y = _regression()
    ens = _super([("a", Faulty("raise", 40)), ("b", Faulty("nan", 40))],
                 raise_on_exception=False)
    with pytest.raises(LearnerError) as info:
        ens.fit(X, y)
    text = str(info.value)
    assert "every learner of layer 'layer-1' failed" in text
    assert "learner 'a'" in text and "learner 'b'" in text
    # the meta layer has one learner: its failure is the layer's
    ens = _super([LinearRegression()], meta=Faulty("raise", 60),
                 raise_on_exception=False)
    with pytest.raises(LearnerError, match="every learner of layer "
                                           "'layer-2' failed"):
        ens.fit(X, y)


def test_per_layer_setting_overrides_the_ensemble():
    X, y = _regression()
    ens = SuperLearner(folds=3, raise_on_exception=False)
    ens.add([("ols", LinearRegression()), ("bad", Faulty("raise", 40))],
            raise_on_exception=True)
    ens.add_meta(LinearRegression())
    with pytest.raises(LearnerValueError, match="learner 'bad'"):
        ens.fit(X, y)
    ens = SuperLearner(folds=3)
    ens.add([("ols", LinearRegression()), ("bad", Faulty("raise", 40))],
            raise_on_exception=False)
    ens.add_meta(LinearRegression())
    assert len(_fit_warned(ens, X, y)) == 1
    assert list(ens.failed_learners_) == ["layer-1/bad"]


def _case_free_reference():
    """The ensemble of the preprocessing tests without the failing case."""
    ref = SuperLearner(folds=3)
    ref.add({"no": [("ridge", Ridge())]}, preprocessing={"no": []})
    ref.add_meta(LinearRegression())
    return ref


def test_failing_preprocessing_drops_the_learners_of_its_case():
    X, y = _regression()
    ens = SuperLearner(folds=3, raise_on_exception=False)
    ens.add({"sc": [("ols", LinearRegression()), ("r", Ridge())],
             "no": [("ridge", Ridge())]},
            preprocessing={"sc": [FaultyScaler()], "no": []})
    ens.add_meta(LinearRegression())
    ref = _case_free_reference()
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert sorted(ens.failed_learners_) == ["layer-1/sc__ols",
                                            "layer-1/sc__r"]
    # one warning for the case, naming every learner it drops (two with
    # the same text would show as one under the default filters)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("layer 'layer-1': preprocessing case 'sc' "
                              "failed on partition 0, ")
    assert "Its learners 'sc__ols', 'sc__r' are dropped" in message
    for reason in ens.failed_learners_.values():
        assert re.search(r"preprocessing case 'sc' failed on partition 0, "
                         r"(fold \d|full fit) during fit", reason)
        assert "ArithmeticError: cannot scale" in reason
    for name in ref.oof_predictions_:
        np.testing.assert_array_equal(ens.oof_predictions_[name],
                                      ref.oof_predictions_[name])
    np.testing.assert_array_equal(ens.predict(X), ref.predict(X))


def test_classifier_labels_and_probabilities():
    X, y = make_classification(90, 5, n_informative=3, n_classes=3,
                               random_state=1)
    labels = np.array(["a", "b", "c"])[y]

    def build(with_bad):
        ens = SuperLearner(folds=3, raise_on_exception=False)
        ests = [("nb", GaussianNB())]
        if with_bad:
            ests.append(("bad", FaultyNB()))
        ens.add(ests + [("lr", LogisticRegression(max_iter=500))],
                proba=True)
        ens.add([("nb2", GaussianNB())] + ([("bad2", FaultyNB())]
                                           if with_bad else []))
        ens.add_meta(LogisticRegression(max_iter=500))
        return ens

    ens, ref = build(True), build(False).fit(X, labels)
    assert len(_fit_warned(ens, X, labels)) == 2
    assert sorted(ens.failed_learners_) == ["layer-1/bad", "layer-2/bad2"]
    assert_same_fit(ens, ref, X)
    np.testing.assert_array_equal(ens.predict_proba(X), ref.predict_proba(X))
    assert ens.oof_predictions_["layer-2"].dtype == object  # text labels


def test_next_layer_propagates_the_kept_columns():
    X, y = _regression()

    def build(with_bad, propagate):
        ens = SuperLearner(folds=3, raise_on_exception=False)
        ens.add([("ols", LinearRegression())] +
                ([("bad", Faulty("raise", 40))] if with_bad else []) +
                [("ridge", Ridge())], propagate_features=[0, 2])
        ens.add([("r2", Ridge(alpha=3.0))], propagate_features=propagate)
        ens.add_meta(LinearRegression())
        return ens

    # by name (resolved before the fit, moved after the drop) and position
    for with_bad, propagate in [(True, ["x2", "ridge"]), (True, [1, 4])]:
        ens = build(with_bad, propagate)
        _fit_warned(ens, X, y)
        ref = build(False, [1, 3] if propagate == [1, 4] else propagate)
        ref.fit(X, y)
        assert_same_fit(ens, ref, X)
        np.testing.assert_array_equal(
            ens.layers_[1].get_feature_names_out(),
            ["x2", "ridge", "r2"])
    ens = build(True, ["bad"])
    with pytest.raises(LayerSpecificationError,
                       match=r"layer 'layer-2' propagates column\(s\) "
                             r"\['bad'\] of layer 'layer-1'"):
        _fit_warned(ens, X, y)


@pytest.mark.parametrize("backend, n_jobs", [("threading", 2), ("loky", 2)])
def test_sparse_input_with_propagated_features(backend, n_jobs):
    X, y = _regression()
    X[np.abs(X) < 0.7] = 0.0
    X = sp.csr_matrix(X)

    def build(with_bad):
        ens = SuperLearner(folds=3, raise_on_exception=False,
                           backend=backend, n_jobs=n_jobs)
        ens.add([("ols", LinearRegression())] +
                ([("bad", Faulty("nan", 40))] if with_bad else []) +
                [("ridge", Ridge())], propagate_features=[1, 3])
        ens.add_meta(Ridge())
        return ens

    ens, ref = build(True), build(False).fit(X, y)
    _fit_warned(ens, X, y)
    assert sp.issparse(ens.oof_predictions_["layer-1"])
    assert_same_fit(ens, ref, X)


@pytest.mark.parametrize("make", [
    lambda **kw: BlendEnsemble(test_size=0.4, **kw),
    lambda **kw: Subsemble(partitions=2, folds=2, **kw),
    lambda **kw: SuperLearner(folds=3, n_repeats=2, random_state=3, **kw),
    lambda **kw: SuperLearner(folds=3, refit=False, **kw),
], ids=["blend", "subsemble", "repeated", "no-refit"])
def test_every_layer_kind(make):
    X, y = _regression()

    def build(with_bad):
        ens = make(raise_on_exception=False)
        ens.add([("ols", LinearRegression())] +
                ([("bad", Faulty("nan"))] if with_bad else []) +
                [("ridge", Ridge())])
        ens.add_meta(LinearRegression())
        return ens

    ens, ref = build(True), build(False).fit(X, y)
    assert len(_fit_warned(ens, X, y)) == 1
    assert_same_fit(ens, ref, X)


def test_sequential_ensemble_and_pickling():
    X, y = _regression()

    def build(with_bad):
        ens = SequentialEnsemble(raise_on_exception=False)
        ens.add("blend", [("ols", LinearRegression())] +
                ([("bad", Faulty("shape"))] if with_bad else []),
                test_size=0.5)
        ens.add("stack", [("ridge", Ridge())] +
                ([("bad", Faulty("raise", 20))] if with_bad else []),
                folds=3)
        ens.add_meta(LinearRegression())
        return ens

    ens, ref = build(True), build(False).fit(X, y)
    assert len(_fit_warned(ens, X, y)) == 2
    assert_same_fit(ens, ref, X)
    back = pickle.loads(pickle.dumps(ens))
    np.testing.assert_array_equal(back.predict(X), ref.predict(X))
    assert back.failed_learners_ == ens.failed_learners_
    assert clone(ens).get_params()["raise_on_exception"] is False


###############################################################################
# max_fit_time

@pytest.mark.parametrize("backend, n_jobs", [("sequential", 1),
                                             ("threading", 2)])
def test_fit_over_budget_in_threads(monkeypatch, backend, n_jobs):
    """A running thread cannot be stopped: the fit over the budget is
    judged when it ends, and the learner's fits not yet started are
    skipped."""
    monkeypatch.setattr(_scheduler, "clock", thread_clock)
    X, y = _regression()
    del STARTED[:]
    ens = _super([("ols", LinearRegression()), ("slow", Slow()),
                  ("ridge", Ridge())], backend, n_jobs,
                 raise_on_exception=False, max_fit_time=5)
    ref = _super([("ols", LinearRegression()), ("ridge", Ridge())], backend,
                 n_jobs, max_fit_time=5)
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)
    # of its 4 fits (3 folds and the full fit), at most one per worker
    # started before the first one ended over the budget
    assert 1 <= len(STARTED) <= n_jobs
    assert len(caught) == 1
    reason = ens.failed_learners_["layer-1/slow"]
    assert re.fullmatch(r"learner 'slow' ran over the time budget of 5 s on "
                        r"partition 0, (fold \d|full fit) \(took 100 s\)",
                        reason)
    # raise_on_exception=True: the budget is an error
    with pytest.raises(LearnerTimeoutError,
                       match="learner 'slow' ran over the time budget of "
                             "5 s on partition 0, (fold|full fit)"):
        _super([("ols", LinearRegression()), ("slow", Slow())], backend,
               n_jobs, max_fit_time=5).fit(X, y)
    # a budget by learner name: the others have none
    ens = _super([("ols", LinearRegression()), ("slow", Slow())], backend,
                 n_jobs, raise_on_exception=False,
                 max_fit_time={"slow": 150})
    assert _fit_warned(ens, X, y) == [] and ens.failed_learners_ == {}


def _none_alive(pidfile):
    """Whether the processes noted in ``pidfile`` have all ended. A worker
    stopped beside the one over budget (the pool kills the rest of a
    broken pool) may still be on its way out when the fit returns: up to
    a minute is allowed for it, not needed for the outcome."""
    pids = [int(line) for line in open(pidfile)]

    def alive(pid):  # looked at, not waited for: the pool reaps its own
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(pids) and not any(alive(pid) for pid in pids)


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_fit_over_budget_stops_its_worker(cache_root, monkeypatch, tmp_path,
                                          backend):
    ticks = itertools.count()
    # every reading of the clock is one second later: a fit that never
    # returns is over any budget, and the others have none
    monkeypatch.setattr(_scheduler, "clock", lambda: float(next(ticks)))
    pidfile = str(tmp_path / "pids")
    X, y = _regression()
    ens = _super([("ols", LinearRegression()),
                  ("blocked", Blocked(pidfile)), ("ridge", Ridge())],
                 backend, 2, raise_on_exception=False,
                 max_fit_time={"blocked": 3})
    ref = _super([("ols", LinearRegression()), ("ridge", Ridge())], backend,
                 2)
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)
    assert len(caught) == 1
    # (which of its folds ran over first depends on which worker took it)
    assert list(ens.failed_learners_) == ["layer-1/blocked"]
    assert re.fullmatch(
        r"learner 'blocked' ran over the time budget of 3 s on partition 0, "
        r"(fold \d|full fit) \(its worker process was stopped\)",
        ens.failed_learners_["layer-1/blocked"])
    assert _none_alive(pidfile)
    assert_clean(cache_root)
    # raise_on_exception=True: the worker is stopped, then the error raised
    open(pidfile, "w").close()
    with pytest.raises(LearnerTimeoutError,
                       match=r"learner 'blocked' ran over the time budget "
                             r"of 3 s on partition 0, (fold \d|full fit) "
                             r"\(its worker process was stopped\)"):
        _super([("ols", LinearRegression()), ("blocked", Blocked(pidfile))],
               backend, 2, max_fit_time={"blocked": 3}).fit(X, y)
    assert _none_alive(pidfile)
    assert_clean(cache_root)
    # the engine starts a new pool for the next fit
    np.testing.assert_array_equal(clone(ref).fit(X, y).predict(X),
                                  ref.predict(X))


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_a_worker_that_dies_on_its_own_is_still_an_error(cache_root,
                                                         backend):
    """A budget does not turn a crash into a tolerated failure: the pool
    is broken by the learner, not by the engine."""
    X, y = _regression()
    ens = _super([("ols", LinearRegression()), ("exits", Exits())], backend,
                 2, raise_on_exception=False, max_fit_time={"exits": 1e6})
    with pytest.raises(WorkerDiedError, match="learner 'exits'") as info:
        ens.fit(X, y)
    del info
    assert_clean(cache_root)


def test_watchdog_kills_only_its_own_workers():
    assert not _is_child(os.getpid())
    assert not _is_child(1)


@pytest.mark.parametrize("value, error, match", [
    (0, ValueError, "positive"),
    (-1.0, ValueError, "positive"),
    (float("inf"), ValueError, "finite"),
    (True, TypeError, "number of seconds"),
    ("5", TypeError, "number of seconds"),
    ({"ols": 0}, ValueError, r"max_fit_time\['ols'\]"),
    ({1: 5}, TypeError, "learner names"),
    ({"nope": 5}, ValueError, r"names no learner \(or preprocessing case\) "
                              r"of the ensemble: \['nope'\]"),
])
def test_max_fit_time_is_checked(value, error, match):
    X, y = _regression()
    ens = _super([("ols", LinearRegression())], max_fit_time=value)
    with pytest.raises(error, match=match):
        ens.fit(X, y)


def test_parameters_reach_every_ensemble():
    for cls in (SuperLearner, BlendEnsemble, Subsemble, SequentialEnsemble):
        ens = cls(raise_on_exception=False, max_fit_time={"ols": 2.0})
        params = clone(ens).get_params(deep=False)
        assert params["raise_on_exception"] is False
        assert params["max_fit_time"] == {"ols": 2.0}


def test_scaled_data_is_not_affected_by_preprocessing_of_others():
    """A preprocessing case shared by a failing and a working learner
    stays: only the failing learner goes."""
    X, y = _regression()
    ens = SuperLearner(folds=3, raise_on_exception=False)
    ens.add({"sc": [("ols", LinearRegression()), ("bad", Faulty("nan"))]},
            preprocessing={"sc": [StandardScaler()]})
    ens.add_meta(LinearRegression())
    ref = SuperLearner(folds=3)
    ref.add({"sc": [("ols", LinearRegression())]},
            preprocessing={"sc": [StandardScaler()]})
    ref.add_meta(LinearRegression())
    _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)


###############################################################################
# Shuffled layers: the rows of a layer that dropped learners

def _stack(make, with_bad, layer_kw=None, **kw):
    """Two layers and a meta learner; ``with_bad`` adds a failing learner
    to both layers."""
    layer_kw = layer_kw or {}
    ens = make(**kw)
    bad = [("bad", Faulty("nan"))] if with_bad else []
    ens.add([("ols", LinearRegression())] + bad + [("ridge", Ridge())],
            **layer_kw)
    ens.add([("r2", Ridge(alpha=3.0))] + bad, **layer_kw)
    ens.add_meta(LinearRegression())
    return ens


SHUFFLED = {
    "superlearner": (lambda **kw: SuperLearner(
        folds=3, shuffle=True, random_state=2, **kw), None),
    "blend": (lambda **kw: BlendEnsemble(
        test_size=0.4, shuffle=True, random_state=2, **kw), None),
    "subsemble": (lambda **kw: Subsemble(
        partitions=2, folds=2, shuffle=True, random_state=2, **kw), None),
    "repeated": (lambda **kw: SuperLearner(
        folds=3, n_repeats=2, shuffle=True, random_state=2, **kw), None),
    "per-layer": (lambda **kw: SuperLearner(folds=3, random_state=2, **kw),
                  {"shuffle": True, "random_state": 5}),
}


@pytest.mark.parametrize("backend, n_jobs", BACKENDS[:3],
                         ids=BACKEND_IDS[:3])
@pytest.mark.parametrize("kind", sorted(SHUFFLED))
def test_shuffled_layer_that_dropped_learners_keeps_the_row_order(
        backend, n_jobs, kind):
    """The output of a shuffled layer comes back in the caller's row order;
    the task that takes the dropped learners' columns out must do the
    same (it sees the rows in the order the layer worked in)."""
    make, layer_kw = SHUFFLED[kind]
    X, y = _regression()
    ens = _stack(make, True, layer_kw, raise_on_exception=False,
                 backend=backend, n_jobs=n_jobs)
    ref = _stack(make, False, layer_kw, backend=backend, n_jobs=n_jobs)
    assert len(_fit_warned(ens, X, y)) == 2
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LearnerFailedWarning)
        np.testing.assert_array_equal(ens.fit_transform(X, y),
                                      ref.fit_transform(X, y))


###############################################################################
# The fit store (memory=) with failures tolerated and time budgets

class LoggedRidge(RegressorMixin, BaseEstimator):
    """Ridge that notes each of its fits in the file ``log`` (a fit store
    keys the code of a fit with the values it reads: a count kept in a
    module's global would change the key)."""

    def __init__(self, log=None):
        self.log = log

    def fit(self, X, y):
        with open(self.log, "a") as f:
            f.write("%d\n" % X.shape[0])
        self.model_ = Ridge().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _fits(log):
    """How many fits the learners logging to ``log`` ran, and forget them."""
    if not os.path.exists(log):
        return 0
    with open(log) as f:
        n = len(f.read().split())
    os.unlink(log)
    return n


def _stored(store, log, **kw):
    # sequential: every fit runs in this thread, under the same native
    # thread limits, which are part of a stored fit's key
    ens = SuperLearner(folds=3, memory=store, backend="sequential", **kw)
    ens.add({"sc": [("ridge", LoggedRidge(log))],
             "no": [("ols", LinearRegression())]},
            preprocessing={"sc": [StandardScaler()], "no": []})
    ens.add_meta(LinearRegression())
    return ens


def _keys(store):
    from mlcore.fitstore import FitStore
    return sorted(e.key for e in FitStore(store).entries())


@pytest.mark.parametrize("options", [
    {"raise_on_exception": False},
    {"max_fit_time": 1e6},
    {"raise_on_exception": False, "max_fit_time": {"ridge": 1e6, "sc": 1e6}},
], ids=["tolerant", "budget", "both"])
def test_fit_store_stores_and_reads_back_the_same_fits(tmp_path, options):
    X, y = _regression()
    plain, guarded = str(tmp_path / "plain"), str(tmp_path / "guarded")
    log = str(tmp_path / "fits.log")
    ref = _stored(plain, log).fit(X, y)
    ens = _stored(guarded, log, **options).fit(X, y)
    assert _fits(log) == 8  # 4 fits of each
    assert _keys(guarded) == _keys(plain) != []
    np.testing.assert_array_equal(ens.predict(X), ref.predict(X))
    # read back: by the guarded fit from either store, nothing refitted
    for store in (guarded, plain):
        again = _stored(store, log, **options).fit(X, y)
        assert _fits(log) == 0
        np.testing.assert_array_equal(again.predict(X), ref.predict(X))
        assert_same_fit(again, ref, X)


def test_failed_fits_are_never_stored(tmp_path, monkeypatch):
    from collections import Counter
    from mlcore.fitstore import FitStore
    monkeypatch.setattr(_scheduler, "clock", thread_clock)
    X, y = _regression()
    store = str(tmp_path / "store")
    learners = [("ols", LinearRegression()), ("bad", Faulty("raise", 40)),
                ("slow", Slow()), ("full", Faulty("nan", 60))]
    # sequential: each learner's full fit runs first, then its folds; once
    # one of its fits failed, the others are not started
    ens = _super(learners, "sequential", 1, raise_on_exception=False,
                 max_fit_time={"slow": 5}, memory=store)
    _fit_warned(ens, X, y)
    assert sorted(ens.failed_learners_) == ["layer-1/bad", "layer-1/full",
                                            "layer-1/slow"]
    stored = Counter(e.name for e in FitStore(store).entries())
    # 'ols': its 4 fits; 'bad': its full fit, not its failed first fold;
    # 'slow': not its full fit, over budget; 'full': not its full fit,
    # whose predictions are not finite
    assert (stored["ols"], stored["bad"], stored["slow"],
            stored["full"]) == (4, 1, 0, 0)


def test_a_full_fit_read_back_is_checked_too(tmp_path):
    """A fit stored without the check (failures raised) is checked when a
    fit that tolerates failures reads it back."""
    X, y = _regression()
    store = str(tmp_path / "store")
    learners = [("ols", LinearRegression()), ("full", Faulty("nan", 60))]
    _super(learners, memory=store).fit(X, y)  # the full fit predicts NaN
    assert len(_keys(store)) == 12  # 4 fits of 2 learners and the meta
    ens = _super(learners, raise_on_exception=False, memory=store)
    assert len(_fit_warned(ens, X, y)) == 1
    assert "learner 'full' failed on partition 0, full fit during the " \
           "check of its predictions" in ens.failed_learners_["layer-1/full"]
    ref = _super([("ols", LinearRegression())])
    assert_same_fit(ens, ref.fit(X, y), X)


###############################################################################
# Learners that cannot be pickled on process backends

class LockHolder(Ridge):
    """Ridge whose fitted state holds a lock, which does not pickle."""

    def fit(self, X, y, sample_weight=None):
        self.lock_ = threading.Lock()
        return super().fit(X, y, sample_weight=sample_weight)


class NoPickle(RegressorMixin, BaseEstimator):
    """An estimator that refuses to be pickled at all."""

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.mean_)

    def __reduce__(self):
        raise TypeError("NoPickle cannot be pickled")


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
@pytest.mark.parametrize("bad, cause", [
    (LockHolder(), r"saving of its fitted state.*TypeError: cannot pickle "
                   r"'_thread.lock' object"),
    (NoPickle(), r"cannot be sent to the process workers.*TypeError: "
                 r"NoPickle cannot be pickled"),
], ids=["fitted-state", "estimator"])
def test_a_learner_that_cannot_be_pickled(cache_root, backend, bad, cause):
    X, y = _regression()
    ens = _super([("ols", LinearRegression()), ("bad", bad),
                  ("ridge", Ridge())], backend, 2, raise_on_exception=False)
    ref = _super([("ols", LinearRegression()), ("ridge", Ridge())], backend,
                 2)
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)
    assert len(caught) == 1
    where = r"learner 'bad'.*partition 0, (fold \d|full fit).*"
    assert re.search(where + cause, ens.failed_learners_["layer-1/bad"])
    with pytest.raises(LearnerError, match=where + cause):
        _super([("ols", LinearRegression()), ("bad", bad)], backend,
               2).fit(X, y)
    assert_clean(cache_root)


###############################################################################
# Time budgets on process backends: one worker, child processes,
# preprocessing

class BlockedFor(RegressorMixin, BaseEstimator):
    """Notes its process id in ``pidfile`` and waits ``seconds`` (long past
    any budget of the tests' ticking clock) before it returns."""

    def __init__(self, pidfile=None, seconds=30.0):
        self.pidfile, self.seconds = pidfile, seconds

    def fit(self, X, y):
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % os.getpid())
        threading.Event().wait(self.seconds)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.mean_)


def _ticking(monkeypatch):
    """Every reading of the clock is one second later."""
    ticks = itertools.count()
    monkeypatch.setattr(_scheduler, "clock", lambda: float(next(ticks)))


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_budget_with_one_job_stops_a_worker_process(cache_root, monkeypatch,
                                                    tmp_path, backend):
    """With n_jobs=1 joblib would run the fits in this process, where a
    running fit cannot be stopped: under a budget they run in a worker."""
    _ticking(monkeypatch)
    pidfile = str(tmp_path / "pids")
    X, y = _regression()
    ens = _super([("ols", LinearRegression()), ("blocked",
                                                BlockedFor(pidfile))],
                 backend, 1, raise_on_exception=False,
                 max_fit_time={"blocked": 3})
    ref = _super([("ols", LinearRegression())], backend, 1)
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)
    assert len(caught) == 1
    assert re.fullmatch(
        r"learner 'blocked' ran over the time budget of 3 s on partition 0, "
        r"(fold \d|full fit) \(its worker process was stopped\)",
        ens.failed_learners_["layer-1/blocked"])
    pids = [int(line) for line in open(pidfile)]
    assert os.getpid() not in pids
    assert _none_alive(pidfile)
    assert_clean(cache_root)


class Spawner(RegressorMixin, BaseEstimator):
    """Starts a child process that would run for minutes, notes its own
    process id and the child's in ``pidfile``, and never returns."""

    def __init__(self, pidfile=None):
        self.pidfile = pidfile

    def fit(self, X, y):
        import subprocess
        import sys
        child = subprocess.Popen([sys.executable, "-c",
                                  "import time; time.sleep(600)"])
        with open(self.pidfile, "a") as f:
            f.write("%d\n%d\n" % (os.getpid(), child.pid))
        threading.Event().wait()


def _kill_leftovers(pidfile):
    """End the processes of ``pidfile`` that the test's learner started
    and that are still running (only when the test failed)."""
    if not os.path.exists(pidfile):
        return
    for line in open(pidfile):
        try:
            psutil.Process(int(line)).kill()
        except psutil.Error:
            pass


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_stopping_a_worker_stops_the_processes_its_fit_started(
        cache_root, monkeypatch, tmp_path, backend):
    _ticking(monkeypatch)
    pidfile = str(tmp_path / "pids")
    X, y = _regression()
    ens = _super([("ols", LinearRegression()), ("spawner", Spawner(pidfile))],
                 backend, 2, raise_on_exception=False,
                 max_fit_time={"spawner": 3})
    try:
        _fit_warned(ens, X, y)
        assert list(ens.failed_learners_) == ["layer-1/spawner"]
        # the workers and their children: none left running
        assert _none_alive(pidfile)
    finally:
        _kill_leftovers(pidfile)
    assert_clean(cache_root)


class SlowScaler(TransformerMixin, BaseEstimator):
    """A preprocessing fit that takes 100 s on :func:`thread_clock`."""

    def fit(self, X, y=None):
        _THREAD.t = thread_clock() + 100.0
        return self

    def transform(self, X):
        return X


class BlockedScaler(TransformerMixin, BaseEstimator):
    """A preprocessing fit that notes its process and waits ``seconds``
    (long past any budget of the tests' ticking clock)."""

    def __init__(self, pidfile=None, seconds=30.0):
        self.pidfile, self.seconds = pidfile, seconds

    def fit(self, X, y=None):
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % os.getpid())
        threading.Event().wait(self.seconds)
        return self

    def transform(self, X):
        return X


def _with_case(step, budget=None, **kw):
    ens = SuperLearner(folds=3, max_fit_time=budget, **kw)
    ens.add({"slow": [("ols", LinearRegression()), ("r", Ridge())],
             "no": [("ridge", Ridge())]},
            preprocessing={"slow": [step], "no": []})
    ens.add_meta(LinearRegression())
    return ens


@pytest.mark.parametrize("budget", [5, {"slow": 5}], ids=["all", "by-case"])
def test_budget_covers_preprocessing_in_threads(monkeypatch, budget):
    monkeypatch.setattr(_scheduler, "clock", thread_clock)
    X, y = _regression()
    ens = _with_case(SlowScaler(), budget, raise_on_exception=False)
    ref = _case_free_reference()
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert sorted(ens.failed_learners_) == ["layer-1/slow__ols",
                                            "layer-1/slow__r"]
    for reason in ens.failed_learners_.values():
        assert re.fullmatch(r"preprocessing case 'slow' ran over the time "
                            r"budget of 5 s on partition 0, (fold \d|full "
                            r"fit) \(took 100 s\)", reason)
    assert len(caught) == 1
    assert "Its learners 'slow__ols', 'slow__r' are dropped" in \
        str(caught[0].message)
    np.testing.assert_array_equal(ens.predict(X), ref.predict(X))
    for name in ref.oof_predictions_:
        np.testing.assert_array_equal(ens.oof_predictions_[name],
                                      ref.oof_predictions_[name])
    with pytest.raises(LearnerTimeoutError,
                       match="preprocessing case 'slow' ran over"):
        _with_case(SlowScaler(), budget).fit(X, y)


def test_budget_stops_a_preprocessing_fit_on_a_worker(cache_root,
                                                      monkeypatch, tmp_path):
    _ticking(monkeypatch)
    pidfile = str(tmp_path / "pids")
    X, y = _regression()
    ens = _with_case(BlockedScaler(pidfile), {"slow": 3},
                     raise_on_exception=False, backend="loky", n_jobs=2)
    _fit_warned(ens, X, y)
    assert sorted(ens.failed_learners_) == ["layer-1/slow__ols",
                                            "layer-1/slow__r"]
    assert re.search(r"\(its worker process was stopped\)$",
                     ens.failed_learners_["layer-1/slow__ols"])
    assert _none_alive(pidfile)
    assert_clean(cache_root)


###############################################################################
# Full fits that predict badly; messages

@pytest.mark.parametrize("backend, n_jobs", [("threading", 2), ("loky", 2)])
@pytest.mark.parametrize("how, cause", [
    ("shape", "output of shape (17,) for 16 rows"),
    ("nan", "16 non-finite value(s)"),
    ("predict", "KeyError: 'no predictions from 60 rows'"),
])
def test_a_full_fit_that_cannot_predict_is_dropped_at_fit(
        cache_root, backend, n_jobs, how, cause):
    """A full fit predicts nothing at fit time: its output is checked on
    training rows, so the learner is dropped at fit, not left to fail at
    predict time."""
    X, y = _regression()
    # fails on the full fit (60 rows) only
    ens = _super([("ols", LinearRegression()), ("bad", Faulty(how, 60))],
                 backend, n_jobs, raise_on_exception=False)
    ref = _super([("ols", LinearRegression())], backend, n_jobs)
    caught = _fit_warned(ens, X, y)
    ref.fit(X, y)
    assert_same_fit(ens, ref, X)
    reason = ens.failed_learners_["layer-1/bad"]
    assert reason.startswith("learner 'bad' failed on partition 0, full fit "
                             "during the check of its predictions (16 "
                             "training rows): ")
    assert cause in reason
    assert len(caught) == 1 and reason in str(caught[0].message)
    # the warning points at the user's call, not at mlcore's code
    assert os.path.abspath(caught[0].filename) == os.path.abspath(__file__)
    assert "layer-1/bad: %s" % reason in str(ens.data_table())
    assert_clean(cache_root)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_warnings_of_an_ensemble_fitted_in_an_evaluator_reach_the_caller(
        monkeypatch, backend):
    """Issued in a worker process, or in a worker thread (whose stack does
    not hold the user's call), they are issued again in the caller's
    thread, pointing at the user's call."""
    from mlcore.model_selection import Evaluator
    # threads: the first subtask runs in this thread (the input is tiny),
    # and the clock sends the other one to a worker thread
    _ticking(monkeypatch)
    X, y = _regression()
    ens = _super([("ols", LinearRegression()), ("bad", Faulty("nan"))],
                 "sequential", 1, raise_on_exception=False)
    ev = Evaluator("r2", cv=2, random_state=0, backend=backend, n_jobs=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev.fit(X, y, [("ens", ens)], n_iter=1)
    failed = [w for w in caught
              if issubclass(w.category, LearnerFailedWarning)]
    # one per outer fold (the ensemble is fitted on each)
    assert len(failed) == 2
    for w in failed:
        assert "learner 'bad'" in str(w.message)
        assert os.path.abspath(w.filename) == os.path.abspath(__file__)
