"""Bagged fold models (``refit=False``) and repeated folds (``n_repeats``).

Every case is checked against the computation written out by hand with
scikit-learn: a loop over ``KFold`` (or ``RepeatedKFold``,
``RepeatedStratifiedKFold``) splits that fits clones of the learners,
collects their out-of-fold predictions, and averages the fold models'
predictions (class probabilities for classifiers) for new data. The
estimators are deterministic and the averages are summed in fold order, so
the comparisons are exact.
"""
import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import (LinearRegression, LogisticRegression,
                                  Ridge, RidgeClassifier)
from sklearn.model_selection import (KFold, RepeatedKFold,
                                     RepeatedStratifiedKFold, StratifiedKFold)
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble, Subsemble,
                             SuperLearner, TemporalEnsemble)
from mlcore.exceptions import LayerSpecificationError
from mlcore.index import FoldIndex, SplitterIndex, repeat_folds
from mlcore.layer import LearnerError

from ._order import by_name


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def _reg(n=60, seed=0):
    return make_regression(n, 5, n_informative=4, noise=5.0,
                           random_state=seed)


def _clf(n=90, seed=0):
    return make_classification(n, 6, n_informative=4, n_classes=3,
                               random_state=seed)


def _reg_learners():
    return [Ridge(), DecisionTreeRegressor(max_depth=3, random_state=0)]


def _clf_learners():
    return [LogisticRegression(), GaussianNB(),
            DecisionTreeClassifier(max_depth=2, random_state=0)]


class _FitLog(BaseEstimator, RegressorMixin):
    """Ridge that records how many rows each of its fits saw."""

    rows = []

    def fit(self, X, y):
        _FitLog.rows.append(X.shape[0])
        self.model_ = Ridge().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _reference(learners, X, y, X_new, splits, n_repeats, method="predict"):
    """Out-of-fold predictions (averaged over repeats) and the average of
    the fold models' predictions of ``X_new``, by hand: one block of
    columns per learner. ``method='vote'``: labels from averaged class
    probabilities, as positions in the learners' ``classes_``."""
    def block(model, rows):
        if method == "predict":
            return model.predict(rows).reshape(-1, 1)
        return model.predict_proba(rows)

    def labels(p):
        return p if method != "vote" else p.argmax(axis=1).reshape(-1, 1)

    oof, new = [], []
    for est in by_name(learners):  # the layer's column order
        new_blocks = []
        per_repeat = len(splits) // n_repeats
        repeats = []
        for r in range(n_repeats):
            P = None
            for train, test in splits[r * per_repeat:(r + 1) * per_repeat]:
                model = clone(est).fit(X[train], y[train])
                b = block(model, X[test]) if method != "vote" else \
                    model.predict_proba(X[test])
                if P is None:
                    P = np.zeros((len(y), b.shape[1]))
                P[test] = b
                new_blocks.append(block(model, X_new) if method != "vote"
                                  else model.predict_proba(X_new))
            repeats.append(P)
        oof.append(labels(sum(repeats) / n_repeats))
        new.append(labels(sum(new_blocks) / len(new_blocks)))
    return np.hstack(oof), np.hstack(new)


###############################################################################
# refit=False: the average of the fold models predicts

def test_refit_false_regression_equals_averaged_fold_models():
    X, y = _reg()
    X_new = _reg(9, seed=4)[0]
    _FitLog.rows = []
    learners = _reg_learners() + [_FitLog()]
    ens = SuperLearner(folds=3, refit=False).add(learners)
    ens.add_meta(LinearRegression()).fit(X, y)
    fits = list(_FitLog.rows)
    splits = list(KFold(3).split(X))
    P, T = _reference(learners, X, y, X_new, splits, 1)
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, y)
    assert np.array_equal(ens.final_estimator_.coef_, meta.coef_)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))
    # no fit on all rows: three fold fits of 40 rows (the meta layer has
    # its own learner)
    assert sorted(fits) == [40, 40, 40]
    assert all(fold for _, _, fold in ens.layers_[0].estimators_)
    assert np.array_equal(pickle.loads(pickle.dumps(ens)).predict(X_new),
                          meta.predict(T))
    # the refitted ensemble predicts with its full fits instead
    full = SuperLearner(folds=3).add(_reg_learners())
    full.add_meta(LinearRegression()).fit(X, y)
    assert not np.array_equal(full.predict(X_new), ens.predict(X_new))


