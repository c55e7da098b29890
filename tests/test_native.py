"""Seeded liblinear/libsvm fits side by side on thread workers.

scikit-learn's liblinear and libsvm modules draw from one random generator
per process; mlcore's thread workers fit them on private copies of the
modules (mlcore._native). The reference is scikit-learn's own
``cross_val_predict``: the out-of-fold predictions must be exactly equal,
with the fits overlapping (each waits at a barrier for another one to be
inside its fit too), and the copies must really be in use.
"""
import os
import threading
import warnings

import numpy as np
import pytest
import sklearn.svm
import sklearn.svm._base as svm_base
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.svm import SVC, LinearSVC, LinearSVR

from mlcore import _native, _scheduler, config
from mlcore.ensemble import SuperLearner
from mlcore.exceptions import LearnerError

def _copies_available():
    # copies are opt-in: ask with them switched on
    enabled, _native.enabled = _native.enabled, True
    try:
        return _native.available("liblinear")
    finally:
        _native.enabled = enabled


pytestmark = pytest.mark.skipif(
    not _copies_available(),
    reason="no private copies of native modules here: %s"
    % _native._UNAVAILABLE.get("liblinear"))

# The barrier's timeout only ends a test that would otherwise hang.
WAIT = 30
FOLDS = 4


class _Together(BaseEstimator):
    """Fits ``estimator`` once another fit of the test is inside its fit
    too, and records the file of the liblinear/libsvm module its thread
    sees."""

    barrier = None
    modules = []

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        cls = type(self)
        cls.modules.append((svm_base.liblinear.__file__,
                            svm_base.libsvm.__file__))
        if cls.barrier is not None:
            try:
                cls.barrier.wait(WAIT)
            except threading.BrokenBarrierError:
                pass
        self.estimator_ = clone(self.estimator).fit(X, y)
        for name in ("classes_",):
            if hasattr(self.estimator_, name):
                setattr(self, name, getattr(self.estimator_, name))
        return self

    def predict(self, X):
        return self.estimator_.predict(X)


class TogetherRegressor(RegressorMixin, _Together):
    pass


class TogetherClassifier(ClassifierMixin, _Together):
    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


@pytest.fixture(autouse=True)
def copies_on(monkeypatch):
    # copies are opt-in (mlcore._native.enabled); these tests switch them on
    monkeypatch.setattr(_native, "enabled", True)


@pytest.fixture
def together(monkeypatch):
    """Fits meet in pairs; the inline path is off (every fit goes to the
    two workers), so the fits of a layer overlap two by two."""
    monkeypatch.setattr(_scheduler, "_INLINE_BYTES", -1)
    monkeypatch.setattr(_Together, "barrier", threading.Barrier(2))
    monkeypatch.setattr(_Together, "modules", [])
    return _Together


def _fit(estimators, X, y, proba=False):
    ens = SuperLearner(folds=KFold(FOLDS), n_jobs=2, backend="threading")
    ens.add(estimators, proba=proba)
    ens.add_meta(Ridge() if not proba else LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear's convergence warnings
        ens.fit(X, y)
    return ens


def _reference(estimators, X, y, method="predict"):
    _Together.barrier = None  # scikit-learn fits one at a time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.column_stack([
            np.asarray(cross_val_predict(est, X, y, cv=KFold(FOLDS),
                                         method=method)).reshape(len(y), -1)
            for _, est in estimators])


# Solvers stopped before they converge (max_iter), so that the order of
# their random draws shows in the results.
_HARD = dict(n_samples=2000, n_features=30, flip_y=0.2, class_sep=0.5,
             random_state=0)
