"""Tests of the Super Learner toolkit against independent references.

* risk_table: fold scores written out with scikit-learn (``KFold`` /
  ``StratifiedKFold`` splits, ``clone(...).fit``, the metric), the standard
  error as ``np.std(ddof=1) / sqrt(k)``.
* cross_validate_ensemble: a plain loop over the outer folds calling
  ``clone(ens).fit`` (exact equality), base learners refitted by hand, the
  discrete Super Learner's choice from ``cross_val_predict``; one pool per
  layer across the outer folds (pool sizes recorded, not timed).
* permutation_importance: ``sklearn.inspection.permutation_importance``
  (exact equality, same ``random_state``).
* learner_contributions: a full refit of the ensemble without each learner
  (the same meta input columns, the same meta score).
* the plots of mlcore.visualization: bar widths equal the tables.
"""
import threading

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin, clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa
from sklearn.inspection import permutation_importance as sk_importance  # noqa
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import (accuracy_score, get_scorer,  # noqa: E402
                             mean_absolute_error)
from sklearn.model_selection import (KFold, StratifiedKFold,  # noqa: E402
                                     cross_val_predict)
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.neighbors import KNeighborsRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import (DecisionTreeClassifier,  # noqa: E402
                          DecisionTreeRegressor)

from mlcore import _joblib, _lockstep, config_context  # noqa: E402
from mlcore.ensemble import (BlendEnsemble, SuperLearner)  # noqa: E402
from mlcore.exceptions import LearnerError  # noqa: E402
from mlcore.inspection import (learner_contributions,  # noqa: E402
                               meta_weights, permutation_importance)
from mlcore.meta import ConvexLogLossClassifier, NNLSRegressor  # noqa: E402
from mlcore.model_selection import cross_validate_ensemble  # noqa: E402
from mlcore.risk import risk_table  # noqa: E402


def classification(n=240, seed=0):
    return make_classification(n, 8, n_informative=4, random_state=seed)


def regression(n=200, seed=0):
    return make_regression(n, 6, noise=5.0, random_state=seed)


