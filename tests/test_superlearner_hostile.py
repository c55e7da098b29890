"""The Super Learner toolkit under hostile use, against independent
references.

* learner_contributions: a full refit of the ensemble without each learner
  (meta preprocessing, bagged ``refit=False`` layers, label layers with
  numeric and text labels, sample weights, multi-output ``y``) and
  ``sklearn.model_selection.cross_val_score`` of the meta learner on the
  stored out-of-fold columns (a given ``scoring``).
* the orientation of contributions: a loss and its negated scikit-learn
  scorer give the same contributions.
* permutation_importance: ``sklearn.inspection.permutation_importance``
  with sample weights and with a 2-D ``y``.
* cross_validate_ensemble: a plain loop over the outer folds (sample
  weights, metric callables, a 2-D ``y``).
* the mlcore.meta classifiers on a ``y`` that lacks a class: the same fit
  with the missing class present at zero sample weight; in an ensemble,
  the meta layer's fold fits written out by hand.
* risk_table and meta_weights names: the rows of ``ens.data``.
* n_repeats with a seeded splitter: ``RepeatedKFold`` with that seed.
"""
import os

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin, clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa
from sklearn.inspection import permutation_importance as sk_importance  # noqa
from sklearn.linear_model import (LinearRegression,  # noqa: E402
                                  LogisticRegression, Ridge)
from sklearn.metrics import (get_scorer, mean_absolute_error,  # noqa: E402
                             r2_score)
from sklearn.model_selection import (KFold, RepeatedKFold,  # noqa: E402
                                     RepeatedStratifiedKFold,
                                     StratifiedKFold, cross_val_score)
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVR  # noqa: E402
from sklearn.tree import (DecisionTreeClassifier,  # noqa: E402
                          DecisionTreeRegressor)

from mlcore import meta as M  # noqa: E402
from mlcore.ensemble import Subsemble, SuperLearner  # noqa: E402
from mlcore.exceptions import WorkerDiedError  # noqa: E402
from mlcore.inspection import (learner_contributions,  # noqa: E402
                               meta_weights, permutation_importance)
from mlcore.model_selection import cross_validate_ensemble  # noqa: E402
from mlcore.risk import risk_table  # noqa: E402
from tests.test_superlearner import classification, learners_c  # noqa


def learners_r():
    return [("ridge", Ridge()), ("tree", DecisionTreeRegressor(
        max_depth=4, random_state=0)), ("lin", LinearRegression())]


def meta_score(ens):
    """The meta learner's cross-validated score that the fit recorded."""
    table = ens.risk_table()
    return table.loc[table.index[-1], "mean"]


def check_against_refits(build, learners, X, y, **fit):
    """learner_contributions of ``build(learners)`` equal to full refits
    of ``build`` without each learner; the table."""
    ens = build(learners).fit(X, y, **fit)
    table = learner_contributions(ens, y, sample_weight=fit.get(
        "sample_weight"))
    assert table.attrs["baseline"] == meta_score(ens)
    for name, _ in learners:
        ref = build([le for le in learners if le[0] != name]).fit(X, y,
                                                                  **fit)
        assert table.loc[name, "score_without"] == meta_score(ref), name
        assert table.loc[name, "contribution"] == \
            table.attrs["baseline"] - meta_score(ref)
    return table


###############################################################################
# learner contributions: refits as the fit did them

def test_contributions_refit_the_meta_layers_preprocessing():
    X, y = classification()

    def build(learners):
        ens = SuperLearner(random_state=0, n_jobs=2)
        ens.add(learners, proba=True)
        # a strongly regularised meta learner: scaling its input matters
        return ens.add_meta(LogisticRegression(C=0.05),
                            preprocessing=[StandardScaler()])

    check_against_refits(build, learners_c(), X, y)


@pytest.mark.parametrize("labels, proba", [
    (np.array([3, 7]), False), (np.array(["no", "yes"]), False),
    (np.array(["no", "yes"]), True)])
def test_contributions_of_bagged_layers_and_label_layers(labels, proba):
    X, y = classification()
    y = labels[y]

    def build(learners):
        ens = SuperLearner(random_state=0, n_jobs=2)
        ens.add(learners, proba=proba, refit=False)
        return ens.add_meta(LogisticRegression())

    check_against_refits(build, learners_c(), X, y)


