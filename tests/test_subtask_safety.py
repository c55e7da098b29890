"""What a learner's subtask may and may not do to the ensemble around it.

A learner's output is checked before it is written into the layer's output
(shape, finite values, range of the output's dtype), on every backend; a
learner cannot change the caller's data or what the next learner sees; a
refit never leaves a served model unusable; and the caller's scikit-learn
configuration and warning filters reach every fit.
"""
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict

from mlcore import _scheduler
from mlcore.ensemble import SuperLearner
from mlcore.exceptions import (LayerSpecificationError, LearnerError,
                               LearnerValueError)

BACKENDS = ["sequential", "threading", "loky"]
WAIT = 30  # seconds; only a broken implementation ever waits this long


@pytest.fixture
def workers(monkeypatch):
    """Thread backends run every subtask on their worker threads."""
    monkeypatch.setattr(_scheduler, "_INLINE_BYTES", -1)


def _clf(n=60):
    return make_classification(n, 5, n_informative=3, random_state=0)


def _reg(n=60):
    X, y = make_regression(n, 4, random_state=0)
    return X, y


###############################################################################
# Learner output

class ExtraColumn(ClassifierMixin, BaseEstimator):
    """A classifier whose predict_proba returns one column too many."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((X.shape[0], len(self.classes_) + 1), 7.0)

    def predict(self, X):
        return self.classes_[np.zeros(X.shape[0], dtype=int)]


class Output(RegressorMixin, BaseEstimator):
    """A regressor whose predict returns ``kind`` of output."""

    def __init__(self, kind="ok"):
        self.kind = kind

    def fit(self, X, y):
        self.model_ = LinearRegression().fit(X, y)
        return self

    def predict(self, X):
        p = self.model_.predict(X)
        if self.kind == "nan":
            p[1] = np.nan
        elif self.kind == "inf":
            p[0] = np.inf
        elif self.kind == "rows":
            p = p[:-1]
        elif self.kind == "double":
            p = np.concatenate([p, p])
        elif self.kind == "huge":
            p = p * 0 + 1e300
        elif self.kind == "list":
            p = p.tolist()
        elif self.kind == "series":
            import pandas as pd
            p = pd.Series(p)
        elif self.kind == "text":
            p = np.array(["a"] * len(p))
        return p


@pytest.mark.parametrize("backend", BACKENDS)
def test_proba_with_an_extra_column_is_refused(backend, workers):
    X, y = _clf()
    ens = SuperLearner(folds=3, backend=backend, n_jobs=2)
    ens.add([("extra", ExtraColumn()), ("lr", LogisticRegression())],
            proba=True)
    with pytest.raises(LearnerValueError,
                       match=r"'extra'.*fold \d.*predict_proba returned an "
                             r"output of shape \(20, 3\)"):
        ens.fit(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind, match", [
    ("nan", r"non-finite value.*nan at row 1"),
    ("inf", r"non-finite value.*inf at row 0"),
    ("rows", r"predict returned an output of shape \(19,\) for 20 rows"),
    ("double", r"shape \(40,\) for 20 rows"),
    ("text", r"dtype <U1"),
])
def test_bad_predictions_are_refused_naming_learner_and_fold(
        backend, kind, match, workers):
    X, y = _reg()
    ens = SuperLearner(folds=3, backend=backend, n_jobs=2)
    ens.add([("ok", Ridge()), ("bad", Output(kind))])
    ens.add_meta(Ridge())
    with pytest.raises(LearnerValueError,
                       match=r"learner 'bad' failed on partition 0, fold \d "
                             r"during predict: .*" + match):
        ens.fit(X, y)


@pytest.mark.parametrize("kind", ["list", "series"])
def test_list_and_pandas_predictions_are_accepted(kind):
    X, y = _reg()
    ens = SuperLearner(folds=3).add([("out", Output(kind))])
    ens.fit(X, y)
    ref = cross_val_predict(LinearRegression(), X, y, cv=KFold(3))
    np.testing.assert_allclose(ens.oof_predictions_["layer-1"][:, 0], ref,
                               rtol=1e-12, atol=1e-9)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_prediction_beyond_float32_is_refused():
    X, y = _reg()
    ens = SuperLearner(folds=3).add([("huge", Output("huge"))],
                                    dtype=np.float32)
    with pytest.raises(LearnerValueError, match="'huge'.*beyond the largest "
                                                "float32 value"):
        ens.fit(X, y)
    # float64 holds it
    SuperLearner(folds=3).add([("huge", Output("huge"))]).fit(X, y)


def test_predict_time_output_is_checked_too():
    X, y = _reg()
    ens = SuperLearner(folds=3).add([("out", Output())]).add_meta(Ridge())
    ens.fit(X, y)
    ens.layers_[0].estimators_[("out", 0, 0)].kind = "nan"
    with pytest.raises(LearnerValueError, match="'out'.*during predict.*"
                                                "non-finite"):
        ens.predict(X)


class Invents(ClassifierMixin, BaseEstimator):
    """A classifier that predicts a label it was never shown."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(X.shape[0], 99)


