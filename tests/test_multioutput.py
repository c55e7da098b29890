"""Multi-output regression and multilabel classification through every
ensemble.

Out-of-fold predictions are checked against ``cross_val_predict`` on the
same ``y`` (one column per output), blends, subsembles and temporal layers
against fits written out by hand, and the column layout of a layer's
output against its documentation: one block per learner (per partition),
one column per output in the order of ``y``'s columns.
"""
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.datasets import make_multilabel_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import KFold, RepeatedKFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVR
from sklearn.tree import DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble, Subsemble,
                             SuperLearner, TemporalEnsemble)
from mlcore.layer import LearnerError

from ._order import by_name


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def _reg(n=60, m=3, seed=0):
    X, Y = make_regression(n, 5, n_informative=4, n_targets=m, noise=5.0,
                           random_state=seed)
    return X, Y


def _labels(n=80, m=3, seed=0):
    X, Y = make_multilabel_classification(n, 6, n_classes=m, n_labels=2,
                                          random_state=seed)
    return X, Y


def _reg_learners():
    return [Ridge(), DecisionTreeRegressor(max_depth=3, random_state=0)]


def _clf_learners():
    return [KNeighborsClassifier(5),
            RandomForestClassifier(5, max_depth=3, random_state=0),
            OneVsRestClassifier(LogisticRegression())]


def _positive(p):
    """Probabilities of label 1 from a multilabel predict_proba."""
    if isinstance(p, list):
        return np.column_stack([q[:, 1] for q in p])
    return p


###############################################################################
# SuperLearner

def test_regression_out_of_fold_predictions_match_cross_val_predict():
    X, Y = _reg()
    X_new = _reg(8, seed=3)[0]
    base = _reg_learners()
    ens = SuperLearner().add(base).add_meta(LinearRegression()).fit(X, Y)
    P = np.hstack([cross_val_predict(e, X, Y, cv=KFold(5)) for e in by_name(base)])
    # layout: learner by learner, one column per output
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    for k in range(Y.shape[1]):   # Ridge fits each output on its own
        np.testing.assert_allclose(
            P[:, 3 + k], cross_val_predict(Ridge(), X, Y[:, k], cv=KFold(5)),
            rtol=1e-10, atol=1e-10)
    meta = LinearRegression().fit(P, Y)
    T = np.hstack([clone(e).fit(X, Y).predict(X_new) for e in by_name(base)])
    assert ens.predict(X_new).shape == (8, 3)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))
    assert ens.n_outputs_ == 3
    assert list(ens.layers_[0].get_feature_names_out()) == [
        "decisiontreeregressor_y0", "decisiontreeregressor_y1",
        "decisiontreeregressor_y2", "ridge_y0", "ridge_y1", "ridge_y2"]
    assert ens.score(X_new, Y[:8]) == r2_score(Y[:8], ens.predict(X_new))


def test_multilabel_probabilities_match_cross_val_predict():
    X, Y = _labels()
    X_new = _labels(10, seed=4)[0]
    base = _clf_learners()
    ens = SuperLearner().add(base, proba=True)
    ens.add_meta(KNeighborsClassifier(3)).fit(X, Y)
    # the default folds of a multilabel y are KFold(5), as cross_val_predict
    # (cv=5) picks them: stratification needs one label per row
    P = np.hstack([_positive(cross_val_predict(e, X, Y, cv=5,
                                               method="predict_proba"))
                   for e in by_name(base)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = KNeighborsClassifier(3).fit(P, Y)
    T = np.hstack([_positive(clone(e).fit(X, Y).predict_proba(X_new))
                   for e in by_name(base)])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))
    assert np.array_equal(ens.predict_proba(X_new),
                          _positive(meta.predict_proba(T)))
    assert np.array_equal(ens.classes_, [0, 1])
    assert ens.score(X, Y) == accuracy_score(Y, ens.predict(X))


def test_multilabel_labels_match_cross_val_predict():
    X, Y = _labels()
    X_new = _labels(10, seed=4)[0]
    base = _clf_learners()
    ens = SuperLearner().add(base).add_meta(KNeighborsClassifier(3))
    ens.fit(X, Y)
    P = np.hstack([cross_val_predict(e, X, Y, cv=5) for e in by_name(base)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = KNeighborsClassifier(3).fit(P, Y)
    T = np.hstack([clone(e).fit(X, Y).predict(X_new) for e in by_name(base)])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))
    # subset accuracy per fold, as scikit-learn's accuracy_score
    folds = list(KFold(5).split(X))
    expected = np.mean([accuracy_score(Y[te], P[te, :3]) for _, te in folds])
    assert ens.data["score-m"]["layer-1/kneighborsclassifier"] == \
        pytest.approx(expected)