def test_contributions_with_the_fits_sample_weights():
    X, y = make_regression(160, 6, noise=5.0, random_state=1)
    w = np.random.RandomState(0).uniform(0.1, 3.0, len(y))

    def build(learners):
        ens = SuperLearner(random_state=0, folds=4, n_jobs=2)
        return ens.add(learners).add_meta(M.NNLSRegressor())

    check_against_refits(build, learners_r(), X, y, sample_weight=w)
    ens = build(learners_r()).fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="fitted with sample_weight"):
        learner_contributions(ens, y)
    with pytest.raises(ValueError, match="differs"):
        learner_contributions(ens, y, sample_weight=w[::-1])
    plain = build(learners_r()).fit(X, y)
    with pytest.raises(ValueError, match="without sample_weight"):
        learner_contributions(plain, y, sample_weight=w)


def test_contributions_on_a_multi_output_y():
    X, y = make_regression(150, 5, n_targets=2, noise=3.0, random_state=0)

    def build(learners):
        ens = SuperLearner(random_state=0, folds=3, n_jobs=2)
        return ens.add(learners).add_meta(LinearRegression())

    check_against_refits(build, learners_r(), X, y)
    with pytest.raises(ValueError, match="shape"):
        learner_contributions(build(learners_r()).fit(X, y), y[:, 0])


###############################################################################
# learner contributions: positive means the learner helps, for every scorer

