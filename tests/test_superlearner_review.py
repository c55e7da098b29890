"""The Super Learner toolkit after a statistician's review, against
independent references.

* the meta learner's cross-validated score after a ``proba=True`` layer:
  ``sklearn.model_selection.cross_val_score`` of the meta learner on the
  stored out-of-fold probabilities (its probabilities are scored, as the
  base learners' are);
* which metric names read as losses: scikit-learn's own naming of every
  public function of ``sklearn.metrics`` (``*_score`` greater is better,
  ``*_error``, ``*_loss``, ``*_deviance`` smaller), and nested
  cross-validation with ``d2_absolute_error_score`` against refits by hand;
* nested cross-validation of a ``refit=False`` layer: the average of the
  inner fold models refitted by hand, and ``cross_val_predict`` for the
  inner scores;
* meta_weights with propagated features: the layer's
  ``get_feature_names_out``;
* risk_table rows of learners dropped at fit: a fit without them;
* the plots' refusals of what they cannot draw.
"""
import inspect
import re
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

import sklearn.metrics as skm  # noqa: E402
from sklearn.base import BaseEstimator, RegressorMixin, clone  # noqa: E402
from sklearn.datasets import make_regression  # noqa: E402
from sklearn.dummy import DummyRegressor  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,  # noqa
                             d2_absolute_error_score, log_loss, r2_score,
                             roc_auc_score)
from sklearn.model_selection import (KFold, StratifiedKFold,  # noqa: E402
                                     cross_val_predict, cross_val_score)

from mlcore import meta as M  # noqa: E402
from mlcore.ensemble import SuperLearner  # noqa: E402
from mlcore.exceptions import LearnerFailedWarning, ScorerError  # noqa
from mlcore.inspection import learner_contributions, meta_weights  # noqa
from mlcore.model_selection import (_check_scorer,  # noqa: E402
                                    cross_validate_ensemble)
from tests.test_superlearner import (classification, learners_c,  # noqa
                                     learners_r, regression)


def meta_row(ens):
    table = ens.risk_table()
    return table.loc[table.index[-1]]


###############################################################################
# the meta learner is scored in the units of the learners it combines

def test_meta_row_after_a_proba_layer_scores_its_probabilities():
    X, y = classification()
    ens = SuperLearner(scorer=log_loss, random_state=0, n_jobs=1)
    ens.add(learners_c(), proba=True).add_meta(M.ConvexLogLossClassifier())
    ens.fit(X, y)
    P = ens.oof_predictions_["layer-1"]
    ref = -cross_val_score(M.ConvexLogLossClassifier(), P, y,
                           cv=StratifiedKFold(5), scoring="neg_log_loss")
    row = meta_row(ens)
    assert row["folds"] == 5
    assert row["mean"] == pytest.approx(ref.mean(), rel=1e-12)
    assert row["min"] == pytest.approx(ref.min(), rel=1e-12)
    assert ens.data_table()["score-m"][
        "layer-2/convexloglossclassifier"] == row["mean"]
    # scoring=None is the layer's own scorer: the same baseline
    assert learner_contributions(ens, y).attrs["baseline"] == row["mean"]
    # a meta layer added with proba=True passes its probabilities on: the
    # same score, and predict gives their most probable class
    own = SuperLearner(scorer=log_loss, random_state=0, n_jobs=1)
    own.add(learners_c(), proba=True).add_meta(M.ConvexLogLossClassifier(),
                                               proba=True)
    own.fit(X, y)
    assert meta_row(own)["mean"] == row["mean"]
    np.testing.assert_array_equal(own.predict(X), ens.predict(X))


def test_meta_row_after_a_label_layer_scores_its_labels():
    X, y = classification()
    ens = SuperLearner(scorer=balanced_accuracy_score, random_state=0,
                       n_jobs=1)
    ens.add(learners_c()).add_meta(LogisticRegression()).fit(X, y)
    Z = ens.oof_predictions_["layer-1"]
    ref = cross_val_score(LogisticRegression(), Z, y, cv=StratifiedKFold(5),
                          scoring="balanced_accuracy")
    assert meta_row(ens)["mean"] == pytest.approx(ref.mean(), rel=1e-12)