def learners_c():
    return [("lr", LogisticRegression()), ("nb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]


def learners_r():
    return [("ridge", Ridge()), ("tree", DecisionTreeRegressor(
        max_depth=4, random_state=0)), ("knn", KNeighborsRegressor(5))]


def stack_c(meta=None, **kwargs):
    kwargs.setdefault("n_jobs", 2)
    ens = SuperLearner(random_state=0, **kwargs)
    ens.add(learners_c(), proba=True)
    return ens.add_meta(meta if meta is not None else LogisticRegression())


def stack_r(**kwargs):
    kwargs.setdefault("n_jobs", 2)
    ens = SuperLearner(random_state=0, folds=4, **kwargs)
    ens.add(learners_r())
    return ens.add_meta(NNLSRegressor())


def se(values):
    return np.std(values, ddof=1) / np.sqrt(len(values))


###############################################################################
# risk table

def test_risk_table_classification_equals_fold_scores_by_hand():
    X, y = classification()
    ens = stack_c().fit(X, y)
    table = risk_table(ens)
    folds = list(StratifiedKFold(5).split(X, y))
    oof = []
    for name, est in learners_c():
        scores, P = [], np.zeros((len(y), 2))
        for tr, te in folds:
            p = clone(est).fit(X[tr], y[tr]).predict_proba(X[te])
            P[te] = p
            scores.append(accuracy_score(y[te], p.argmax(axis=1)))
        oof.append(P)
        row = table.loc[("layer-1", name)]
        assert row["folds"] == 5
        assert row["mean"] == np.mean(scores)
        assert row["se"] == pytest.approx(se(scores), rel=1e-12)
        assert (row["min"], row["max"]) == (min(scores), max(scores))
    # the meta learner's own cross-validated score, on its input's folds
    Z = np.hstack(oof)
    meta_scores = [accuracy_score(y[te], LogisticRegression().fit(
        Z[tr], y[tr]).predict(Z[te])) for tr, te in
        StratifiedKFold(5).split(Z, y)]
    row = table.loc[("layer-2", "logisticregression")]
    assert row["folds"] == 5 and row["mean"] == np.mean(meta_scores)
    assert row["se"] == pytest.approx(se(meta_scores), rel=1e-12)
    # times: the means of what the layers recorded
    layer = ens.layers_[0]
    assert row.index.tolist() == ["folds", "mean", "se", "min", "max",
                                  "fit_time", "predict_time"]
    assert table.loc[("layer-1", "nb"), "fit_time"] == np.mean(
        layer.fit_times_["nb"])
    assert table.loc[("layer-1", "nb"), "predict_time"] == np.mean(
        layer.predict_times_["nb"])
    pd.testing.assert_frame_equal(ens.risk_table(), table)


def test_risk_table_regression_user_scorer():
    X, y = regression()
    ens = stack_r(scorer=mean_absolute_error).fit(X, y)
    table = risk_table(ens)
    for name, est in learners_r():
        scores = [mean_absolute_error(y[te], clone(est).fit(
            X[tr], y[tr]).predict(X[te])) for tr, te in KFold(4).split(X)]
        row = table.loc[("layer-1", name)]
        assert row["mean"] == pytest.approx(np.mean(scores), rel=1e-12)
        assert row["min"] == pytest.approx(min(scores), rel=1e-12)
        assert row["se"] == pytest.approx(se(scores), rel=1e-10)


def test_risk_table_in_sample_layer_has_no_score():
    X, y = classification()
    ens = BlendEnsemble(test_size=0.5, random_state=0, n_jobs=1)
    ens.add(learners_c(), proba=True).add_meta(LogisticRegression())
    table = risk_table(ens.fit(X, y))
    meta = table.loc[("layer-2", "logisticregression")]
    assert meta["folds"] == 0 and np.isnan(meta["mean"])
    assert table.loc[("layer-1", "lr"), "folds"] == 1
    assert np.isnan(table.loc[("layer-1", "lr"), "se"])  # one score


###############################################################################
# nested cross-validation

def reference_nested(ens, X, y, outer, scorer, inner, method):
    """A plain loop over the outer folds; base learners and the discrete
    Super Learner's inner scores refitted with scikit-learn."""
    rows, chosen = [], []
    named = dict(ens.layers[0].estimators)
    for tr, te in outer.split(X, y):
        model = clone(ens).fit(X[tr], y[tr])
        row = {"ensemble": scorer(model, X[te], y[te])}
        cv_risk = {}
        for name, est in named.items():
            row[name] = scorer(clone(est).fit(X[tr], y[tr]), X[te], y[te])
            oof = cross_val_predict(clone(est), X[tr], y[tr], cv=inner,
                                    method=method)
            cv_risk[name] = scorer._score_func(
                y[tr], oof[:, 1] if oof.ndim == 2 else oof)
        best = max(cv_risk, key=cv_risk.get)
        row["discrete SL"] = row[best]
        rows.append(row)
        chosen.append(best)
    return rows, chosen


@pytest.mark.parametrize("backend", ["threading", "sequential", "loky"])
def test_nested_cv_classification_equals_plain_loop(backend):
    X, y = classification(200)
    ens = stack_c(backend=backend)
    scorer = get_scorer("roc_auc")
    res = cross_validate_ensemble(ens, X, y, cv=4, scoring="roc_auc")
    rows, chosen = reference_nested(ens, X, y, StratifiedKFold(4), scorer,
                                    StratifiedKFold(5), "predict_proba")
    assert list(res.scores.columns) == ["ensemble", "discrete SL", "lr",
                                        "nb", "tree"]
    for i, row in enumerate(rows):
        for col, value in row.items():
            assert res.scores.iloc[i][col] == value, (i, col)
    assert res.chosen.tolist() == chosen
    summary = res.summary()
    col = res.scores["ensemble"]
    assert summary.loc["ensemble", "mean"] == col.mean()
    assert summary.loc["ensemble", "se"] == pytest.approx(se(col), rel=1e-12)
    assert summary.loc["tree", "max"] == res.scores["tree"].max()


@pytest.mark.parametrize("backend", ["multiprocessing", "dask"])
def test_nested_cv_other_backends_equal_plain_loop(backend):
    import contextlib
    X, y = classification(150)
    ens = stack_c(backend=backend)
    context = contextlib.nullcontext()
    if backend == "dask":
        distributed = pytest.importorskip("distributed")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False,
            dashboard_address=None)
        context = distributed.Client(cluster)
    with context:
        res = cross_validate_ensemble(ens, X, y, cv=3)
        scorer = get_scorer("accuracy")
        ref = [scorer(clone(ens).fit(X[tr], y[tr]), X[te], y[te])
               for tr, te in StratifiedKFold(3).split(X, y)]
    if backend == "dask":
        cluster.close()
    assert res.scores["ensemble"].tolist() == ref


def test_nested_cv_regression_default_scoring_equals_plain_loop():
    X, y = regression()
    ens = stack_r()
    res = cross_validate_ensemble(ens, X, y, cv=3, return_estimators=True)
    rows, chosen = reference_nested(ens, X, y, KFold(3), get_scorer("r2"),
                                    KFold(4), "predict")
    for i, row in enumerate(rows):
        for col, value in row.items():
            assert res.scores.iloc[i][col] == value, \
                (i, col)
    assert res.chosen.tolist() == chosen
    assert len(res.estimators) == 3
    tr = next(KFold(3).split(X))[0]
    np.testing.assert_array_equal(
        res.estimators[0].predict(X), clone(ens).fit(X[tr], y[tr]).predict(X))


def test_nested_cv_dataframe_and_preprocessing_equal_pipelines_by_hand():
    import warnings
    from sklearn.pipeline import make_pipeline
    X, y = classification(160)
    frame = pd.DataFrame(X, columns=["c%d" % i for i in range(8)])
    ens = SuperLearner(random_state=0, n_jobs=2)
    ens.add(learners_c()[:2], preprocessing=[StandardScaler()], proba=True)
    ens.add_meta(LogisticRegression())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = cross_validate_ensemble(ens, frame, y, cv=3)
    assert not [w for w in caught if "feature names" in str(w.message)]
    scorer = get_scorer("accuracy")
    for i, (tr, te) in enumerate(StratifiedKFold(3).split(X, y)):
        model = clone(ens).fit(frame.iloc[tr], y[tr])
        assert res.scores.iloc[i]["ensemble"] == scorer(model, frame.iloc[te],
                                                        y[te])
        for name, est in learners_c()[:2]:
            pipe = make_pipeline(StandardScaler(), clone(est)).fit(X[tr],
                                                                   y[tr])
            assert res.scores.iloc[i]["pr." + name] == scorer(pipe, X[te],
                                                               y[te])


def test_nested_cv_one_pool_per_layer_across_outer_folds(monkeypatch):
    sizes = []
    original = _joblib.LazyParallel.run

    def recording(self, jobs, **kwargs):
        sizes.append(len(jobs))
        return original(self, jobs, **kwargs)

    monkeypatch.setattr(_joblib.LazyParallel, "run", recording)
    X, y = classification(200)
    cross_validate_ensemble(stack_c(), X, y, cv=4)
    # 4 outer folds x 3 learners x (5 folds + the full fit); the meta layer
    # 4 x (5 + 1); predictions of the outer test rows, layer by layer; the
    # base learners' scores
    assert sizes == [4 * 3 * 6, 4 * 6, 4 * 3, 4, 4 * 3]


def test_nested_cv_carries_the_callers_settings():
    X, y = classification(120)
    with config_context(dtype="float32"):
        res = cross_validate_ensemble(stack_c(), X, y, cv=2,
                                      return_estimators=True)
        ref = clone(stack_c()).fit(X[:60], y[:60])
    assert ref.oof_predictions_["layer-1"].dtype == np.float32
    for est in res.estimators:
        assert est.oof_predictions_["layer-1"].dtype == np.float32


class FailsOnMarkedRow(ClassifierMixin, BaseEstimator):
    """Fails to fit when its training rows hold the marked row."""

    def fit(self, X, y):
        if (np.asarray(X)[:, 0] == 999.0).any():
            raise ValueError("saw the marked row")
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_nested_cv_failure_names_learner_inner_and_outer_fold():
    X, y = classification(120)
    X[0, 0] = 999.0  # in the training rows of every outer fold but the 1st
    ens = SuperLearner(random_state=0, n_jobs=2)
    ens.add([("bad", FailsOnMarkedRow()), ("nb", GaussianNB())], proba=True)
    ens.add_meta(LogisticRegression())
    with pytest.raises(LearnerError, match="'bad'.*(fold|full fit)") as info:
        cross_validate_ensemble(ens, X, y, cv=KFold(3))
    notes = getattr(info.value, "__notes__", [])
    assert any("outer fold 2 of cross_validate_ensemble" in n for n in notes)


def test_nested_cv_bad_input():
    X, y = classification(60)
    with pytest.raises(TypeError, match="mlcore ensemble"):
        cross_validate_ensemble(LogisticRegression(), X, y)
    with pytest.raises(ValueError, match="no layers"):
        cross_validate_ensemble(SuperLearner(), X, y)
    with pytest.raises(TypeError, match="one metric"):
        cross_validate_ensemble(stack_c(), X, y, scoring=["accuracy"])
    with pytest.raises(ValueError):
        cross_validate_ensemble(stack_c(), X, y[:-1])


def test_lockstep_driver_error_stops_the_others_and_is_raised():
    started = threading.Event()

    def fails():
        started.wait(5)
        raise KeyError("boom")

    def fine():
        started.set()
        return 3

    with pytest.raises(KeyError, match="boom") as info:
        _lockstep.map_calls([fine, fails], ["first", "second"], "threading",
                            2)
    assert info.value.__notes__ == ["second"]
    assert _lockstep.map_calls([fine, lambda: 4], ["a", "b"]) == [3, 4]
    assert _lockstep.map_calls([], []) == []


###############################################################################
# permutation importance

def test_permutation_importance_equals_scikit_learn():
    X, y = classification(300)
    ens = stack_c().fit(X[:200], y[:200])
    mine = permutation_importance(ens, X[200:], y[200:], scoring="roc_auc",
                                  n_repeats=3, random_state=1)
    ref = sk_importance(ens, X[200:], y[200:], scoring="roc_auc",
                        n_repeats=3, random_state=1)
    np.testing.assert_array_equal(mine[["repeat_1", "repeat_2",
                                        "repeat_3"]].to_numpy(),
                                  ref.importances)
    np.testing.assert_array_equal(mine["importance_mean"],
                                  ref.importances_mean)
    np.testing.assert_array_equal(mine["importance_std"],
                                  ref.importances_std)
    assert mine.index.tolist() == ["x%d" % i for i in range(8)]
    assert mine.attrs["baseline"] == get_scorer("roc_auc")(ens, X[200:],
                                                           y[200:])


def test_permutation_importance_dataframe_and_small_batches(monkeypatch):
    X, y = regression()
    cols = ["f%d" % i for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=cols)
    ens = stack_r().fit(frame, y)
    ref = sk_importance(ens, frame, y, n_repeats=2, random_state=0)
    monkeypatch.setattr("mlcore.inspection._MAX_COPIES", 2)  # 3 batches
    mine = permutation_importance(ens, frame, y, n_repeats=2, random_state=0)
    np.testing.assert_array_equal(mine[["repeat_1", "repeat_2"]].to_numpy(),
                                  ref.importances)
    assert mine.index.tolist() == cols


def test_permutation_importance_bad_input():
    X, y = classification(80)
    ens = stack_c().fit(X, y)
    with pytest.raises(ValueError, match="n_repeats"):
        permutation_importance(ens, X, y, n_repeats=0)
    import scipy.sparse as sp
    with pytest.raises(TypeError, match="[Ss]parse"):
        permutation_importance(ens, sp.csr_matrix(X), y)


###############################################################################
# learner contributions

@pytest.mark.parametrize("shuffle", [False, True])
def test_learner_contributions_equal_full_refits(shuffle):
    X, y = classification()
    labels = np.array(["no", "yes"])[y]  # text labels
    ens = SuperLearner(random_state=0, shuffle=shuffle, n_jobs=2)
    ens.add(learners_c(), proba=True).add_meta(LogisticRegression())
    ens.fit(X, labels)
    table = learner_contributions(ens, labels)
    full = ens.risk_table().loc[("layer-2", "logisticregression"), "mean"]
    assert table.attrs["baseline"] == full
    names = [n for n, _ in learners_c()]
    oof = ens.oof_predictions_["layer-1"]
    for i, name in enumerate(names):
        without = SuperLearner(random_state=0, shuffle=shuffle, n_jobs=2)
        without.add([le for le in learners_c() if le[0] != name], proba=True)
        without.add_meta(LogisticRegression())
        without.fit(X, labels)
        kept = [c for c in range(6) if c // 2 != i]
        np.testing.assert_array_equal(
            without.oof_predictions_["layer-1"], oof[:, kept])
        score = without.risk_table().loc[
            ("layer-2", "logisticregression"), "mean"]
        assert table.loc[name, "score_without"] == score
        assert table.loc[name, "contribution"] == full - score


def test_learner_contributions_label_columns_and_regression():
    X, y = regression()
    ens = stack_r().fit(X, y)
    table = learner_contributions(ens, y)
    ref = SuperLearner(random_state=0, folds=4, n_jobs=2).add(
        [le for le in learners_r() if le[0] != "knn"]).add_meta(
        NNLSRegressor()).fit(X, y)
    assert table.loc["knn", "score_without"] == ref.risk_table().loc[
        ("layer-2", "nnlsregressor"), "mean"]
    # learners predicting labels pass class positions to the meta learner
    Xc, yc = classification()
    labels = np.array(["a", "b"])[yc]
    # (a meta learner without intercept sees a shift of the positions)
    meta = LogisticRegression(fit_intercept=False)
    ens = SuperLearner(random_state=0, n_jobs=2).add(learners_c())
    ens.add_meta(meta).fit(Xc, labels)
    table = learner_contributions(ens, labels)
    assert table.attrs["baseline"] == ens.risk_table().loc[
        ("layer-2", "logisticregression"), "mean"]
    ref = SuperLearner(random_state=0, n_jobs=2).add(learners_c()[1:])
    ref.add_meta(meta).fit(Xc, labels)
    assert table.loc["lr", "score_without"] == ref.risk_table().loc[
        ("layer-2", "logisticregression"), "mean"]


def test_learner_contributions_bad_input():
    X, y = classification()
    blend = BlendEnsemble(random_state=0, n_jobs=1).add(
        learners_c(), proba=True).add_meta(LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="fitted once"):
        learner_contributions(blend, y)
    ens = stack_c().fit(X, y)
    with pytest.raises(ValueError, match="240 values"):
        learner_contributions(ens, y[:-1])
    one = SuperLearner(n_jobs=1).add(learners_c(), proba=True).fit(X, y)
    with pytest.raises(ValueError, match="1 layer"):
        learner_contributions(one, y)


###############################################################################
# meta weights

def test_meta_weights_named_by_learner():
    X, y = classification()
    ens = stack_c(meta=ConvexLogLossClassifier()).fit(X, y)
    weights = meta_weights(ens)
    assert weights.index.tolist() == ["lr", "nb", "tree"]
    assert weights.tolist() == list(ens.final_estimator_.weights_.values())
    ens = stack_c().fit(X, y)
    weights = meta_weights(ens)
    assert weights.index.tolist() == list(
        ens.layers_[0].get_feature_names_out())
    np.testing.assert_array_equal(weights, ens.final_estimator_.coef_[0])


###############################################################################
# plots

def test_importance_and_contribution_plots_draw_the_tables():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlcore.visualization import contribution_plot, importance_plot
    table = pd.DataFrame({"importance_mean": [0.1, 0.3, -0.05],
                          "importance_std": [0.01, 0.02, 0.03]},
                         index=["a", "b", "c"])
    try:
        ax = importance_plot(table, show=False)
        widths = [p.get_width() for p in ax.patches]
        assert widths == [-0.05, 0.1, 0.3]  # most important at the top
        assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a",
                                                                "b"]
        ax = importance_plot(table, top=1, show=False)
        assert [p.get_width() for p in ax.patches] == [0.3]
        contrib = pd.DataFrame({"contribution": [0.02, -0.01]},
                               index=["lr", "nb"])
        ax = contribution_plot(contrib, show=False)
        assert [p.get_width() for p in ax.patches] == [-0.01, 0.02]
    finally:
        plt.close("all")