def test_multilabel_without_meta_layer_thresholds_probabilities():
    X, Y = _labels()
    X_new = _labels(30, seed=4)[0]
    ens = SuperLearner().add([KNeighborsClassifier(4)], proba=True)
    ens.fit(X, Y)
    p = _positive(KNeighborsClassifier(4).fit(X, Y).predict_proba(X_new))
    assert (p == 0.5).any()   # a tie is label 0: 1 needs more than half
    assert np.array_equal(ens.predict_proba(X_new), p)
    assert np.array_equal(ens.predict(X_new), (p > 0.5).astype(int))


def test_regression_scores_are_the_mean_r2_of_the_outputs():
    X, Y = _reg()
    ens = SuperLearner().add([Ridge()]).fit(X, Y)
    P = ens.oof_predictions_["layer-1"]
    expected = np.mean([r2_score(Y[te], P[te]) for _, te in
                        KFold(5).split(X)])
    assert ens.data["score-m"]["layer-1/ridge"] == pytest.approx(expected)


def test_wrapped_single_output_learner():
    X, Y = _reg()
    est = MultiOutputRegressor(SVR(C=10.0))
    ens = SuperLearner(folds=3).add([est]).fit(X, Y)
    assert np.array_equal(ens.transform(X),
                          cross_val_predict(est, X, Y, cv=KFold(3)))


###############################################################################
# The other ensembles

def _full(est, X, Y, X_new):
    return clone(est).fit(X, Y).predict(X_new)


@pytest.mark.parametrize("refit", [True, False])
def test_blend_equals_fits_on_the_first_rows(refit):
    X, Y = _reg(40)
    X_new = _reg(6, seed=2)[0]
    base = _reg_learners()
    ens = BlendEnsemble(test_size=0.5, refit=refit).add(base)
    ens.add_meta(LinearRegression()).fit(X, Y)
    P = np.hstack([_full(e, X[:20], Y[:20], X[20:]) for e in by_name(base)])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, Y[20:])
    # new data: the refit on all rows, else the fit on the first rows
    rows = slice(0, 40) if refit else slice(0, 20)
    T = np.hstack([_full(e, X[rows], Y[rows], X_new) for e in by_name(base)])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_subsemble_layout_is_learner_partition_output():
    n, parts, k, m = 50, 2, 3, 2
    X, Y = _reg(n, m)
    X_new = _reg(7, m, seed=5)[0]
    base = _reg_learners()
    ens = Subsemble(partitions=parts, folds=k).add(base)
    ens.add_meta(LinearRegression()).fit(X, Y)
    partition = np.array_split(np.arange(n), parts)
    folds = [np.array_split(p, k) for p in partition]
    tests = [np.sort(np.concatenate([f[j] for f in folds])) for j in range(k)]
    P = np.zeros((n, len(base) * parts * m))
    for li, est in enumerate(by_name(base)):
        for i, p in enumerate(partition):
            col = (li * parts + i) * m
            for j in range(k):
                train = np.setdiff1d(p, folds[i][j])
                P[tests[j], col:col + m] = _full(est, X[train], Y[train],
                                                 X[tests[j]])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    assert ens.layers_[0].get_feature_names_out()[:4].tolist() == [
        "decisiontreeregressor_p0_y0", "decisiontreeregressor_p0_y1",
        "decisiontreeregressor_p1_y0", "decisiontreeregressor_p1_y1"]
    meta = LinearRegression().fit(P, Y)
    T = np.hstack([_full(e, X[p], Y[p], X_new) for e in by_name(base)
                   for p in partition])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_temporal_equals_expanding_window_fits():
    n, step, burn_in = 40, 10, 10
    X, Y = _reg(n)
    X_new = _reg(5, seed=6)[0]
    base = [LinearRegression(), Ridge(alpha=2.0)]
    ens = TemporalEnsemble(step_size=step, burn_in=burn_in).add(base)
    ens.add_meta(LinearRegression()).fit(X, Y)
    P = np.zeros((n - burn_in, len(base) * 3))
    for idx in range(burn_in, n, step):
        rows = slice(idx - burn_in, idx - burn_in + step)
        P[rows] = np.hstack([_full(e, X[:idx], Y[:idx], X[idx:idx + step])
                             for e in base])
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, Y[burn_in:])
    T = np.hstack([_full(e, X, Y, X_new) for e in base])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_sequential_stack_then_blend():
    X, Y = _labels(60)
    ens = SequentialEnsemble()
    ens.add("stack", [KNeighborsClassifier(5)], proba=True, folds=3)
    ens.add("blend", [KNeighborsClassifier(3)], test_size=0.5)
    ens.fit(X, Y)
    P1 = _positive(cross_val_predict(KNeighborsClassifier(5), X, Y,
                                     cv=KFold(3), method="predict_proba"))
    assert np.array_equal(ens.oof_predictions_["layer-1"], P1)
    P2 = KNeighborsClassifier(3).fit(P1[:30], Y[:30]).predict(P1[30:])
    assert np.array_equal(ens.oof_predictions_["layer-2"], P2)
    assert np.array_equal(ens.transform(X), P2)


