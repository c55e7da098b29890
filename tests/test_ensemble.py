"""Tests of the ensembles (mlcore.ensemble) against scikit-learn.

Every ensemble is checked against the same computation written out by hand
with scikit-learn: ``cross_val_predict`` for the out-of-fold predictions of
K-fold layers, plain fits on the first rows for blends, fits on contiguous
partitions for subsembles, expanding (or rolling) windows for temporal
ensembles, and a meta estimator fitted on exactly those predictions. The
estimators are deterministic, so the comparisons are exact (``np.array_equal``)
wherever the rows reach the estimators in the same order. A layer's columns
are in ML-Ensemble's order, by learner name: the references list the
learners in that order (:func:`tests._order.by_name`).

Then what users keep asking for: labels of any kind, pandas, sparse input
that stays sparse, sample_weight and groups routed to every fit, any
scikit-learn splitter, reproducibility, identical results on every backend,
pickling, a failing learner that names itself, the result table, and the
layer-building API.

Small data throughout; one loky case (process start-up is slow on 2 cores).
BLAS is held to one thread: these fits are tiny, and spinning BLAS threads
on a shared 2-core machine make them many times slower.
"""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import NotFittedError as SkNotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import make_scorer, mean_absolute_error, r2_score
from sklearn.model_selection import (GroupKFold, KFold, StratifiedKFold,
                                     cross_val_predict)
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from mlcore.exceptions import LayerSpecificationError
from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble, Subsemble,
                             SuperLearner, TemporalEnsemble)
from mlcore.layer import LearnerError, LearnerTypeError, LearnerValueError

from ._order import by_name


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


###############################################################################
# Data, helper estimators and references

def _reg(n=60, p=5, seed=0):
    X, y = make_regression(n, p, n_informative=4, noise=5.0, random_state=seed)
    return X, y


def _clf(n=90, p=6, classes=3, seed=0):
    X, y = make_classification(n, p, n_informative=4, n_redundant=0,
                               n_classes=classes, random_state=seed)
    return X, y


def _hstack(blocks):
    """Columns side by side, C-ordered as the ensemble's arrays are (so that
    the estimators of the next layer sum in the same order)."""
    return np.ascontiguousarray(np.hstack(blocks))


def _cvp(est, X, y, cv, method="predict", **kw):
    """Out-of-fold predictions of ``est`` as one or more columns."""
    p = cross_val_predict(clone(est), X, y, cv=cv, method=method, **kw)
    return p.reshape(p.shape[0], -1)


def _full(est, X, y, X_new, method="predict", **fit_kw):
    p = getattr(clone(est).fit(X, y, **fit_kw), method)(X_new)
    return p.reshape(p.shape[0], -1)


def _meta(ens):
    """The fitted meta estimator (the full fit of the last layer; a
    SuperLearner's meta layer also has one fit per fold, for its score)."""
    last = ens.layers_[-1]
    (learner,) = last.learners
    return last.estimators_[(learner.key, 0, 0)]


class FailingRegressor(RegressorMixin, BaseEstimator):
    """Fits the mean of y; raises ``error`` when the training rows lack the
    marker row (``X[:, 0] == marker``), i.e. on the fold that predicts it."""

    def __init__(self, marker=999.0, error=RuntimeError):
        self.marker = marker
        self.error = error

    def fit(self, X, y, sample_weight=None):
        if not np.any(np.asarray(X[:, 0]).ravel() == self.marker):
            raise self.error("boom: no marker row")
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.mean_)


class UndeclaredRidge(RegressorMixin, BaseEstimator):
    """Accepts sparse input without saying so in its tags."""

    def fit(self, X, y, sample_weight=None):
        self.model_ = Ridge().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