def test_contributions_of_a_loss_are_oriented_like_its_negated_scorer():
    X, y = make_regression(160, 6, noise=5.0, random_state=1)
    ens = SuperLearner(random_state=0, folds=4, n_jobs=2,
                       scorer=mean_absolute_error)
    ens.add(learners_r()).add_meta(LinearRegression()).fit(X, y)
    own = learner_contributions(ens, y)  # the layer's MAE: a loss
    assert own.attrs["baseline"] == meta_score(ens)
    assert own.attrs["greater_is_better"] is False
    np.testing.assert_array_equal(own["contribution"],
                                  own["score_without"] - meta_score(ens))
    neg = learner_contributions(ens, y, scoring="neg_mean_absolute_error")
    metric = learner_contributions(ens, y, scoring=mean_absolute_error)
    explicit = learner_contributions(ens, y, scoring=lambda t, p: float(
        np.mean(np.abs(t - p))), greater_is_better=False)
    for other in (neg, metric, explicit):
        np.testing.assert_allclose(other["contribution"],
                                   own["contribution"], rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(other["score_without"],
                                   -own["score_without"], rtol=1e-12)
    # the stored out-of-fold predictions, scored by scikit-learn itself
    Z = ens.oof_predictions_["layer-1"]
    # (the columns are in the order of the learners' names)
    for i, name in enumerate(ens.layer_1.get_feature_names_out()):
        ref = cross_val_score(LinearRegression(), np.delete(Z, i, axis=1), y,
                              cv=KFold(4), scoring="neg_mean_absolute_error")
        assert neg.loc[name, "score_without"] == pytest.approx(ref.mean(),
                                                               rel=1e-12)
    # the learner the meta learner leans on has a positive contribution
    assert own.loc["lin", "contribution"] > 0


def test_contributions_with_a_probability_scorer_equal_cross_val_score():
    X, y = classification()
    ens = SuperLearner(random_state=0, n_jobs=2).add(learners_c(), proba=True)
    ens.add_meta(LogisticRegression()).fit(X, y)
    table = learner_contributions(ens, y, scoring="neg_log_loss")
    Z = ens.oof_predictions_["layer-1"]
    full = cross_val_score(LogisticRegression(), Z, y, cv=StratifiedKFold(5),
                           scoring="neg_log_loss").mean()
    assert table.attrs["baseline"] == pytest.approx(full, rel=1e-12)
    for i, name in enumerate(["lr", "nb", "tree"]):
        ref = cross_val_score(LogisticRegression(),
                              np.delete(Z, [2 * i, 2 * i + 1], axis=1), y,
                              cv=StratifiedKFold(5),
                              scoring="neg_log_loss").mean()
        assert table.loc[name, "score_without"] == pytest.approx(ref,
                                                                 rel=1e-12)
        assert table.loc[name, "contribution"] == pytest.approx(
            full - ref, rel=1e-9, abs=1e-12)


def test_contributions_and_weights_of_degenerate_ensembles():
    X, y = classification()
    one = SuperLearner(random_state=0, n_jobs=1).add(learners_c()[:1],
                                                     proba=True)
    one.add_meta(LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="only input"):
        learner_contributions(one, y)
    flat = SuperLearner(random_state=0, n_jobs=1).add(learners_c(),
                                                      proba=True).fit(X, y)
    with pytest.raises(ValueError, match="meta_weights.*1 layer"):
        meta_weights(flat)
    single = SuperLearner(random_state=0, n_jobs=1).add(
        [LogisticRegression()]).fit(X, y)
    with pytest.raises(ValueError, match="meta_weights.*1 layer"):
        meta_weights(single)
    Xr, yr = make_regression(100, 5, n_targets=2, random_state=0)
    multi = SuperLearner(random_state=0, n_jobs=1).add(learners_r()[:2])
    multi.add_meta(LinearRegression()).fit(Xr, yr)
    with pytest.raises(ValueError, match=r"meta_weights.*shape \(2, 4\)"):
        meta_weights(multi)


###############################################################################
# permutation importance and nested cross-validation

def test_permutation_importance_sample_weight_and_2d_y_equal_scikit_learn():
    X, y = make_regression(200, 5, n_targets=2, noise=3.0, random_state=0)
    w = np.random.RandomState(1).uniform(0.1, 2.0, 200)
    ens = SuperLearner(random_state=0, folds=3, n_jobs=2).add(learners_r())
    ens.add_meta(LinearRegression()).fit(X[:120], y[:120])
    for scoring, weights in (("r2", w[120:]), (None, None)):
        mine = permutation_importance(ens, X[120:], y[120:], scoring=scoring,
                                      n_repeats=3, random_state=2,
                                      sample_weight=weights)
        ref = sk_importance(ens, X[120:], y[120:], scoring=scoring,
                            n_repeats=3, random_state=2,
                            sample_weight=weights)
        np.testing.assert_array_equal(
            mine[["repeat_1", "repeat_2", "repeat_3"]].to_numpy(),
            ref.importances)
    # a metric f(y_true, y_pred) is scored as its scorer
    metric = permutation_importance(ens, X[120:], y[120:], scoring=r2_score,
                                    n_repeats=2, random_state=0)
    named = permutation_importance(ens, X[120:], y[120:], scoring="r2",
                                   n_repeats=2, random_state=0)
    pd.testing.assert_frame_equal(metric, named)


def plain_loop(ens, X, y, outer, scorer, w=None):
    """Outer-fold scores of the ensemble and its base learners, fitted and
    scored with the fold's sample weights."""
    rows = []
    for tr, te in outer.split(X, y):
        fit = {} if w is None else {"sample_weight": w[tr]}
        kw = {} if w is None else {"sample_weight": w[te]}
        model = clone(ens).fit(X[tr], y[tr], **fit)
        row = {"ensemble": scorer(model, X[te], y[te], **kw)}
        for name, est in ens.layers[0].estimators:
            row[name] = scorer(clone(est).fit(X[tr], y[tr], **fit), X[te],
                               y[te], **kw)
        rows.append(row)
    return rows


def test_nested_cv_sample_weight_equals_plain_loop():
    X, y = make_regression(150, 6, noise=5.0, random_state=1)
    w = np.random.RandomState(0).uniform(0.1, 3.0, len(y))
    ens = SuperLearner(random_state=0, folds=3, n_jobs=2).add(learners_r())
    ens.add_meta(M.NNLSRegressor())
    res = cross_validate_ensemble(ens, X, y, cv=3, sample_weight=w)
    scorer = get_scorer("r2")
    for i, row in enumerate(plain_loop(ens, X, y, KFold(3), scorer, w)):
        for col, value in row.items():
            assert res.scores.iloc[i][col] == value, (i, col)
    unweighted = cross_validate_ensemble(ens, X, y, cv=3)
    assert not np.array_equal(unweighted.scores["ensemble"],
                              res.scores["ensemble"])


def test_nested_cv_metric_callable_and_2d_y_equal_plain_loop():
    X, y = make_regression(150, 5, n_targets=2, noise=3.0, random_state=0)
    ens = SuperLearner(random_state=0, folds=3, n_jobs=2)
    ens.add(learners_r()[:2]).add_meta(LinearRegression())
    res = cross_validate_ensemble(ens, X, y, cv=3,
                                  scoring=mean_absolute_error)
    named = cross_validate_ensemble(ens, X, y, cv=3,
                                    scoring="neg_mean_absolute_error")
    pd.testing.assert_frame_equal(res.scores, named.scores)
    scorer = get_scorer("neg_mean_absolute_error")
    for i, row in enumerate(plain_loop(ens, X, y, KFold(3), scorer)):
        for col, value in row.items():
            assert res.scores.iloc[i][col] == value, (i, col)
    # the discrete Super Learner: the learner with the best inner score
    for i, (tr, _) in enumerate(KFold(3).split(X)):
        model = clone(ens).fit(X[tr], y[tr])
        oof = model.oof_predictions_["layer-1"]
        inner = {"ridge": -mean_absolute_error(y[tr], oof[:, :2]),
                 "tree": -mean_absolute_error(y[tr], oof[:, 2:])}
        assert res.inner_scores.iloc[i].to_dict() == pytest.approx(inner,
                                                                   rel=1e-12)
        assert res.chosen.iloc[i] == max(inner, key=inner.get)


def test_scoring_kinds_and_refusals():
    X, y = classification(90)
    ens = SuperLearner(random_state=0, n_jobs=1).add(learners_c()[:2],
                                                     proba=True)
    ens.add_meta(LogisticRegression())

    def my_scorer(estimator, X, y):  # a scorer, not a metric
        return float(np.mean(estimator.predict(X) == y))

    a = cross_validate_ensemble(ens, X, y, cv=2, scoring=my_scorer)
    b = cross_validate_ensemble(ens, X, y, cv=2, scoring="accuracy")
    pd.testing.assert_frame_equal(a.scores, b.scores)
    with pytest.raises(ValueError, match="greater_is_better"):
        cross_validate_ensemble(ens, X, y, cv=2, scoring="accuracy",
                                greater_is_better=False)
    with pytest.raises(ValueError, match="greater_is_better"):
        cross_validate_ensemble(ens, X, y, cv=2, scoring=my_scorer,
                                greater_is_better=False)
    with pytest.raises(ValueError, match="sample_weight"):
        cross_validate_ensemble(ens, X, y, cv=2, sample_weight=np.ones(3))


class DiesOnMarkedRow(ClassifierMixin, BaseEstimator):
    """Ends its worker process when its training rows hold the marked
    row."""

    def fit(self, X, y):
        if (np.asarray(X)[:, 0] == 999.0).any():
            os._exit(7)
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_nested_cv_worker_death_names_its_outer_fold(backend):
    X, y = classification(120)
    X[0, 0] = 999.0  # a training row of outer fold 2 only
    ens = SuperLearner(random_state=0, n_jobs=2, backend=backend)
    ens.add([("dies", DiesOnMarkedRow()), ("nb", GaussianNB())], proba=True)
    ens.add_meta(LogisticRegression())
    with pytest.raises(WorkerDiedError, match="learner 'dies'") as info:
        cross_validate_ensemble(ens, X, y, cv=KFold(2))
    notes = getattr(info.value, "__notes__", [])
    assert notes == ["outer fold 2 of cross_validate_ensemble"]


###############################################################################
# meta classifiers on a y that lacks a class

CLASSIFIERS = [M.ConvexLogLossClassifier(), M.EnsembleSelectionClassifier(),
               M.DiscreteSuperLearnerClassifier(),
               M.EnsembleSelectionClassifier(metric="accuracy", n_iter=10)]


@pytest.mark.parametrize("est", CLASSIFIERS, ids=lambda e: repr(e))
def test_meta_classifiers_fit_a_y_lacking_a_class(est):
    rng = np.random.RandomState(0)
    P = rng.dirichlet([1, 1, 1], size=(60, 3)).reshape(60, 9)
    y = np.array(["a", "b", "c"])[rng.randint(0, 3, 60)]
    lacking = y != "b"
    with pytest.raises(ValueError, match="set classes|Set classes"):
        clone(est).fit(P[lacking], y[lacking])
    mine = clone(est).set_params(classes=["a", "b", "c"]).fit(
        P[lacking], y[lacking])
    # reference: every class in y, the rows of the missing one at weight 0
    ref = clone(est).fit(P, y, sample_weight=lacking.astype(float))
    np.testing.assert_allclose(mine.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    assert mine.classes_.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(mine.predict_proba(P), ref.predict_proba(P),
                               rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="not in classes"):
        clone(est).set_params(classes=["a", "c", "d"]).fit(P, y)


def test_auc_meta_learners_refuse_a_y_of_one_class():
    rng = np.random.RandomState(0)
    P = rng.dirichlet([1, 1], size=(30, 2)).reshape(30, 4)
    for est in (M.ConvexAUCClassifier(classes=[0, 1]),
                M.DiscreteSuperLearnerClassifier(metric="auc",
                                                 classes=[0, 1])):
        with pytest.raises(ValueError, match="both classes"):
            est.fit(P, np.zeros(30, dtype=int))


@pytest.mark.parametrize("est", CLASSIFIERS[:3], ids=lambda e: repr(e))
def test_ensemble_meta_fold_lacking_a_class(est):
    X, y = make_classification(90, 6, n_informative=4, n_classes=3,
                               random_state=0)
    order = np.argsort(y, kind="stable")  # label-sorted rows: KFold folds
    X, y = X[order], y[order]             # lack classes
    ens = SuperLearner(folds=KFold(3), n_jobs=1)
    ens.add([("lr", LogisticRegression()), ("nb", GaussianNB())], proba=True)
    ens.add_meta(clone(est)).fit(X, y)
    Z = ens.oof_predictions_["layer-1"]
    scores = [np.mean(clone(est).set_params(classes=[0, 1, 2]).fit(
        Z[tr], y[tr]).predict(Z[te]) == y[te]) for tr, te in
        KFold(3).split(Z)]
    assert meta_score(ens) == np.mean(scores)


def test_meta_learners_refuse_a_2d_y_by_name():
    rng = np.random.RandomState(0)
    X = rng.rand(20, 4)
    Y = np.c_[X[:, 0], X[:, 1]]
    for est in (M.NNLSRegressor(), M.DiscreteSuperLearnerRegressor(),
                M.EnsembleSelectionRegressor(), M.ConvexLogLossClassifier(),
                M.DiscreteSuperLearnerClassifier()):
        target = Y if isinstance(est, M._RegressorBase) else (Y > 0.5) * 1
        with pytest.raises(ValueError, match="%s.*1-D.*shape \\(20, 2\\)"
                           % type(est).__name__):
            est.fit(X, target)


###############################################################################
# names, seeds, plots

def test_risk_table_names_and_partitions_are_those_of_data():
    X, y = make_regression(120, 5, random_state=0)
    ens = SuperLearner(n_jobs=1, random_state=0, folds=3)
    ens.add({"sc": [("svr", SVR())], "no": [("ridge", Ridge())]},
            preprocessing={"sc": [StandardScaler()], "no": []})
    ens.add_meta(LinearRegression()).fit(X, y)
    table = risk_table(ens)
    data = pd.DataFrame(ens.data)
    assert sorted(table.loc["layer-1"].index) == sorted(
        name.split("/", 1)[1] for name in data.index) == ["ridge", "sc.svr"]
    sub = Subsemble(partitions=2, folds=2, n_jobs=1, random_state=0)
    sub.add([("r", Ridge()), ("t", DecisionTreeRegressor(random_state=0))],
            preprocessing=[StandardScaler()])
    sub.add_meta(M.NNLSRegressor()).fit(X, y)
    table = risk_table(sub)
    data = pd.DataFrame(sub.data)
    assert set(table.index) == set(sub.data_frame().index)
    for name in data.index:
        layer, learner = name.split("/", 1)
        row = table.loc[(layer, learner)]
        assert row["folds"] == 2  # one partition's folds
        assert row["mean"] == data.loc[name, "score-m"]
    weights = meta_weights(sub)
    assert weights.index.tolist() == ["pr.r--0", "pr.r--1", "pr.t--0",
                                      "pr.t--1"]
    np.testing.assert_array_equal(weights, sub.final_estimator_.coef_)


@pytest.mark.parametrize("folds, repeated", [
    (KFold(3, shuffle=True, random_state=5), RepeatedKFold),
    (StratifiedKFold(3, shuffle=True, random_state=5),
     RepeatedStratifiedKFold)])
def test_n_repeats_keeps_the_splitters_seed(folds, repeated):
    X, y = classification(90)

    def oof(f, **kw):
        ens = SuperLearner(folds=f, **kw).add(learners_c()[:2], proba=True)
        ens.add_meta(LogisticRegression())
        return ens.fit(X, y).oof_predictions_["layer-1"]

    first = oof(folds, n_repeats=2)
    np.testing.assert_array_equal(first, oof(folds, n_repeats=2))
    ref = oof(repeated(n_splits=3, n_repeats=2, random_state=5))
    np.testing.assert_array_equal(first, ref)


def test_importance_plot_refuses_a_top_below_one():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlcore.visualization import importance_plot
    table = pd.DataFrame({"importance_mean": [0.1, 0.3],
                          "importance_std": [0.01, 0.02]}, index=["a", "b"])
    try:
        for top in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="importance_plot: top"):
                importance_plot(table, top=top, show=False)
        ax = importance_plot(table, top=1, show=False)
        assert [p.get_width() for p in ax.patches] == [0.3]
    finally:
        plt.close("all")