###############################################################################
# With bagged fold models and repeated folds

def test_bagged_repeated_multilabel_averages_probabilities():
    X, Y = _labels()
    X_new = _labels(10, seed=4)[0]
    est = RandomForestClassifier(5, max_depth=3, random_state=0)
    ens = SuperLearner(folds=3, n_repeats=2, refit=False).add(
        [est], random_state=1)
    ens.add_meta(KNeighborsClassifier(3)).fit(X, Y)
    splits = list(RepeatedKFold(n_splits=3, n_repeats=2,
                                random_state=1).split(X))
    oofs, new = [np.zeros(Y.shape), np.zeros(Y.shape)], []
    for i, (train, test) in enumerate(splits):
        model = clone(est).fit(X[train], Y[train])
        oofs[i // 3][test] = _positive(model.predict_proba(X[test]))
        new.append(_positive(model.predict_proba(X_new)))
    # labels: 1 where the averaged probability of 1 exceeds one half
    P = (sum(oofs) / 2 > 0.5).astype(float)
    T = (sum(new) / 6 > 0.5).astype(float)
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = KNeighborsClassifier(3).fit(P, Y)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_bagged_multi_output_regression():
    X, Y = _reg()
    X_new = _reg(8, seed=3)[0]
    base = _reg_learners()
    ens = SuperLearner(folds=3, refit=False).add(base).fit(X, Y)
    T = np.hstack([sum(_full(e, X[tr], Y[tr], X_new) for tr, _ in
                       KFold(3).split(X)) / 3 for e in by_name(base)])
    assert np.array_equal(ens.predict(X_new), T)


###############################################################################
# Targets the ensembles refuse, and learners that cannot do multi-output

class _OneOutput(BaseEstimator, RegressorMixin):
    """A learner without tags that fits a 2-D y but predicts one column."""

    def fit(self, X, y):
        self.mean_ = np.mean(y)
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.mean_)


def test_single_output_learner_is_refused_before_any_fit():
    X, Y = _labels()
    ens = SuperLearner().add([KNeighborsClassifier(), LogisticRegression()])
    ens.add_meta(KNeighborsClassifier())
    with pytest.raises(ValueError, match="'logisticregression' of layer-1.*"
                       "MultiOutputClassifier"):
        ens.fit(X, Y)
    X, Y = _reg()
    with pytest.raises(ValueError, match="'svr' of layer-2.*"
                       "MultiOutputRegressor"):
        SuperLearner().add([Ridge()]).add_meta(SVR()).fit(X, Y)


def test_learner_predicting_one_column_names_itself():
    X, Y = _reg()
    ens = SuperLearner(folds=2).add([Ridge(), _OneOutput()])
    with pytest.raises(LearnerError, match="'_oneoutput'.*fold.*3 outputs"):
        ens.fit(X, Y)


def test_multiclass_multioutput_is_refused():
    X, _ = _reg()
    Y = np.column_stack([np.arange(60) % 3, np.arange(60) % 2])
    ens = SuperLearner().add([KNeighborsClassifier()])
    ens.add_meta(KNeighborsClassifier())
    with pytest.raises(ValueError, match="multilabel indicator"):
        ens.fit(X, Y)


def test_one_column_y_is_a_single_output():
    X, Y = _reg(m=1)
    ens = SuperLearner().add([Ridge()]).add_meta(LinearRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataConversionWarning)
        flat = clone(ens).fit(X, Y).predict(X)
    with pytest.warns(DataConversionWarning):
        col = ens.fit(X, Y.reshape(-1, 1)).predict(X)
    assert ens.n_outputs_ == 1 and col.shape == (60,)
    assert np.array_equal(flat, col)