def test_scorer_error_gives_the_shape_the_scorer_received():
    X, y = classification()

    def auc(t, p):
        return roc_auc_score(t, p[:, 1])

    ens = SuperLearner(scorer=auc, n_jobs=1).add(learners_c())
    ens.add_meta(LogisticRegression())
    with pytest.raises(ScorerError) as info:
        ens.fit(X, y)
    msg = str(info.value)
    # 240 rows in 5 folds: 48 held-out labels, 1-D as the scorer got them
    assert "predicted labels of the held-out rows, an array of shape (48,)" \
        in msg
    # after a proba=True layer the meta learner's probabilities are scored
    ens = SuperLearner(scorer=auc, random_state=0, n_jobs=1)
    ens.add(learners_c(), proba=True).add_meta(LogisticRegression()).fit(X,
                                                                        y)
    ref = cross_val_score(LogisticRegression(),
                          ens.oof_predictions_["layer-1"], y,
                          cv=StratifiedKFold(5), scoring="roc_auc")
    assert meta_row(ens)["mean"] == pytest.approx(ref.mean(), rel=1e-12)


###############################################################################
# metric names

def _sklearn_metrics():
    for name in skm.__all__:
        func = getattr(skm, name)
        if not inspect.isfunction(func):
            continue
        if name.endswith("_score"):
            yield name, func, True
        elif re.search(r"_(error|loss|deviance)$", name):
            yield name, func, False


def test_metric_names_read_as_scikit_learn_names_them():
    names = {name: greater for name, _, greater in _sklearn_metrics()}
    # the names that a search for "error" or "loss" alone gets wrong
    assert names["d2_absolute_error_score"] is True
    assert names["d2_log_loss_score"] is True
    assert names["brier_score_loss"] is False
    for name, func, greater in _sklearn_metrics():
        assert _check_scorer(func, None)[2] is greater, name


def test_nested_cv_with_a_d2_score_picks_the_better_learner():
    X, y = regression(150)
    learners = [("dummy", DummyRegressor()), ("ridge", Ridge(0.1))]
    ens = SuperLearner(folds=3, n_jobs=1).add(learners)
    ens.add_meta(M.NNLSRegressor())
    result = cross_validate_ensemble(ens, X, y, cv=3,
                                     scoring=d2_absolute_error_score)
    for i, (tr, te) in enumerate(KFold(3).split(X)):
        for name, est in learners:
            ref = d2_absolute_error_score(
                y[te], clone(est).fit(X[tr], y[tr]).predict(X[te]))
            assert result.scores[name].iloc[i] == pytest.approx(ref,
                                                                rel=1e-12)
    assert result.chosen.tolist() == ["ridge"] * 3
    assert (result.scores["discrete SL"] == result.scores["ridge"]).all()


###############################################################################
# nested cross-validation of a layer without full fits

def _bag(est, X, y, Xte, method):
    """The average of ``est``'s KFold(3) fold models' ``method`` of
    ``Xte``, summed in fold order as the layer sums them."""
    total = None
    for tr, _ in KFold(3).split(X):
        p = getattr(clone(est).fit(X[tr], y[tr]), method)(Xte)
        total = p if total is None else total + p
    return total / 3


def test_nested_cv_of_a_refit_false_layer_scores_its_fold_averages():
    X, y = regression(150)
    ens = SuperLearner(folds=3, refit=False, n_jobs=1).add(learners_r())
    ens.add_meta(M.NNLSRegressor())
    result = cross_validate_ensemble(ens, X, y, cv=3)
    names = [name for name, _ in learners_r()]
    for i, (tr, te) in enumerate(KFold(3).split(X)):
        outer, inner = {}, {}
        for name, est in learners_r():
            outer[name] = r2_score(y[te], _bag(est, X[tr], y[tr], X[te],
                                               "predict"))
            inner[name] = r2_score(y[tr], cross_val_predict(
                est, X[tr], y[tr], cv=KFold(3)))
            assert result.scores[name].iloc[i] == pytest.approx(
                outer[name], rel=1e-12)
            assert result.inner_scores[name].iloc[i] == pytest.approx(
                inner[name], rel=1e-12)
        best = max(names, key=lambda n: inner[n])
        assert result.chosen.iloc[i] == best
        assert result.scores["discrete SL"].iloc[i] == \
            result.scores[best].iloc[i]