class DenseOnlyRidge(UndeclaredRidge):
    """Declares (through its own tags) that it takes dense input only."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class SparseRidge(RegressorMixin, BaseEstimator):
    """Ridge that, with ``require_sparse``, refuses dense input: proves that
    sparse data reaches it sparse."""

    def __init__(self, alpha=1.0, require_sparse=True):
        self.alpha = alpha
        self.require_sparse = require_sparse

    def _check(self, X):
        if self.require_sparse and not sp.issparse(X):
            raise TypeError("dense input reached SparseRidge")

    def fit(self, X, y, sample_weight=None):
        self._check(X)
        self.model_ = Ridge(alpha=self.alpha, solver="sparse_cg", tol=1e-12,
                            fit_intercept=False).fit(X, y)
        return self

    def predict(self, X):
        self._check(X)
        return self.model_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


###############################################################################
# SuperLearner == cross_val_predict

REGRESSORS = [LinearRegression(), Ridge(alpha=0.5),
              DecisionTreeRegressor(max_depth=3, random_state=0)]


@pytest.mark.parametrize("k", [2, 3, 5])
def test_superlearner_oof_equals_cross_val_predict(k):
    X, y = _reg(61)
    X_new = _reg(13, seed=1)[0]
    ens = SuperLearner(folds=k).add(REGRESSORS).add_meta(LinearRegression())
    ens.fit(X, y)
    C = _hstack([_cvp(e, X, y, KFold(k)) for e in by_name(REGRESSORS)])
    P = ens.oof_predictions_["layer-1"]
    assert np.array_equal(P, C)
    meta = LinearRegression().fit(C, y)
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    assert np.array_equal(_meta(ens).intercept_, meta.intercept_)
    T = _hstack([_full(e, X, y, X_new) for e in by_name(REGRESSORS)])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_superlearner_proba_equals_cross_val_predict():
    X, y = _clf()
    X_new = _clf(20, seed=1)[0]
    base = [LogisticRegression(), DecisionTreeClassifier(max_depth=3,
                                                         random_state=0)]
    ens = SuperLearner(folds=3).add(base, proba=True)
    ens.add_meta(LogisticRegression()).fit(X, y)
    C = _hstack([_cvp(e, X, y, KFold(3), "predict_proba") for e in by_name(base)])
    assert ens.oof_predictions_["layer-1"].shape == (90, 6)
    assert np.array_equal(ens.oof_predictions_["layer-1"], C)
    meta = LogisticRegression().fit(C, y)
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    T = _hstack([_full(e, X, y, X_new, "predict_proba") for e in by_name(base)])
    assert np.array_equal(ens.predict_proba(X_new), meta.predict_proba(T))
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


@pytest.mark.parametrize("refit", [True, False])
@pytest.mark.parametrize("test_size", [0.3, 0.5, 17])
def test_blend_equals_holdout_fit(test_size, refit):
    X, y = _reg(60)
    X_new = _reg(11, seed=2)[0]
    n_test = test_size if isinstance(test_size, int) else int(60 * test_size)
    n_train = 60 - n_test
    base = REGRESSORS[:2]
    ens = BlendEnsemble(test_size=test_size, refit=refit).add(base)
    ens.add_meta(LinearRegression()).fit(X, y)
    P = _hstack([_full(e, X[:n_train], y[:n_train], X[n_train:])
                   for e in base])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, y[n_train:])
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    # new data: the fit on all rows (refit), else the training-part fit
    rows = slice(0, 60) if refit else slice(0, n_train)
    T = _hstack([_full(e, X[rows], y[rows], X_new) for e in base])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))
    # transform: the meta fit applied to the holdout predictions (as mlens)
    assert np.array_equal(ens.transform(X)[:, 0], meta.predict(P))


@pytest.mark.parametrize("refit", [True, False])
def test_blend_classifier_proba(refit):
    X, y = _clf(80)
    X_new = _clf(10, seed=3)[0]
    base = [LogisticRegression(), GaussianNB()]
    ens = BlendEnsemble(test_size=0.5, refit=refit).add(base, proba=True)
    ens.add_meta(LogisticRegression()).fit(X, y)
    P = _hstack([_full(e, X[:40], y[:40], X[40:], "predict_proba")
                   for e in by_name(base)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LogisticRegression().fit(P, y[40:])
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    rows = slice(0, 80) if refit else slice(0, 40)
    T = _hstack([_full(e, X[rows], y[rows], X_new, "predict_proba")
                   for e in by_name(base)])
    assert np.array_equal(ens.predict_proba(X_new), meta.predict_proba(T))


def test_three_layers_with_propagated_features():
    X, y = _reg(60)
    X_new = _reg(12, seed=4)[0]
    l1 = [Ridge(), LinearRegression()]
    l2 = [Ridge(alpha=3.0), DecisionTreeRegressor(max_depth=3, random_state=0)]
    ens = SuperLearner(folds=3)
    ens.add(l1, propagate_features=[0, 2])
    ens.add(l2, folds=2)
    ens.add_meta(LinearRegression())
    ens.fit(X, y)
    P1 = _hstack([X[:, [0, 2]]] + [_cvp(e, X, y, KFold(3)) for e in by_name(l1)])
    P2 = _hstack([_cvp(e, P1, y, KFold(2)) for e in by_name(l2)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P1)
    assert np.array_equal(ens.oof_predictions_["layer-2"], P2)
    meta = LinearRegression().fit(P2, y)
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    T1 = _hstack([X_new[:, [0, 2]]] + [_full(e, X, y, X_new) for e in by_name(l1)])
    T2 = _hstack([_full(e, P1, y, T1) for e in by_name(l2)])
    assert np.array_equal(ens.predict(X_new), meta.predict(T2))


def test_subsemble_equals_partition_fits():
    n, parts, k = 50, 2, 3
    X, y = _reg(n)
    X_new = _reg(9, seed=5)[0]
    base = [Ridge(), DecisionTreeRegressor(max_depth=3, random_state=0)]
    ens = Subsemble(partitions=parts, folds=k).add(base)
    ens.add_meta(LinearRegression()).fit(X, y)
    partition = np.array_split(np.arange(n), parts)   # KFold-sized chunks
    folds = [np.array_split(p, k) for p in partition]
    tests = [np.sort(np.concatenate([f[j] for f in folds])) for j in range(k)]
    P = np.zeros((n, len(base) * parts))
    for li, est in enumerate(by_name(base)):
        for i, p in enumerate(partition):
            for j in range(k):
                train = np.setdiff1d(p, folds[i][j])
                P[tests[j], li * parts + i] = _full(
                    est, X[train], y[train], X[tests[j]])[:, 0]
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, y)
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    T = _hstack([_full(e, X[p], y[p], X_new) for e in by_name(base)
                 for p in partition])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("kw", [dict(step_size=5, burn_in=10),
                                dict(step_size=4, burn_in=8, window=6, lag=1),
                                dict(step_size=4, burn_in=12, window=5, lag=2)])
def test_temporal_equals_window_fits(kw, strict):
    n = 40
    X, y = _reg(n)
    X_new = _reg(7, seed=6)[0]
    base = [LinearRegression(), Ridge(alpha=2.0)]
    ens = TemporalEnsemble(strict_window=strict, **kw).add(base)
    ens.add_meta(LinearRegression())
    ens.fit(X, y)
    step, burn_in = kw["step_size"], kw["burn_in"]
    window, lag = kw.get("window"), kw.get("lag", 0)
    P = np.zeros((n - burn_in, len(base)))
    for idx in range(burn_in, n, step):
        stop = idx - lag
        # the first fold trains from row 0 unless the window is strict
        windowed = window and (idx > burn_in or strict)
        start = max(0, stop - window) if windowed else 0
        rows = slice(idx, min(idx + step, n))
        for li, est in enumerate(base):
            P[rows.start - burn_in:rows.stop - burn_in, li] = _full(
                est, X[start:stop], y[start:stop], X[rows])[:, 0]
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, y[burn_in:])
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    full = slice(n - window, n) if window and strict else slice(0, n)
    T = _hstack([_full(e, X[full], y[full], X_new) for e in base])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_sequential_stack_blend_full():
    n = 60
    X, y = _reg(n)
    X_new = _reg(10, seed=7)[0]
    l1 = [Ridge(), LinearRegression()]
    l2 = [Ridge(alpha=2.0), DecisionTreeRegressor(max_depth=2, random_state=0)]
    ens = SequentialEnsemble()
    ens.add("stack", l1, folds=3)
    ens.add("blend", l2, test_size=0.4)
    ens.add("full", LinearRegression())
    ens.fit(X, y)
    P1 = _hstack([_cvp(e, X, y, KFold(3)) for e in by_name(l1)])
    n_test = int(0.4 * n)
    n_train = n - n_test
    P2 = _hstack([_full(e, P1[:n_train], y[:n_train], P1[n_train:])
                    for e in by_name(l2)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P1)
    assert np.array_equal(ens.oof_predictions_["layer-2"], P2)
    meta = LinearRegression().fit(P2, y[n_train:])
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    T1 = _hstack([_full(e, X, y, X_new) for e in by_name(l1)])
    T2 = _hstack([_full(e, P1, y, T1) for e in by_name(l2)])  # blend: refit on all
    assert np.array_equal(ens.predict(X_new), meta.predict(T2))


def test_blend_and_temporal_options_per_layer_and_in_sequential():
    X, y = _reg(48)
    X_new = _reg(9, seed=8)[0]

    def fits(ens):
        return sorted(ens.fit(X, y).layers_[0].estimators_)

    def predict(ens):
        return ens.fit(X, y).predict(X_new)

    base = [Ridge()]
    option = predict(BlendEnsemble(refit=False).add(base).add_meta(Ridge()))
    per_layer = BlendEnsemble().add(base, refit=False).add_meta(Ridge())
    assert np.array_equal(predict(per_layer), option)
    later = BlendEnsemble().add(base).add_meta(Ridge()).set_params(refit=False)
    assert np.array_equal(predict(later), option)
    assert not np.array_equal(predict(BlendEnsemble().add(base).add_meta(
        Ridge())), option)
    assert fits(SequentialEnsemble().add("blend", base)) == [
        ("ridge", 0, 0), ("ridge", 0, 1)]
    assert fits(SequentialEnsemble().add("blend", base, refit=False)) == [
        ("ridge", 0, 0)]
    temporal = dict(step_size=8, burn_in=16, window=6)
    strict = TemporalEnsemble(strict_window=True, **temporal).add(base)
    per_layer = TemporalEnsemble(**temporal).add(base, strict_window=True)
    seq = SequentialEnsemble().add("temporal", base, strict_window=True,
                                   **temporal)
    (full,) = [s for s in seq.fit(X, y).layers_[0].splits_[0] if s.fold == 0]
    assert full.train == slice(42, 48)
    assert np.array_equal(predict(per_layer), predict(strict))
    assert np.array_equal(predict(seq), predict(strict))


def test_sequential_stack_with_splitter_and_add_meta():
    X, y = _clf(60)
    ens = SequentialEnsemble().add("stack", [LogisticRegression()], proba=True,
                                   folds=StratifiedKFold(3))
    ens.add_meta(LogisticRegression()).fit(X, y)
    C = _cvp(LogisticRegression(), X, y, StratifiedKFold(3), "predict_proba")
    assert np.array_equal(ens.oof_predictions_["layer-1"], C)


###############################################################################
# Labels

def _stack_clf(**kw):
    base = [LogisticRegression(), DecisionTreeClassifier(max_depth=3,
                                                         random_state=0)]
    return SuperLearner(folds=3, **kw).add(base, proba=True).add_meta(
        LogisticRegression())


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "eel"]),
                                    np.array([3, 7, 10])])
def test_any_labels(labels):
    X, yi = _clf()
    X_new = _clf(25, seed=1)[0]
    y = labels[yi]
    ref = _stack_clf().fit(X, yi)
    ens = _stack_clf().fit(X, y)
    assert np.array_equal(ens.classes_, labels)
    pred = ens.predict(X_new)
    assert pred.dtype == labels.dtype
    assert np.array_equal(pred, labels[ref.predict(X_new)])
    proba = ens.predict_proba(X_new)
    assert np.array_equal(proba, ref.predict_proba(X_new))
    # columns follow classes_: the most probable class is the prediction
    assert np.array_equal(ens.classes_[proba.argmax(axis=1)], pred)
    assert ens.score(X, y) == ref.score(X, yi)


def test_string_labels_binary_with_proba_meta():
    X, yi = _clf(60, classes=2)
    y = np.array(["no", "yes"])[yi]
    ens = SuperLearner(folds=2).add([LogisticRegression()], proba=True)
    ens.add_meta(LogisticRegression(), proba=True).fit(X, y)
    proba = ens.predict_proba(X)
    assert proba.shape == (60, 2)
    # a meta layer added with proba=True predicts probabilities (as
    # ML-Ensemble); score() scores the most probable of the string labels
    assert np.array_equal(ens.predict(X), proba)
    assert ens.score(X, y) == np.mean(ens.classes_[proba.argmax(1)] == y)


def test_predict_proba_only_when_the_meta_has_it():
    from sklearn.linear_model import RidgeClassifier
    X, y = _clf(40)
    ens = SuperLearner(folds=2).add([LogisticRegression()], proba=True)
    ens.add_meta(RidgeClassifier()).fit(X, y)
    assert not hasattr(ens, "predict_proba")
    assert set(ens.predict(X)) <= set(y)
    assert hasattr(_stack_clf(), "predict_proba")


def test_single_class_is_a_clear_error():
    X, _ = _clf(20)
    with pytest.raises(ValueError, match="at least 2 classes"):
        _stack_clf().fit(X, np.ones(20))


###############################################################################
# pandas and sparse input

@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_pandas_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = _reg(40)
    cols = ["a", "b", "c", "d", "e"]
    df = pd.DataFrame(X, columns=cols)
    ens = SuperLearner(folds=2).add(REGRESSORS[:2]).add_meta(LinearRegression())
    ens.fit(df, pd.Series(y), sample_weight=pd.Series(np.ones(40)))
    assert ens.n_features_in_ == 5
    assert list(ens.feature_names_in_) == cols
    Xa = df.to_numpy()       # same values and memory layout as the frame
    ref = clone(ens).fit(Xa, y)
    assert not hasattr(ref, "feature_names_in_")
    assert np.array_equal(ens.predict(df), ref.predict(Xa))
    with pytest.raises(ValueError, match="feature names"):
        ens.predict(df[cols[::-1]])
    with pytest.raises(ValueError, match="missing"):
        ens.predict(df[cols[:4]])
    with pytest.raises(ValueError, match="4 features"):
        ens.predict(X[:, :4])


def _sparse_ens():
    l1 = [DecisionTreeRegressor(max_depth=4, random_state=0), SparseRidge()]
    ens = SuperLearner(folds=3).add(l1, propagate_features=[0, 3, 5])
    ens.add([SparseRidge(alpha=2.0)]).add_meta(LinearRegression())
    return ens


def _dense_twin(ens):
    ens = clone(ens)
    for spec in ens.layers:
        ests = spec.estimators if isinstance(spec.estimators, list) else [
            spec.estimators]
        for e in ests:
            if isinstance(e, SparseRidge):
                e.set_params(require_sparse=False)
    return ens


def test_sparse_input_stays_sparse(monkeypatch):
    rng = np.random.RandomState(0)
    X = sp.random(80, 30, density=0.2, format="csr", random_state=rng)
    y = X @ rng.randn(30) + 0.1 * rng.randn(80)
    X_new = sp.random(15, 30, density=0.2, format="csr", random_state=rng)
    ens = _sparse_ens()

    def densified(*args, **kwargs):
        raise AssertionError("the ensemble densified a sparse matrix")

    with monkeypatch.context() as m:
        for cls in (sp._base._spbase, sp._compressed._cs_matrix):
            m.setattr(cls, "toarray", densified)
        m.setattr(sp._base._spbase, "todense", densified)
        ens.fit(X, y)
        pred = ens.predict(X_new)
    P1 = ens.oof_predictions_["layer-1"]
    assert sp.issparse(P1) and P1.shape == (80, 5)
    dense = _dense_twin(ens).fit(X.toarray(), y)
    np.testing.assert_allclose(P1.toarray(),
                               dense.oof_predictions_["layer-1"], rtol=1e-9)
    np.testing.assert_allclose(P1[:, :3].toarray(), X[:, [0, 3, 5]].toarray())
    np.testing.assert_allclose(pred, dense.predict(X_new.toarray()),
                               rtol=1e-7, atol=1e-9)


def test_sparse_refused_up_front_when_a_learner_cannot_take_it():
    X, y = _clf(30)
    ens = SuperLearner(folds=2).add([GaussianNB()]).add_meta(
        LogisticRegression())
    with pytest.raises(TypeError, match="Sparse data.*GaussianNB.*layer 1"):
        ens.fit(sp.csr_matrix(X), y)
    # a densifying preprocessing step in front makes it fine
    from sklearn.decomposition import TruncatedSVD
    ens = SuperLearner(folds=2).add([GaussianNB()],
                                    preprocessing=[TruncatedSVD(3)])
    ens.add_meta(LogisticRegression()).fit(sp.csr_matrix(X), y)


def test_sparse_and_estimators_that_do_not_declare_it():
    X, y = _reg(30)
    Xs = sp.csr_matrix(X)
    # default tags of BaseEstimator say nothing: the estimator gets to try
    ens = SuperLearner(folds=2).add([UndeclaredRidge()]).fit(Xs, y)
    assert ens.transform(Xs).shape == (30, 1)
    # an estimator's own tags are believed
    with pytest.raises(TypeError, match="Sparse data.*DenseOnlyRidge"):
        SuperLearner(folds=2).add([DenseOnlyRidge()]).fit(Xs, y)


def test_int64_indexed_sparse_is_accepted():
    X, y = _clf(40)
    Xs = sp.csr_matrix(X)
    Xs.indices = Xs.indices.astype(np.int64)
    Xs.indptr = Xs.indptr.astype(np.int64)
    ens = SuperLearner(folds=2).add([DecisionTreeClassifier(random_state=0)],
                                    proba=True)
    ens.add_meta(LogisticRegression()).fit(Xs, y)
    ref = clone(ens).fit(sp.csr_matrix(X), y)
    assert np.array_equal(ens.predict_proba(Xs), ref.predict_proba(X))


###############################################################################
# Fit parameters and splitters

def test_sample_weight_reaches_every_fit():
    X, y = _reg(60)
    X_new = _reg(8, seed=8)[0]
    w = np.random.RandomState(0).uniform(0.1, 3.0, 60)
    base = [Ridge(), DecisionTreeRegressor(max_depth=3, random_state=0)]
    ens = SuperLearner(folds=3).add(base).add_meta(LinearRegression())
    ens.fit(X, y, sample_weight=w)
    C = _hstack([_cvp(e, X, y, KFold(3), params={"sample_weight": w})
                   for e in by_name(base)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], C)
    assert not np.array_equal(C, _hstack([_cvp(e, X, y, KFold(3))
                                            for e in by_name(base)]))
    meta = LinearRegression().fit(C, y, sample_weight=w)
    assert np.array_equal(_meta(ens).coef_, meta.coef_)
    T = _hstack([_full(e, X, y, X_new, sample_weight=w) for e in by_name(base)])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_sample_weight_follows_shuffled_blend_rows():
    n = 50
    X, y = _reg(n)
    X_new = _reg(6, seed=9)[0]
    w = np.random.RandomState(1).uniform(0.1, 3.0, n)
    ens = BlendEnsemble(test_size=0.4, shuffle=True, random_state=3)
    ens.add([Ridge()]).add_meta(LinearRegression()).fit(X, y, sample_weight=w)
    perm = np.random.RandomState(ens.layers_[0].random_state).permutation(n)
    n_train = n - 20
    tr, te = perm[:n_train], perm[n_train:]
    base = Ridge().fit(X[tr], y[tr], sample_weight=w[tr])
    P = base.predict(X[te])
    # new data: the refit on all rows, in the shuffled order
    full = Ridge().fit(X[perm], y[perm], sample_weight=w[perm])
    order = np.argsort(te)           # oof predictions come in input order
    np.testing.assert_array_equal(ens.oof_predictions_["layer-1"][:, 0],
                                  P[order])
    meta = LinearRegression().fit(P[:, None], y[te], sample_weight=w[te])
    np.testing.assert_allclose(_meta(ens).coef_, meta.coef_, rtol=1e-10)
    np.testing.assert_allclose(ens.predict(X_new),
                               meta.predict(full.predict(X_new)[:, None]),
                               rtol=1e-10)


def test_sample_weight_validation():
    X, y = _reg(20)
    ens = SuperLearner(folds=2).add([Ridge()]).add_meta(LinearRegression())
    with pytest.raises(ValueError, match="sample_weight"):
        ens.fit(X, y, sample_weight=np.ones(19))
    with pytest.raises(ValueError, match="at least one non-zero"):
        ens.fit(X, y, sample_weight=np.zeros(20))


def test_groups_reach_group_kfold():
    X, y = _reg(60)
    groups = np.repeat(np.arange(10), 6)
    base = [Ridge(), LinearRegression()]
    ens = SuperLearner(folds=GroupKFold(3)).add(base).add_meta(
        LinearRegression())
    ens.fit(X, y, groups=groups)
    C = _hstack([_cvp(e, X, y, GroupKFold(3), groups=groups) for e in by_name(base)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], C)
    for s in ens.layers_[0].splits_[0]:
        if s.test is not None:      # no group on both sides of a fold
            train = np.arange(60)[s.train]
            test = np.arange(60)[s.test]
            assert not set(groups[train]) & set(groups[test])
    with pytest.raises(ValueError, match="groups"):
        clone(ens).fit(X, y)


@pytest.mark.parametrize("cv", [StratifiedKFold(3),
                                StratifiedKFold(4, shuffle=True,
                                                random_state=0)])
def test_stratified_kfold(cv):
    X, y = _clf()
    base = [LogisticRegression(), GaussianNB()]
    ens = SuperLearner(folds=cv).add(base, proba=True).add_meta(
        LogisticRegression()).fit(X, y)
    C = _hstack([_cvp(e, X, y, cv, "predict_proba") for e in by_name(base)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], C)


###############################################################################
# Reproducibility, backends, pickling

def _random_ens(random_state=42, backend="threading"):
    ens = SuperLearner(folds=3, shuffle=True, random_state=random_state,
                       backend=backend)
    ens.add([ExtraTreesRegressor(n_estimators=4), Ridge()])
    ens.add_meta(ExtraTreesRegressor(n_estimators=4))
    return ens


def test_random_state_makes_fits_reproducible():
    X, y = _reg(50)
    X_new = _reg(10, seed=10)[0]
    a = _random_ens().fit(X, y)
    b = _random_ens().fit(X, y)
    c = clone(a).fit(X, y)
    for other in (b, c):
        assert np.array_equal(a.predict(X_new), other.predict(X_new))
        assert np.array_equal(a.oof_predictions_["layer-1"],
                              other.oof_predictions_["layer-1"])
    d = _random_ens(random_state=7).fit(X, y)
    assert not np.array_equal(a.predict(X_new), d.predict(X_new))
    # seeds go to the fitted copies; the user's estimators are left alone
    assert a.layers[0].estimators[0].random_state is None
    seeded = a.layers_[0].estimators_[("extratreesregressor", 0, 0)]
    assert isinstance(seeded.random_state, int)


def _backend_ens(backend):
    ens = SuperLearner(folds=3, shuffle=True, random_state=0, backend=backend,
                       n_jobs=2)
    ens.add([LogisticRegression(), DecisionTreeClassifier(max_depth=3)],
            proba=True, propagate_features=[1])
    ens.add_meta(LogisticRegression())
    return ens


def test_backends_give_identical_results():
    X, y = _clf(60)
    X_new = _clf(15, seed=11)[0]
    out = {}
    for backend in ("sequential", "threading", "loky"):
        ens = _backend_ens(backend).fit(X, y)
        out[backend] = (ens.oof_predictions_["layer-1"],
                        ens.predict_proba(X_new), ens.predict(X_new))
    for backend in ("threading", "loky"):
        for a, b in zip(out["sequential"], out[backend]):
            assert np.array_equal(a, b), backend


def test_pickle_fitted_ensemble():
    X, y = _clf(60)
    X_new = _clf(15, seed=12)[0]
    ens = _stack_clf(random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(ens))
    assert np.array_equal(back.predict(X_new), ens.predict(X_new))
    assert np.array_equal(back.predict_proba(X_new), ens.predict_proba(X_new))
    assert np.array_equal(back.transform(X), ens.transform(X))
    fresh = clone(ens)
    assert not hasattr(fresh, "layers_")
    with pytest.raises(SkNotFittedError):
        fresh.predict(X_new)


def test_concurrent_predictions_on_one_fitted_ensemble():
    """predict and predict_proba from several threads at once, on inputs of
    different sizes (each call keeps its own per-call layer state)."""
    from concurrent.futures import ThreadPoolExecutor
    X, y = _clf(60)
    ens = _stack_clf(backend="sequential").fit(X, y)
    inputs = [_clf(n, seed=n)[0] for n in (7, 11, 13, 17)]
    expected = [(ens.predict(A), ens.predict_proba(A)) for A in inputs]

    def call(i):
        A = inputs[i % 4]
        return i, (ens.predict(A) if i % 2 else ens.predict_proba(A))

    with ThreadPoolExecutor(4) as pool:
        for i, out in pool.map(call, range(40)):
            assert np.array_equal(out, expected[i % 4][0 if i % 2 else 1])


###############################################################################
# Errors

@pytest.mark.parametrize("backend", ["threading", "sequential", "loky"])
def test_failing_learner_names_learner_and_fold(backend):
    X, y = _reg(30)
    X[0, 0] = 999.0        # fold 1 predicts row 0, so it trains without it
    ens = SuperLearner(folds=3, backend=backend).add(
        [Ridge(), ("bad", FailingRegressor())]).add_meta(LinearRegression())
    with pytest.raises(LearnerError) as info:
        ens.fit(X, y)
    msg = str(info.value)
    assert "learner 'bad'" in msg
    assert "fold 1" in msg and "during fit" in msg
    assert "RuntimeError: boom: no marker row" in msg
    cause = info.value.__cause__
    assert isinstance(cause, RuntimeError) and "boom" in str(cause)
    assert not isinstance(info.value, ValueError)
    with pytest.raises(SkNotFittedError):
        ens.predict(X)


def test_learner_error_keeps_value_and_type_error_families():
    X, y = _reg(30)
    X[0, 0] = 999.0
    for error, cls in ((ValueError, LearnerValueError),
                       (TypeError, LearnerTypeError)):
        ens = SuperLearner(folds=3).add([FailingRegressor(error=error)])
        with pytest.raises(cls) as info:
            ens.fit(X, y)
        assert isinstance(info.value, LearnerError)
        assert isinstance(info.value, error)
        assert isinstance(info.value.__cause__, error)
        assert "learner 'failingregressor'" in str(info.value)


def test_failed_refit_keeps_the_old_model():
    X, y = _reg(30)
    ens = SuperLearner(folds=3).add([FailingRegressor()])
    X_ok = X.copy()
    X_ok[:, 0] = 999.0
    ens.fit(X_ok, y)
    layers, before = ens.layers_, ens.transform(X_ok[:5])
    X[0, 0] = 999.0
    with pytest.raises(LearnerError):
        ens.fit(X, y)
    # a refit swaps its state in only when it succeeds
    assert ens.layers_ is layers
    np.testing.assert_array_equal(ens.transform(X_ok[:5]), before)


def test_not_fitted_and_empty_ensembles():
    X, y = _reg(20)
    ens = SuperLearner().add([Ridge()]).add_meta(LinearRegression())
    for method in ("predict", "transform"):
        with pytest.raises(SkNotFittedError):
            getattr(ens, method)(X)
    with pytest.raises(SkNotFittedError):
        ens.data
    with pytest.raises(LayerSpecificationError, match="no layers"):
        SuperLearner().fit(X, y)
    with pytest.raises(ValueError, match="1 sample"):
        ens.fit(X[:1], y[:1])


def test_add_says_what_a_learner_and_a_step_are():
    X, y = _reg(20)

    class NoParams:  # fit and predict, but sklearn.base.clone cannot copy it
        def fit(self, X, y):
            return self

        def predict(self, X):
            return np.zeros(len(X))

    cases = [
        (["not an estimator"], None,
         r"layer 1: 'not an estimator' \(str\) is not a learner: it has no "
         r"fit method\. A layer's learners are scikit-learn estimators"),
        ([Ridge], None, r"learner Ridge is a class, not an instance: pass "
                        r"Ridge\(\)"),
        ({"sc": [Ridge(), 3]}, {"sc": [StandardScaler()]},
         r"3 \(int\) is not a learner"),
        ([NoParams()], None, r"has no get_params method: .*BaseEstimator"),
        ([Ridge()], [("scale", "standard")],
         r"'standard' \(str\) is not a preprocessing step: it has no fit, "
         r"transform method\. Preprocessing steps are scikit-learn "
         r"transformers"),
        ([Ridge()], [Ridge()], r"Ridge\(\) \(Ridge\) is not a preprocessing "
                               r"step: it has no transform method"),
        ([], None, r"layer 1 has no learners"),
    ]
    for estimators, pre, message in cases:
        ens = SuperLearner(folds=2)
        with pytest.raises(LayerSpecificationError, match=message):
            ens.add(estimators, preprocessing=pre)
        assert ens.layers is None  # nothing was added
    ens = SuperLearner(folds=2).add([Ridge()])
    with pytest.raises(LayerSpecificationError, match="layer 2: 'x' \\(str"):
        ens.add_meta("x")
    # a learner set_params put in place is checked at fit
    ens.set_params(**{"layer-1__ridge": "oops"})
    with pytest.raises(LayerSpecificationError, match="layer 1: 'oops'"):
        ens.fit(X, y)


def test_scorer_of_labels_on_probabilities_is_a_clear_error():
    from sklearn.metrics import accuracy_score, log_loss
    from mlcore.exceptions import ScorerError
    X, y = _clf()
    base = [GaussianNB(), LogisticRegression()]
    for tolerate in (False, True):
        ens = SuperLearner(folds=3, scorer=accuracy_score,
                           raise_on_exception=not tolerate)
        ens.add(base, proba=True).add_meta(LogisticRegression())
        with pytest.raises(ScorerError) as info:
            ens.fit(X, y)   # the scorer's fault: no learner is dropped
        msg = str(info.value)
        assert msg.startswith("scorer accuracy_score failed on the "
                              "out-of-fold predictions of learner "
                              "'gaussiannb' (partition 0, fold 1)")
        assert "proba=True" in msg and "shape (30, 3)" in msg
        assert isinstance(info.value.__cause__, ValueError)
    # a scorer of probabilities scores the probabilities
    ens = SuperLearner(folds=3, scorer=log_loss).add(base, proba=True)
    ens.fit(X, y)
    P = ens.oof_predictions_["layer-1"]
    folds = [slice(0, 30), slice(30, 60), slice(60, 90)]
    assert ens.data["score-m"]["layer-1/gaussiannb"] == pytest.approx(
        np.mean([log_loss(y[f], P[f, :3]) for f in folds]), rel=1e-12)


@pytest.mark.parametrize("scorer,what", [
    ("r2", "the scorer name 'r2'"),
    (make_scorer(r2_score), "the scorer object make_scorer"),
    (2.0, "2.0, which is not callable")])
def test_scorer_that_cannot_score_predictions_is_refused(scorer, what):
    X, y = _reg(20)
    for ens in (SuperLearner(folds=2, scorer=scorer).add([Ridge()]),
                SuperLearner(folds=2).add([Ridge()], scorer=scorer)):
        with pytest.raises(TypeError, match="scorer: got %s" % what):
            ens.fit(X, y)
    with pytest.raises(TypeError, match="sklearn.metrics.r2_score"):
        ens.fit(X, y)


###############################################################################
# Layers, data table, transform, building API

def test_layer_attributes():
    X, y = _reg(30)
    ens = SuperLearner(folds=2).add([Ridge()]).add_meta(LinearRegression())
    with pytest.raises(AttributeError, match="call fit first"):
        ens.layer_1
    assert ens.layers.n_layers == len(ens.layers) == 2
    assert ens.layers[0].estimators == [ens.layers[0].estimators[0]]
    assert isinstance(ens.layers[0].estimators[0], Ridge)
    ens.fit(X, y)
    assert ens.layer_1 is ens.layers_[0]
    assert ens.layer_2 is ens.layers_[1]
    assert [lr.key for lr in ens.layer_1.learners] == ["ridge"]
    for bad in ("layer_3", "layer_0", "layer_x"):
        assert not hasattr(ens, bad)
    assert clone(ens).layers.n_layers == 2


def test_data_table():
    X, y = _reg(60)
    base = [Ridge(), DecisionTreeRegressor(max_depth=3, random_state=0)]
    ens = SuperLearner(folds=3).add(base).add_meta(LinearRegression())
    ens.fit(X, y)
    data = ens.data
    # ML-Ensemble's layout: columns of rows, sorted rows, no meta row
    assert list(data) == ["score-m", "score-s", "ft-m", "ft-s", "pt-m",
                          "pt-s"]
    assert data.rows() == ["layer-1/decisiontreeregressor", "layer-1/ridge"]
    folds = list(KFold(3).split(X))
    layer = ens.layer_1
    for name, est in zip(["ridge", "decisiontreeregressor"], base):
        row = "layer-1/" + name
        C = _cvp(est, X, y, KFold(3))[:, 0]
        scores = [r2_score(y[te], C[te]) for _, te in folds]
        assert data["score-m"][row] == pytest.approx(np.mean(scores),
                                                     rel=1e-12)
        assert data["score-s"][row] == pytest.approx(np.std(scores),
                                                     rel=1e-9)
        # times: over the fold fits, as ML-Ensemble (not the full refit)
        fold_fits = [r for r in layer.fit_records_ if r[0] == name and r[2]]
        assert len(fold_fits) == 3
        assert data["ft-m"][row] == pytest.approx(
            np.mean([r[3] for r in fold_fits]), rel=1e-12)
        assert data["pt-s"][row] == pytest.approx(
            np.std([r[4] for r in fold_fits]), rel=1e-9)
    lines = str(data).splitlines()
    assert lines[0].split() == list(data)
    assert lines[1].split()[:2] == ["layer-1", "decisiontreeregressor"]
    assert lines[2].split() == ["layer-1", "ridge"] + [
        "%.2f" % data[c]["layer-1/ridge"] for c in data]
    # a user scorer
    ens = SuperLearner(folds=3, scorer=mean_absolute_error).add(base[:1])
    ens.fit(X, y)
    C = _cvp(base[0], X, y, KFold(3))[:, 0]
    mae = [mean_absolute_error(y[te], C[te]) for _, te in folds]
    assert ens.data["score-m"]["layer-1/ridge"] == pytest.approx(
        np.mean(mae))


def test_data_table_of_partitions_and_cases():
    """ML-Ensemble's row names: a row per partition (``--p``), the case as
    ``case.learner`` (left out for a case without steps)."""
    X, y = _reg(60)
    ens = Subsemble(partitions=2, folds=2).add([Ridge()]).add_meta(Ridge())
    data = ens.fit(X, y).data
    assert data.rows() == ["layer-1/ridge--0", "layer-1/ridge--1"]
    for p in (0, 1):
        scores = [r[5] for r in ens.layer_1.fit_records_
                  if r[1] == p and r[5] is not None]
        assert len(scores) == 2
        assert data["score-m"]["layer-1/ridge--%d" % p] == pytest.approx(
            np.mean(scores), rel=1e-12)
    ens = SuperLearner(folds=2).add(
        {"sc": [Ridge()], "raw": [LinearRegression()]},
        preprocessing={"sc": [StandardScaler()], "raw": []})
    data = ens.fit(X, y).data
    assert data.rows() == ["layer-1/linearregression", "layer-1/sc.ridge"]
    assert str(data).splitlines()[2].split()[:3] == ["layer-1", "sc", "ridge"]


def test_transform_replays_training_and_predicts_new_data():
    X, y = _reg(40)
    X_new = _reg(10, seed=13)[0]
    base = [Ridge(), LinearRegression()]
    ens = SuperLearner(folds=2).add(base)            # no meta: a transformer
    Z = ens.fit_transform(X, y)
    C = _hstack([_cvp(e, X, y, KFold(2)) for e in by_name(base)])
    assert np.array_equal(Z, C)
    assert np.array_equal(ens.transform(X), C)
    T = _hstack([_full(e, X, y, X_new) for e in by_name(base)])
    assert np.array_equal(ens.transform(X_new), T)
    # as the first step of a pipeline: stacking with any final estimator
    pipe = make_pipeline(SuperLearner(folds=2).add(base), LinearRegression())
    pipe.fit(X, y)
    meta = LinearRegression().fit(C, y)
    assert np.array_equal(pipe.predict(X_new), meta.predict(T))


def test_pipeline_step_with_string_labels():
    """An ensemble without a meta layer, whose last layer holds classifiers,
    encodes labels too: it can be a Pipeline step in front of any meta."""
    X, yi = _clf()
    X_new = _clf(20, seed=15)[0]
    y = np.array(["a", "b", "c"])[yi]
    base = [LogisticRegression(), DecisionTreeClassifier(max_depth=3,
                                                         random_state=0)]
    pipe = make_pipeline(SuperLearner(folds=3).add(base, proba=True),
                         LogisticRegression()).fit(X, y)
    ens = SuperLearner(folds=3).add(base, proba=True)
    ens.add_meta(LogisticRegression()).fit(X, y)
    assert np.array_equal(pipe.predict(X_new), ens.predict(X_new))
    assert np.array_equal(pipe.predict_proba(X_new), ens.predict_proba(X_new))


def test_preprocessing_cases():
    X, y = _reg(40)
    X_new = _reg(5, seed=14)[0]
    ens = SuperLearner(folds=2).add(
        {"sc": [Ridge()], "no": [LinearRegression()]},
        preprocessing={"sc": [StandardScaler()]})
    ens.add_meta(LinearRegression()).fit(X, y)
    sc = make_pipeline(StandardScaler(), Ridge())
    # columns by '<case>__<learner>': no__linearregression, sc__ridge
    C = _hstack([_cvp(LinearRegression(), X, y, KFold(2)),
                 _cvp(sc, X, y, KFold(2))])
    assert np.array_equal(ens.oof_predictions_["layer-1"], C)
    meta = LinearRegression().fit(C, y)
    T = _hstack([_full(LinearRegression(), X, y, X_new),
                 _full(sc, X, y, X_new)])
    np.testing.assert_allclose(ens.predict(X_new), meta.predict(T),
                               rtol=1e-12)


def test_named_preprocessing_steps():
    # (name, transformer) pairs, as ML-Ensemble took them: the pipeline of
    # the steps in order, their names in the parameter paths
    from sklearn.decomposition import PCA
    X, y = _reg(40)
    X_new = _reg(5, seed=14)[0]
    ref = make_pipeline(StandardScaler(), PCA(3), Ridge())
    for cases in (False, True):
        steps = [("scale", StandardScaler()), ("pca", PCA(3))]
        pre = {"pc": steps} if cases else steps
        ests = [Ridge()] if isinstance(pre, list) else {"pc": [Ridge()]}
        ens = SuperLearner(folds=2).add(ests, preprocessing=pre)
        ens.fit(X, y)
        # (PCA's transform of a row slice rounds a little differently)
        np.testing.assert_allclose(ens.oof_predictions_["layer-1"],
                                   _cvp(ref, X, y, KFold(2)), rtol=1e-12)
        np.testing.assert_allclose(ens.predict(X_new),
                                   _full(ref, X, y, X_new)[:, 0], rtol=1e-12)
        case = "pr" if isinstance(pre, list) else "pc"
        ens.set_params(**{"layer-1__%s__pca__n_components" % case: 2})
        assert ens.fit(X, y).layer_1.pipelines_[(case, 0, 0)][1] \
            .n_components_ == 2


def test_proba_layer_without_meta_predicts_probabilities():
    # predict is the last layer's output (as in ML-Ensemble): the class
    # probabilities of each learner; with a meta layer of proba=True, its
    # probabilities; with a meta layer without proba, labels
    X, y = _clf()
    X_new = _clf(20, seed=1)[0]
    base = [LogisticRegression(), GaussianNB()]
    for learners in (base[:1], base):
        ens = SuperLearner(folds=3).add(learners, proba=True).fit(X, y)
        T = _hstack([_full(e, X, y, X_new, "predict_proba")
                     for e in by_name(learners)])
        assert np.array_equal(ens.predict(X_new), T)
        assert np.array_equal(ens.transform(X_new), T)
    ens = SuperLearner(folds=3).add(base[:1], proba=True).fit(X, y)
    P = _full(base[0], X, y, X_new, "predict_proba")
    assert ens.score(X_new, y[:20]) == np.mean(
        ens.classes_[P.argmax(axis=1)] == y[:20])
    ens.add_meta(GaussianNB(), proba=True).fit(X, y)
    assert np.array_equal(ens.predict(X_new), ens.predict_proba(X_new))
    ens = SuperLearner(folds=3).add(base[:1], proba=True)
    ens.add_meta(GaussianNB()).fit(X, y)
    assert ens.predict(X_new).shape == (20,)
    assert set(ens.predict(X_new)) <= set(ens.classes_)


def test_partition_estimator_without_get_params():
    # any object with fit and predict assigns the partitions, as in
    # ML-Ensemble; the same partitions as a scikit-learn estimator's
    X, y = _reg(40)
    X_new = _reg(6, seed=3)[0]

    class Sign:
        def fit(self, X, y=None):
            return self

        def predict(self, X):
            return (X[:, 0] > 0).astype(int)

    class SignEstimator(Sign, BaseEstimator):
        pass

    preds = []
    for part in (Sign(), SignEstimator()):
        ens = Subsemble(partitions=2, partition_estimator=part, folds=2)
        ens.add([Ridge()]).add_meta(LinearRegression())
        preds.append(clone(ens).fit(X, y).predict(X_new))
    assert np.array_equal(preds[0], preds[1])


def test_add_replace_remove():
    X, y = _reg(40)
    ens = SuperLearner(folds=2)
    assert ens.add([Ridge(), LinearRegression()]) is ens
    ens.add([Ridge(alpha=3.0)], folds=3).add_meta(LinearRegression())
    assert len(ens.layers) == 3
    assert ens.replace(1, [DecisionTreeRegressor(random_state=0)],
                       folds=4) is ens
    ens.fit(X, y)
    assert [lr.key for lr in ens.layer_2.learners] == ["decisiontreeregressor"]
    assert ens.layer_2.groups[0].indexer.n_splits == 4
    assert ens.remove(1) is ens
    assert len(ens.layers) == 2
    ens.fit(X, y)
    assert len(ens.layers_) == 2 and ens.predict(X).shape == (40,)
    for bad in (lambda: ens.remove(5), lambda: ens.replace(-3, [Ridge()])):
        with pytest.raises(IndexError):
            bad()
    with pytest.warns(UserWarning, match="n_jobs"):
        SuperLearner().add([Ridge()], n_jobs=2)
    with pytest.raises(TypeError, match="unexpected"):
        SuperLearner().add([Ridge()], bogus=1)
    with pytest.raises(LayerSpecificationError, match="unknown layer class"):
        SequentialEnsemble().add("nope", [Ridge()])
    with pytest.raises(LayerSpecificationError, match="duplicate"):
        # numbered as ML-Ensemble numbers them: ridge-1, ridge-1, ridge-2
        SuperLearner().add([("ridge-1", Ridge()), Ridge(), Ridge()]).fit(X, y)


def test_get_set_params_and_clone():
    ens = _stack_clf(random_state=1)
    params = ens.get_params()
    assert params["folds"] == 3 and params["random_state"] == 1
    assert len(params["layers"]) == 2
    ens.set_params(folds=4, n_jobs=1)
    assert ens.folds == 4
    c = clone(ens)
    assert c.layers is not ens.layers and len(c.layers) == 2
    assert c.layers[0].estimators[0] is not ens.layers[0].estimators[0]


def test_learner_class_defined_locally_works_on_loky():
    """A learner whose class plain pickle cannot find (defined in a function
    or in a script's __main__) must still round-trip through loky's on-disk
    cache; before the cache used cloudpickle every fold failed."""
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.linear_model import LinearRegression as _LR
    from mlcore.ensemble import SuperLearner as _SL

    class LocalRidge(RegressorMixin, BaseEstimator):
        def fit(self, X, y):
            self.model_ = _LR().fit(X, y)
            return self

        def predict(self, X):
            return self.model_.predict(X)

    rng = np.random.RandomState(0)
    Xl = rng.randn(60, 3)
    yl = Xl @ [1.0, -2.0, 0.5] + 0.1 * rng.randn(60)
    preds = {}
    for backend in ("sequential", "loky"):
        ens = _SL(folds=3, backend=backend, n_jobs=2)
        ens.add([LocalRidge()]).add_meta(_LR())
        preds[backend] = ens.fit(Xl, yl).predict(Xl)
    np.testing.assert_array_equal(preds["loky"], preds["sequential"])


def test_final_estimator_is_the_meta_fit_on_all_out_of_fold_rows():
    from sklearn.linear_model import LinearRegression, Ridge
    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    y = X @ [1.0, 2.0, -1.0] + rng.rand(60)
    ens = SuperLearner(folds=3, backend="sequential", n_jobs=1)
    ens.add([Ridge(), LinearRegression()]).add_meta(LinearRegression())
    ens.fit(X, y)
    ref = LinearRegression().fit(ens.oof_predictions_["layer-1"], y)
    np.testing.assert_allclose(ens.final_estimator_.coef_, ref.coef_,
                               rtol=1e-12)
    two = SuperLearner(folds=3, backend="sequential", n_jobs=1)
    two.add([Ridge(), LinearRegression()]).fit(X, y)
    with pytest.raises(AttributeError, match="one learner"):
        two.final_estimator_