def test_refit_false_probabilities_are_averaged():
    X, y = _clf()
    X_new = _clf(12, seed=3)[0]
    learners = _clf_learners()
    ens = SuperLearner(folds=4, refit=False).add(learners, proba=True)
    ens.add_meta(LogisticRegression()).fit(X, y)
    P, T = _reference(learners, X, y, X_new, list(KFold(4).split(X)), 1,
                      method="predict_proba")
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LogisticRegression().fit(P, y)
    assert np.array_equal(ens.predict_proba(X_new), meta.predict_proba(T))
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_refit_false_labels_come_from_averaged_probabilities():
    X, y = _clf()
    labels = np.array(["a", "b", "c"])[y]   # text labels: positions pass on
    X_new = _clf(15, seed=7)[0]
    learners = [DecisionTreeClassifier(max_depth=2, random_state=0),
                GaussianNB()]
    ens = SuperLearner(folds=3, refit=False).add(learners)
    ens.add_meta(DecisionTreeClassifier(random_state=0)).fit(X, labels)
    splits = list(KFold(3).split(X))
    _, T = _reference(learners, X, labels, X_new, splits, 1, method="vote")
    L = np.empty((len(y), 2), dtype=object)
    for j, est in enumerate(learners):
        for train, test in splits:
            L[test, j] = clone(est).fit(X[train], labels[train]).predict(
                X[test])
    assert np.array_equal(ens.oof_predictions_["layer-1"], L)
    P = np.searchsorted(ens.classes_, L.astype(str)).astype(float)
    meta = DecisionTreeClassifier(random_state=0).fit(P, labels)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_refit_false_classifier_without_predict_proba_votes():
    X, y = _clf()
    X_new = _clf(20, seed=9)[0]
    est = RidgeClassifier(alpha=50.0)
    ens = SuperLearner(folds=2, refit=False).add([est])
    ens.add_meta(DecisionTreeClassifier(random_state=0)).fit(X, y)
    P = np.zeros((len(y), 1))
    votes = np.zeros((len(X_new), 3))
    for train, test in KFold(2).split(X):
        model = clone(est).fit(X[train], y[train])
        P[test, 0] = model.predict(X[test])
        votes[np.arange(len(X_new)), model.predict(X_new)] += 1
    assert (votes.max(axis=1) == 1).any()   # the two fold models disagree
    # the most frequent label, the first class on a tie
    T = votes.argmax(axis=1).reshape(-1, 1).astype(float)
    meta = DecisionTreeClassifier(random_state=0).fit(P, y)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_refit_false_per_layer_and_on_the_meta_layer():
    X, y = _reg()
    X_new = _reg(9, seed=4)[0]
    ens = SequentialEnsemble().add("stack", _reg_learners(), folds=3,
                                   refit=False)
    ens.add("stack", [LinearRegression()], folds=3)   # keeps its full fit
    ens.fit(X, y)
    splits = list(KFold(3).split(X))
    P, T = _reference(_reg_learners(), X, y, X_new, splits, 1)
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    assert ("linearregression", 0, 0) in ens.layers_[1].estimators_
    full = LinearRegression().fit(P, y)
    assert np.array_equal(ens.predict(X_new), full.predict(T))
    # add_meta(refit=False): the meta layer's fold models average too
    ens = SuperLearner(folds=3).add(_reg_learners())
    ens.add_meta(LinearRegression(), refit=False).fit(X, y)
    T2 = np.zeros((len(X_new), 2))
    for j, est in enumerate(by_name(_reg_learners())):
        T2[:, j] = clone(est).fit(X, y).predict(X_new)
    P2 = ens.oof_predictions_["layer-1"]
    ref = sum(LinearRegression().fit(P2[tr], y[tr]).predict(T2)
              for tr, _ in splits) / 3
    assert np.array_equal(ens.predict(X_new), ref)
    with pytest.raises(AttributeError, match="refit=False"):
        ens.final_estimator_


def test_subsemble_refit_false_averages_each_partition():
    n, parts, k = 50, 2, 3
    X, y = _reg(n)
    X_new = _reg(9, seed=5)[0]
    base = _reg_learners()
    ens = Subsemble(partitions=parts, folds=k, refit=False).add(base)
    ens.add_meta(LinearRegression()).fit(X, y)
    refitted = Subsemble(partitions=parts, folds=k).add(base)
    refitted.add_meta(LinearRegression()).fit(X, y)
    assert np.array_equal(ens.oof_predictions_["layer-1"],
                          refitted.oof_predictions_["layer-1"])
    partition = np.array_split(np.arange(n), parts)
    folds = [np.array_split(p, k) for p in partition]
    T = np.zeros((len(X_new), len(base) * parts))
    for li, est in enumerate(by_name(base)):
        for i, p in enumerate(partition):
            preds = [clone(est).fit(X[np.setdiff1d(p, f)],
                                    y[np.setdiff1d(p, f)]).predict(X_new)
                     for f in folds[i]]
            T[:, li * parts + i] = sum(preds) / k
    meta = LinearRegression().fit(ens.oof_predictions_["layer-1"], y)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_temporal_refit_false_averages_the_window_models():
    X, y = _reg(30)
    X_new = _reg(5, seed=8)[0]
    ens = TemporalEnsemble(step_size=10, burn_in=10)
    ens.add([LinearRegression()], refit=False).fit(X, y)
    ref = (LinearRegression().fit(X[:10], y[:10]).predict(X_new)
           + LinearRegression().fit(X[:20], y[:20]).predict(X_new)) / 2
    assert np.array_equal(ens.predict(X_new), ref)