def test_predicted_label_outside_the_classes_is_refused():
    X, y = _clf()
    ens = SuperLearner(folds=3).add([("inv", Invents())]).add_meta(
        LogisticRegression())
    with pytest.raises(LearnerValueError, match=r"'inv'.*label\(s\) \[99\]"):
        ens.fit(X, y)


class NanMeta(RegressorMixin, BaseEstimator):
    """A meta regressor (of class positions) that predicts NaN."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.full(X.shape[0], np.nan)


def test_nan_from_the_meta_learner_is_not_decoded_as_a_class():
    from mlcore.ensemble import _positions_to_labels
    X, y = _clf()
    ens = SuperLearner(folds=3).add([LogisticRegression()]).add_meta(
        LogisticRegression())
    ens.fit(X, y)
    ens.layers_[-1].estimators_ = {
        k: NanMeta() for k in ens.layers_[-1].estimators_}
    with pytest.raises(LearnerValueError, match="non-finite"):
        ens.predict(X)
    # the decoding itself refuses what is no class position
    with pytest.raises(ValueError, match="non-finite"):
        _positions_to_labels(np.array([0.0, np.nan]), np.array([3, 5]))
    np.testing.assert_array_equal(
        _positions_to_labels(np.array([-4.0, 0.4, 0.6, 1e300]),
                             np.array([3, 5])), [3, 3, 5, 5])


###############################################################################
# Learners cannot change the caller's data

class Vandal(RegressorMixin, BaseEstimator):
    """Writes into X and y (the way a careless transformer with copy=False
    would), then fits a LinearRegression; records whether it could."""

    def fit(self, X, y):
        try:
            X[:] = 0
            y[:] = 0
            self.wrote_ = True
        except ValueError:  # read-only
            self.wrote_ = False
        if sp.issparse(X):
            pass
        self.model_ = LinearRegression().fit(X, y)
        return self

    def predict(self, X):
        try:
            X[:] = 0
        except ValueError:
            pass
        return self.model_.predict(X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_learner_writing_into_its_input_changes_nothing(backend, workers):
    X, y = _reg()
    X0, y0 = X.copy(), y.copy()
    ens = SuperLearner(folds=3, backend=backend, n_jobs=2)
    ens.add([("vandal", Vandal()), ("lr", LinearRegression())])
    ens.add_meta(LinearRegression())
    ens.fit(X, y)
    p = ens.predict(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    # the full fit gets the caller's rows themselves: read-only (fold fits
    # may get their own copies of the training rows)
    assert [e.wrote_ for (name, _, fold), e in
            ens.layers_[0].estimators_.items() if name == "vandal"
            and fold == 0] == [False]
    # the other learner saw the caller's data: its out-of-fold predictions
    # are scikit-learn's
    ref = cross_val_predict(LinearRegression(), X0, y0, cv=KFold(3))
    # (columns by learner name: lr, vandal)
    np.testing.assert_allclose(ens.oof_predictions_["layer-1"][:, 0], ref,
                               rtol=1e-10, atol=1e-8)
    # and every backend gives the same results
    seq = SuperLearner(folds=3, backend="sequential")
    seq.add([("vandal", Vandal()), ("lr", LinearRegression())])
    seq.add_meta(LinearRegression()).fit(X, y)
    np.testing.assert_array_equal(ens.oof_predictions_["layer-1"],
                                  seq.oof_predictions_["layer-1"])
    np.testing.assert_array_equal(p, seq.predict(X))


class SparseVandal(Vandal):
    def fit(self, X, y):
        try:
            X.data[:] = 0
            self.wrote_ = True
        except ValueError:
            self.wrote_ = False
        self.model_ = Ridge().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_sparse_input_reaches_learners_read_only():
    X, y = _reg()
    X[np.abs(X) < 0.5] = 0
    Xs = sp.csr_matrix(X)
    data = Xs.data.copy()
    ens = SuperLearner(folds=3, backend="threading", n_jobs=1)
    ens.add([("v", SparseVandal())], propagate_features=[0])
    ens.fit(Xs, y)
    np.testing.assert_array_equal(Xs.data, data)
    assert not ens.layers_[0].estimators_[("v", 0, 0)].wrote_


def test_read_only_views_are_views():
    from mlcore._subtasks import read_only
    X = np.arange(12.0).reshape(4, 3)
    v = read_only(X)
    assert np.shares_memory(v, X) and not v.flags.writeable
    assert X.flags.writeable
    S = sp.csr_matrix(X)
    R = read_only(S)
    assert all(np.shares_memory(getattr(R, a), getattr(S, a))
               and not getattr(R, a).flags.writeable
               for a in ("data", "indices", "indptr"))
    np.testing.assert_array_equal(R.toarray(), X)


###############################################################################
# Refit while serving

class Gate(RegressorMixin, BaseEstimator):
    """LinearRegression whose fit, while ``Gate.closed`` is set, announces
    itself and waits until the test opens the gate (or raises)."""

    closed = None
    entered = None
    fail = False

    def fit(self, X, y):
        cls = type(self)
        if cls.closed is not None and cls.closed.is_set():
            cls.entered.set()
            assert cls.opened.wait(WAIT)
            if cls.fail:
                raise RuntimeError("refit failed")
        self.model_ = LinearRegression().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _gated(monkeypatch, fail):
    monkeypatch.setattr(Gate, "closed", threading.Event())
    monkeypatch.setattr(Gate, "entered", threading.Event())
    monkeypatch.setattr(Gate, "opened", threading.Event(), raising=False)
    monkeypatch.setattr(Gate, "fail", fail)


@pytest.mark.parametrize("fail", [False, True])
def test_predict_during_a_refit_uses_the_old_model(monkeypatch, fail):
    import pandas as pd
    _gated(monkeypatch, fail)
    X, y = _reg()
    ens = SuperLearner(folds=3, backend="threading", n_jobs=1)
    ens.add([("g", Gate())]).add_meta(Ridge())
    ens.fit(X, y)
    before = ens.predict(X)
    state = {k: getattr(ens, k) for k in ("layers_", "n_features_in_",
                                          "oof_predictions_")}
    # the refit has other columns, names and a different target
    X2 = pd.DataFrame(np.hstack([X, X[:, :1]]),
                      columns=["a", "b", "c", "d", "e"])
    outcome = {}

    def refit():
        try:
            ens.fit(X2, y * 2)
        except Exception as exc:
            outcome["error"] = exc

    Gate.closed.set()
    t = threading.Thread(target=refit, daemon=True)
    t.start()
    try:
        assert Gate.entered.wait(WAIT)
        # the refit is inside a learner's fit: the model still serves
        np.testing.assert_array_equal(ens.predict(X), before)
        np.testing.assert_array_equal(ens.transform(X[:3]).shape, (3, 1))
    finally:
        Gate.opened.set()
        t.join(WAIT)
    assert not t.is_alive()
    Gate.closed.clear()
    if fail:
        assert isinstance(outcome["error"], LearnerError)
        # a failed refit changes nothing
        for k, v in state.items():
            assert getattr(ens, k) is v
        assert not hasattr(ens, "feature_names_in_")
        np.testing.assert_array_equal(ens.predict(X), before)
    else:
        assert "error" not in outcome
        assert ens.n_features_in_ == 5
        assert list(ens.feature_names_in_) == ["a", "b", "c", "d", "e"]
        ref = SuperLearner(folds=3).add([("g", Gate())]).add_meta(
            Ridge()).fit(X2, y * 2)
        np.testing.assert_allclose(ens.predict(X2), ref.predict(X2),
                                   rtol=1e-10)


def test_failed_refit_keeps_classes():
    X, y = _clf()
    ens = SuperLearner(folds=3).add([LogisticRegression()]).add_meta(
        LogisticRegression()).fit(X, y)
    classes, before = ens.classes_, ens.predict(X)
    with pytest.raises(ValueError):
        ens.fit(X, np.zeros_like(y))  # one class: refused
    assert ens.classes_ is classes
    np.testing.assert_array_equal(ens.predict(X), before)


def test_predict_from_many_threads_at_once(workers):
    X, y = _clf(200)
    ens = SuperLearner(folds=3, backend="threading", n_jobs=2)
    ens.add([LogisticRegression(), ("lr2", LogisticRegression(C=0.1))],
            proba=True).add_meta(LogisticRegression())
    ens.fit(X, y)
    ref_p, ref_l = ens.predict_proba(X), ens.predict(X)
    out, start = [], threading.Barrier(6)

    def serve():
        start.wait(WAIT)
        out.append((ens.predict_proba(X), ens.predict(X)))

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert len(out) == 6
    for p, lab in out:
        np.testing.assert_array_equal(p, ref_p)
        np.testing.assert_array_equal(lab, ref_l)


###############################################################################
# The caller's scikit-learn configuration and warning filters

class Config(RegressorMixin, BaseEstimator):
    """Records the scikit-learn configuration and warning filters that its
    fit ran under."""

    def fit(self, X, y):
        self.assume_finite_ = sklearn.get_config()["assume_finite"]
        self.filtered_ = any(
            f[0] == "ignore" and f[1] is not None
            and f[1].pattern == "mlcore-marker" for f in warnings.filters)
        self.model_ = LinearRegression().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sklearn_config_and_warning_filters_reach_every_fit(backend,
                                                            workers):
    X, y = _reg()
    ens = SuperLearner(folds=3, backend=backend, n_jobs=2)
    ens.add([("c", Config()), ("d", Config())])
    with sklearn.config_context(assume_finite=True), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="mlcore-marker")
        ens.fit(X, y)
        filters = list(warnings.filters)
        assert not sklearn.get_config()["assume_finite"] is False
    fits = list(ens.layers_[0].estimators_.values())
    assert len(fits) == 8
    assert all(e.assume_finite_ is True for e in fits)
    assert all(e.filtered_ for e in fits)
    # the caller's own filters are as it left them
    assert filters[0][1].pattern == "mlcore-marker"
    assert sklearn.get_config()["assume_finite"] is False


def test_evaluator_fits_see_the_sklearn_config(workers):
    from mlcore.model_selection import Evaluator

    seen = []

    class Probe(Config):
        def fit(self, X, y):
            seen.append(sklearn.get_config()["assume_finite"])
            return super().fit(X, y)

    X, y = _reg()
    ev = Evaluator(lambda a, b: float(np.mean((a - b) ** 2)), cv=3,
                   backend="threading", n_jobs=2)
    with sklearn.config_context(assume_finite=True):
        ev.fit(X, y, [("p", Probe())])
    assert len(seen) == 3 and all(seen)


###############################################################################
# The output's dtype and propagated features

def test_propagated_features_beyond_float32_are_refused_up_front():
    from sklearn.dummy import DummyRegressor
    X, y = _reg()
    X[3, 1] = 1e300
    ens = SuperLearner(folds=3).add([DummyRegressor()],
                                    propagate_features=[1], dtype=np.float32)
    with pytest.raises(LayerSpecificationError, match="1e\\+300.*float32"):
        ens.fit(X, y)
    # an unpropagated column does not matter; float64 holds it
    P = SuperLearner(folds=3).add([DummyRegressor()], propagate_features=[0],
                                  dtype=np.float32).fit_transform(X, y)
    np.testing.assert_array_equal(P[:, 0], X[:, 0].astype(np.float32))
    P = SuperLearner(folds=3).add([DummyRegressor()], propagate_features=[1]
                                  ).fit_transform(X, y)
    np.testing.assert_array_equal(P[:, 0], X[:, 1])


def test_layer_refuses_a_lossy_output_dtype_for_propagated_features():
    from mlcore.backend import ParallelProcessing
    from mlcore.layer import Layer, make_group
    X, y = _reg(20)
    for P_dtype, X_in in ((np.int64, X), (np.float64, X.astype(complex))):
        layer = Layer("l", [make_group(2, [Ridge()])],
                      propagate_features=[0, 1], dtype=P_dtype)
        with pytest.raises(LayerSpecificationError, match="cannot hold"):
            with ParallelProcessing("threading", 1) as pp:
                pp.map([layer], "fit", X_in, y, return_preds=True)


def test_ensemble_refuses_a_non_float_dtype():
    X, y = _reg()
    with pytest.raises(ValueError, match="floating dtype"):
        SuperLearner(folds=3).add([Ridge()], propagate_features=[0],
                                  dtype=np.int32).fit(X, y)