def test_nested_cv_of_a_refit_false_label_layer():
    """A label layer's fold averages: the average of the fold models'
    class probabilities, and its most probable class."""
    X, y = classification(150)
    ens = SuperLearner(folds=KFold(3), refit=False, n_jobs=1)
    ens.add(learners_c()).add_meta(LogisticRegression())
    for scoring in ("neg_log_loss", "accuracy"):
        result = cross_validate_ensemble(ens, X, y, cv=KFold(3),
                                         scoring=scoring)
        for i, (tr, te) in enumerate(KFold(3).split(X)):
            for name, est in learners_c():
                proba = _bag(est, X[tr], y[tr], X[te], "predict_proba")
                ref = -log_loss(y[te], proba) if scoring == "neg_log_loss" \
                    else accuracy_score(y[te], proba.argmax(axis=1))
                assert result.scores[name].iloc[i] == pytest.approx(
                    ref, rel=1e-12), (scoring, name)
                if scoring == "accuracy":  # (labels have no log-loss)
                    inner = accuracy_score(y[tr], cross_val_predict(
                        est, X[tr], y[tr], cv=KFold(3)))
                    assert result.inner_scores[name].iloc[i] == inner
        assert result.chosen.notna().all() == (scoring == "accuracy")


###############################################################################
# names

def test_meta_weights_name_propagated_columns_and_learners():
    X, y = regression(120)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e", "f"])
    for data, prop in ((X, [0, 2]), (frame, ["a", "c"])):
        ens = SuperLearner(folds=3, n_jobs=1)
        ens.add(learners_r(), propagate_features=prop)
        ens.add_meta(M.NNLSRegressor()).fit(data, y)
        weights = meta_weights(ens)
        assert weights.index.tolist() == list(
            ens.layers_[0].get_feature_names_out())
        assert weights.index.tolist()[2:] == ["knn", "ridge", "tree"]
        np.testing.assert_array_equal(weights, ens.final_estimator_.coef_)


###############################################################################
# learners dropped at fit

class _Broken(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        raise ValueError("broken on purpose")


def test_risk_table_lists_a_dropped_learner_as_failed():
    X, y = regression(120)

    def build(learners, names):
        ens = SuperLearner(folds=3, n_jobs=1, random_state=0,
                           raise_on_exception=False)
        return ens.add(learners).add_meta(M.NNLSRegressor(names=names))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LearnerFailedWarning)
        ens = build(learners_r() + [("bad", _Broken())],
                    ["tree", "bad", "ridge", "knn"]).fit(X, y)
    ref = build(learners_r(), None).fit(X, y)
    table, expect = ens.risk_table(), ref.risk_table()
    assert table.index.tolist() == [("layer-1", "knn"), ("layer-1", "ridge"),
                                    ("layer-1", "tree"), ("layer-1", "bad"),
                                    ("layer-2", "nnlsregressor")]
    bad = table.loc[("layer-1", "bad")]
    assert bad["folds"] == 0 and np.isnan(bad["mean"])
    assert bad["failed"] == ens.failed_learners_["layer-1/bad"]
    assert "broken on purpose" in bad["failed"]
    kept = table.drop(("layer-1", "bad"))
    assert kept["failed"].isna().all()
    cols = ["folds", "mean", "se", "min", "max"]
    pd.testing.assert_frame_equal(kept[cols], expect[cols])
    assert "failed" not in expect.columns
    # the meta learner's names, matched by name, leave the dropped one out
    assert ens.final_estimator_.weights_ == dict(zip(
        ["knn", "ridge", "tree"], ref.final_estimator_.coef_.tolist()))


###############################################################################
# plots

def test_plots_refuse_what_they_cannot_draw():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import permutation_importance
    from mlcore.visualization import contribution_plot, importance_plot
    X, y = regression(60)
    bunch = permutation_importance(Ridge().fit(X, y), X, y, n_repeats=2,
                                   random_state=0)
    table = pd.DataFrame({"importance_mean": bunch.importances_mean,
                          "importance_std": bunch.importances_std})
    try:
        with pytest.raises(TypeError, match="pandas.DataFrame\\(\\{"
                                            "'importance_mean'"):
            importance_plot(bunch, show=False)
        with pytest.raises(TypeError, match="'importance_std' column as "
                                            "the error bars; xerr"):
            importance_plot(table, xerr=0.1, show=False)
        with pytest.raises(ValueError, match="'contribution'"):
            contribution_plot(table, show=False)
        with pytest.raises(ValueError, match="'importance_std'"):
            importance_plot(table[["importance_mean"]], show=False)
        with pytest.raises(TypeError, match="DataFrame"):
            contribution_plot({"contribution": [1.0]}, show=False)
        # the table made as the message says draws the Bunch's numbers
        ax = importance_plot(table, show=False)
        assert sorted(p.get_width() for p in ax.patches) == sorted(
            bunch.importances_mean)
    finally:
        plt.close("all")