class _FailsOnNewData(BaseEstimator, RegressorMixin):
    """Ridge whose model fitted on exactly 40 rows cannot predict new
    data (any other number of rows than its out-of-fold 21)."""

    def fit(self, X, y):
        self.n_train_ = X.shape[0]
        self.model_ = Ridge().fit(X, y)
        return self

    def predict(self, X):
        if self.n_train_ == 40 and X.shape[0] != 21:
            raise ValueError("cannot predict")
        return self.model_.predict(X)


def test_a_failing_fold_model_names_learner_and_fold():
    X, y = _reg(61)                    # folds of 21, 20, 20 rows
    ens = SuperLearner(folds=3, refit=False).add([_FailsOnNewData()]).fit(
        X, y)
    with pytest.raises(LearnerError, match="'_failsonnewdata' failed on "
                       "partition 0, fold 1 during predict"):
        ens.predict(X[:5])


def test_refit_false_needs_fold_models():
    X, y = _reg()
    # a blend layer without refit predicts with its training-part fit
    # (see test_ensemble.test_blend_equals_holdout_fit)
    ens = BlendEnsemble().add(_reg_learners(), refit=False)
    assert sorted(f for _, _, f in ens.fit(X, y).layers_[0].estimators_) \
        == [0] * len(_reg_learners())
    ens = BlendEnsemble().add(_reg_learners())
    ens.add_meta(LinearRegression(), refit=False)
    with pytest.raises(LayerSpecificationError, match="no fold models"):
        ens.fit(X, y)


###############################################################################
# n_repeats: repeated shuffled folds, averaged

def test_repeated_folds_average_out_of_fold_predictions():
    X, y = _reg()
    X_new = _reg(9, seed=4)[0]
    learners = _reg_learners()
    ens = SuperLearner(folds=3).add(learners, n_repeats=3, random_state=7)
    ens.add_meta(LinearRegression()).fit(X, y)
    splits = list(RepeatedKFold(n_splits=3, n_repeats=3,
                                random_state=7).split(X))
    P, _ = _reference(learners, X, y, X_new, splits, 3)
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, y)
    T = np.column_stack([clone(e).fit(X, y).predict(X_new)
                         for e in by_name(learners)])
    assert np.array_equal(ens.predict(X_new), meta.predict(T))
    assert len([k for k in ens.layers_[0].estimators_ if k[2]]) == 18
    assert sorted(ens.data_table()["score-m"]) == [
        "layer-1/decisiontreeregressor", "layer-1/ridge",
        "layer-2/linearregression"]


def test_repeated_folds_with_bagged_models():
    X, y = _reg()
    X_new = _reg(9, seed=4)[0]
    learners = _reg_learners()
    ens = SuperLearner(folds=3, n_repeats=2, refit=False, random_state=0)
    ens.add(learners, random_state=11).add_meta(LinearRegression()).fit(X, y)
    splits = list(RepeatedKFold(n_splits=3, n_repeats=2,
                                random_state=11).split(X))
    P, T = _reference(learners, X, y, X_new, splits, 2)
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LinearRegression().fit(P, y)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))
    # the meta layer is neither repeated nor bagged by the ensemble's
    # settings
    assert ("linearregression", 0, 0) in ens.layers_[1].estimators_


def test_repeated_stratified_folds_average_probabilities():
    X, y = _clf()
    X_new = _clf(10, seed=2)[0]
    learners = _clf_learners()
    ens = SuperLearner(n_repeats=2, refit=False)   # StratifiedKFold(5)
    ens.add(learners, proba=True, random_state=3)
    ens.add_meta(LogisticRegression()).fit(X, y)
    splits = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=2,
                                          random_state=3).split(X, y))
    P, T = _reference(learners, X, y, X_new, splits, 2,
                      method="predict_proba")
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LogisticRegression().fit(P, y)
    assert np.array_equal(ens.predict_proba(X_new), meta.predict_proba(T))