CASES = {
    "LinearSVR": (make_regression, dict(n_samples=2000, n_features=40,
                                        noise=5.0, random_state=0),
                  lambda s: LinearSVR(C=10.0, tol=1e-8, max_iter=300,
                                      random_state=s), False),
    "LinearSVC": (make_classification, _HARD,
                  lambda s: LinearSVC(loss="hinge", C=100.0, tol=1e-10,
                                      max_iter=200, random_state=s), False),
    # probabilities: the labels hide differences in the coefficients
    "LogisticRegression-l1": (
        make_classification, _HARD,
        lambda s: LogisticRegression(solver="liblinear", penalty="l1",
                                     C=10.0, tol=1e-8, max_iter=20,
                                     random_state=s), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_seeded_liblinear_layers_equal_cross_val_predict(together, case):
    make, kwargs, est, proba = CASES[case]
    X, y = make(**kwargs)
    wrap = TogetherRegressor if make is make_regression else \
        TogetherClassifier
    estimators = [("a", wrap(est(0))), ("b", wrap(est(1)))]
    ens = _fit(estimators, X, y, proba=proba)
    modules = list(together.modules)
    np.testing.assert_array_equal(
        ens.oof_predictions_["layer-1"],
        _reference(estimators, X, y,
                   method="predict_proba" if proba else "predict"))
    # 2 learners x (4 folds + full fit), on private copies of liblinear
    assert len(modules) == 2 * (FOLDS + 1)
    seen = {m for m, _ in modules}
    assert sklearn.svm._liblinear.__file__ not in seen and len(seen) == 2
    # the original module is back where scikit-learn keeps it
    assert svm_base.liblinear is sklearn.svm._liblinear


def test_seeded_libsvm_probabilities_equal_cross_val_predict(together):
    X, y = make_classification(300, 8, random_state=0)
    estimators = [("a", TogetherClassifier(SVC(probability=True,
                                               random_state=0))),
                  ("b", TogetherClassifier(SVC(probability=True, C=3.0,
                                               random_state=1)))]
    ens = _fit(estimators, X, y, proba=True)
    modules = list(together.modules)
    np.testing.assert_array_equal(
        ens.oof_predictions_["layer-1"],
        _reference(estimators, X, y, method="predict_proba"))
    assert len(modules) == 2 * (FOLDS + 1)
    seen = {m for _, m in modules}
    assert sklearn.svm._libsvm.__file__ not in seen and len(seen) == 2
    assert svm_base.libsvm is sklearn.svm._libsvm


class FailsOnFold(RegressorMixin, BaseEstimator):
    """LinearSVR (seeded: a liblinear fit) that fails when fitted on
    ``rows`` training rows."""

    def __init__(self, estimator=None, rows=0):
        self.estimator, self.rows = estimator, rows

    def fit(self, X, y):
        if X.shape[0] == self.rows:
            raise ArithmeticError("no fit on %d rows" % self.rows)
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def predict(self, X):
        return self.estimator_.predict(X)


def test_failure_on_a_private_copy_names_learner_and_fold(monkeypatch,
                                                          tmp_path):
    monkeypatch.setattr(_scheduler, "_INLINE_BYTES", -1)
    # fresh copies, made in an empty folder of this test
    monkeypatch.setattr(_native, "_FREE", {})
    monkeypatch.setattr(_native, "_MADE", {})
    # KFold(4) on 403 rows: folds of 101, 101, 101 and 100 test rows, so
    # only fold 4 trains on 303 rows
    X, y = make_regression(403, 10, random_state=0)
    bad = FailsOnFold(LinearSVR(random_state=0, max_iter=50), rows=303)
    assert _scheduler.exclusive_key(bad) == "liblinear"
    ens = SuperLearner(folds=KFold(FOLDS), n_jobs=2, backend="threading")
    ens.add([("ok", LinearSVR(random_state=0, max_iter=50)), ("bad", bad)])
    ens.add_meta(Ridge())
    before = set(threading.enumerate())
    with config.config_context(tmpdir=str(tmp_path)), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LearnerError, match=r"learner 'bad' failed on "
                           r"partition 0, fold 4 during fit: "
                           r"ArithmeticError: no fit on 303 rows") as info:
            ens.fit(X, y)
    assert isinstance(info.value.__cause__, ArithmeticError)
    assert _native._MADE["liblinear"] == 2  # one set per worker, made here
    assert os.listdir(tmp_path) == []  # and their folder removed
    assert _native._BOUND[0] == 0
    assert svm_base.liblinear is sklearn.svm._liblinear
    # no thread of the fit outlives it but the persistent pool's workers
    assert {t for t in set(threading.enumerate()) - before
            if not t.name.startswith("mlcore-worker")} == set()


def _module_seen_together(barrier):
    """A job that waits for another to be running too, then reports the
    liblinear module file its thread sees."""
    barrier.wait(WAIT)  # BrokenBarrierError: the jobs did not overlap
    return svm_base.liblinear.__file__


def test_joblib_s_verbose_threads_use_copies_too():
    # a verbose engine runs the jobs on joblib's own threading Parallel
    from joblib import Parallel
    barrier = threading.Barrier(2)
    jobs = [(_module_seen_together, (barrier,), {})] * 2
    with Parallel(n_jobs=2, backend="threading") as parallel:
        files = _scheduler.run_jobs(jobs, workers=2, parallel=parallel,
                                    keys=["liblinear"] * 2, verbose=1)
    assert len(set(files)) == 2
    assert sklearn.svm._liblinear.__file__ not in files


def test_without_copies_the_key_stays_exclusive(monkeypatch):
    # the scheduler then keeps such jobs apart (see test_scheduling), and
    # they run on the original module
    monkeypatch.setattr(_native, "enabled", False)
    assert _scheduler._shareable(["liblinear", None], 2) == set()
    jobs = [(lambda: svm_base.liblinear.__file__, (), {})] * 2
    assert _scheduler.run_jobs(jobs, workers=2, keys=["liblinear"] * 2) == [
        sklearn.svm._liblinear.__file__] * 2


def test_copies_are_not_made_for_unknown_resources():
    assert not _native.available("no-such-resource")
    assert _scheduler._shareable(["k", None, "liblinear"], 2) == {
        "liblinear"}


def test_ensembles_nested_in_thread_workers_fit_on_copies(monkeypatch):
    # the outer ensemble's workers each fit an inner ensemble, whose
    # LinearSVR fits run in that worker thread: on copies of their own
    monkeypatch.setattr(_scheduler, "_INLINE_BYTES", -1)
    X, y = make_regression(2000, 40, noise=5.0, random_state=0)

    def make(n_jobs):
        inner = SuperLearner(folds=KFold(3), n_jobs=n_jobs,
                             backend="threading")
        inner.add([("svr", CASES["LinearSVR"][2](0))])
        inner.add_meta(Ridge())
        outer = SuperLearner(folds=KFold(FOLDS), n_jobs=n_jobs,
                             backend="threading")
        outer.add([("inner", inner)])
        outer.add_meta(Ridge())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return outer.fit(X, y).oof_predictions_["layer-1"]

    np.testing.assert_array_equal(make(2), make(1))


def test_when_copies_cannot_be_loaded_fits_run_one_at_a_time(monkeypatch,
                                                             tmp_path):
    # e.g. a temporary folder mounted noexec: loading a copy fails
    def refuse(module, folder):
        raise OSError("failed to map segment from shared object")

    monkeypatch.setattr(_native, "_load_copy", refuse)
    for name in ("_FREE", "_MADE", "_UNAVAILABLE"):
        monkeypatch.setattr(_native, name, {})
    monkeypatch.setattr(_scheduler, "_INLINE_BYTES", -1)
    make, kwargs, est, _ = CASES["LinearSVR"]
    X, y = make(**kwargs)
    estimators = [("a", est(0)), ("b", est(1))]
    with config.config_context(tmpdir=str(tmp_path)):
        ens = _fit(estimators, X, y)
    assert "failed to map segment" in _native._UNAVAILABLE["liblinear"]
    assert _scheduler._shareable(["liblinear"], 2) == set()  # exclusive
    assert os.listdir(tmp_path) == []
    np.testing.assert_array_equal(ens.oof_predictions_["layer-1"],
                                  _reference(estimators, X, y))