def test_repeated_folds_of_label_classifiers_vote_by_probability():
    X, y = _clf()
    X_new = _clf(10, seed=2)[0]
    learners = [DecisionTreeClassifier(max_depth=2, random_state=0)]
    ens = SuperLearner(folds=3, n_repeats=3, refit=False).add(
        learners, random_state=5)
    ens.add_meta(LogisticRegression()).fit(X, y)
    splits = list(RepeatedKFold(n_splits=3, n_repeats=3,
                                random_state=5).split(X))
    P, T = _reference(learners, X, y, X_new, splits, 3, method="vote")
    assert np.array_equal(ens.oof_predictions_["layer-1"], P)
    meta = LogisticRegression().fit(P, y)
    assert np.array_equal(ens.predict(X_new), meta.predict(T))


def test_repeated_splitter_as_folds_and_seed_from_the_ensemble():
    X, y = _reg()
    cv = RepeatedKFold(n_splits=4, n_repeats=2, random_state=1)
    ens = SuperLearner(folds=cv).add(_reg_learners()).fit(X, y)
    P, _ = _reference(_reg_learners(), X, y, X[:2], list(cv.split(X)), 2)
    assert np.array_equal(ens.transform(X), P)
    # seeded from random_state: the same seed gives the same shuffles
    a = SuperLearner(folds=3, n_repeats=2, random_state=4).add(
        _reg_learners()).fit(X, y)
    b = SuperLearner(folds=3, n_repeats=2, random_state=4).add(
        _reg_learners()).fit(X, y)
    c = SuperLearner(folds=3, n_repeats=2, random_state=5).add(
        _reg_learners()).fit(X, y)
    assert np.array_equal(a.transform(X), b.transform(X))
    assert not np.array_equal(a.transform(X), c.transform(X))


@pytest.mark.parametrize("backend", ["sequential", "loky"])
def test_bagging_is_the_same_on_every_backend(backend):
    X, y = _clf()
    X_new = _clf(10, seed=2)[0]
    out = []
    for b in ("threading", backend):
        ens = SuperLearner(folds=3, n_repeats=2, refit=False, random_state=0,
                           backend=b, n_jobs=2)
        ens.add(_clf_learners()[:2], proba=True)
        ens.add([DecisionTreeClassifier(max_depth=2, random_state=0)])
        ens.add_meta(LogisticRegression()).fit(X, y)
        out.append((ens.transform(X), ens.predict_proba(X_new)))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1])


def test_handback_mode_equals_in_place_writes():
    from mlcore.backend import ParallelProcessing
    from mlcore.layer import Layer, make_group
    X, y = _reg()
    out = []
    for handback in (False, True):
        indexer = repeat_folds(FoldIndex(3), 2, random_state=0)
        layer = Layer("layer-1", [make_group(indexer, _reg_learners())],
                      refit=False)
        layer.handback = handback
        with ParallelProcessing("threading", 2) as engine:
            P = engine.stack([layer], "fit", X, y, return_preds=True)
            R = engine.stack([layer], "transform", X, return_preds=True)
            Q = engine.stack([layer], "predict", X[:7], return_preds=True)
        out.append((P, R, Q))
    for a, b in zip(*out):
        assert np.array_equal(a, b)
    assert np.array_equal(out[0][0], out[0][1])   # transform replays fit


def test_bad_settings_are_refused():
    X, y = _reg()
    with pytest.raises(LayerSpecificationError, match="refit"):
        SuperLearner().add(_reg_learners(), refit="no")
    with pytest.raises(LayerSpecificationError, match="n_repeats"):
        SuperLearner().add(_reg_learners(), n_repeats=0)
    with pytest.raises(LayerSpecificationError, match="n_repeats"):
        SuperLearner(n_repeats=1.5).add(_reg_learners()).fit(X, y)
    for ens in (Subsemble().add(_reg_learners(), n_repeats=2),
                BlendEnsemble().add(_reg_learners(), n_repeats=2),
                TemporalEnsemble(step_size=10).add(_reg_learners(),
                                                   n_repeats=2),
                SuperLearner(folds=RepeatedKFold(n_splits=3)).add(
                    _reg_learners(), n_repeats=2)):
        with pytest.raises(LayerSpecificationError, match="n_repeats=2"):
            ens.fit(X, y)


def test_repeat_folds_uses_scikit_learns_repeated_splitters():
    index = FoldIndex(3)
    assert repeat_folds(index, 1) is index
    idx = repeat_folds(SplitterIndex(StratifiedKFold(4)), 3, random_state=2)
    assert isinstance(idx.cv, RepeatedStratifiedKFold)
    assert idx.cv.n_repeats == 3 and idx.cv.cvargs["n_splits"] == 4
    idx = repeat_folds(SplitterIndex(KFold(5, shuffle=True)), 2, 9)
    assert isinstance(idx.cv, RepeatedKFold)
    assert idx.cv.cvargs["n_splits"] == 5 and idx.cv.random_state == 9
