"""ML-Ensemble code run on mlcore with only the import prefix changed.

The examples are ML-Ensemble 0.2.3's getting-started tutorial (ensemble and
model selection guides), its model selection tests and the arguments its
users pass to the ensembles; each asserts the result against scikit-learn
computed by hand. Where mlcore's default differs on purpose (stratified
folds for classifiers, the Evaluator's shuffle), the reference follows
mlcore's default and the README's differences table says so.
"""
import numpy as np
import pytest
from scipy.stats import randint
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mlcore.ensemble import (BlendEnsemble, Sequential, SequentialEnsemble,
                             SuperLearner)
from mlcore.metrics import make_scorer, mape, rmse
from mlcore.model_selection import Evaluator, benchmark
from mlcore.preprocessing import Subset
from mlcore.utils.dummy import OLS, Scale

SEED = 2017


def _iris():
    """The tutorial's data: iris, permuted with seed 2017."""
    data = load_iris()
    idx = np.random.RandomState(SEED).permutation(150)
    return data.data[idx], data.target[idx]


def _fold_scores(est, X, y, splits, score, pre=None):
    """Per-fold ``score(y_test, predictions)`` of ``est`` (after the
    preprocessing steps ``pre``, fitted on each training part)."""
    out = []
    for tr, te in splits:
        model = make_pipeline(*[clone(p) for p in pre or []], clone(est))
        out.append(score(y[te], model.fit(X[tr], y[tr]).predict(X[te])))
    return np.array(out)


###############################################################################
# Ensemble guide

def test_getting_started_ensemble():
    X, y = _iris()
    ensemble = SuperLearner(scorer=accuracy_score, random_state=SEED)
    ensemble.add([RandomForestClassifier(random_state=SEED), SVC()])
    ensemble.add_meta(LogisticRegression())
    ensemble.fit(X[:75], y[:75])
    preds = ensemble.predict(X[75:])
    text = "Fit data:\n%r" % ensemble.data
    assert text.splitlines()[1].split() == ["score-m", "score-s", "ft-m",
                                            "ft-s", "pt-m", "pt-s"]
    # mlcore's default folds for a classifier: StratifiedKFold(5)
    splits = list(StratifiedKFold(5).split(X[:75], y[:75]))
    base = {"randomforestclassifier": RandomForestClassifier(
        random_state=SEED), "svc": SVC()}
    for name, est in base.items():
        scores = _fold_scores(est, X[:75], y[:75], splits, accuracy_score)
        row = "layer-1/" + name
        assert ensemble.data["score-m"][row] == pytest.approx(scores.mean(),
                                                              rel=1e-12)
        assert ensemble.data["score-s"][row] == pytest.approx(scores.std(),
                                                              abs=1e-12)
    assert ensemble.data.rows() == ["layer-1/randomforestclassifier",
                                    "layer-1/svc"]
    # the prediction: the meta learner on the out-of-fold predictions
    oof = np.column_stack([np.zeros(75)] * 2)
    for j, est in enumerate(base.values()):
        for tr, te in splits:
            oof[te, j] = clone(est).fit(X[tr], y[tr]).predict(X[:75][te])
    new = np.column_stack([clone(e).fit(X[:75], y[:75]).predict(X[75:])
                           for e in base.values()])
    meta = LogisticRegression().fit(oof, y[:75])
    np.testing.assert_array_equal(preds, meta.predict(new))
    assert accuracy_score(preds, y[75:]) > 0.9


def test_getting_started_multi_layer_ensemble():
    X, y = _iris()
    ensemble = SuperLearner(scorer=accuracy_score, random_state=SEED)
    ensemble.add([RandomForestClassifier(random_state=SEED),
                  LogisticRegression()])
    ensemble.add([LogisticRegression(), SVC()])
    ensemble.add_meta(SVC())
    ensemble.fit(X[:75], y[:75])
    assert ensemble.predict(X[75:]).shape == (75,)
    assert ensemble.data.rows() == [
        "layer-1/logisticregression", "layer-1/randomforestclassifier",
        "layer-2/logisticregression", "layer-2/svc"]
    assert ensemble.layers.n_layers == 3
    assert ensemble.layer_3 is ensemble.layers_[2]
    # the meta layer's cross-validated row, which mlens did not have
    assert ("layer-3", "svc") in ensemble.data_frame().index


def test_common_user_arguments_are_accepted_and_change_nothing():
    """``SuperLearner(scorer=..., folds=10, shuffle=True,
    sample_size=len(X))``, as many ML-Ensemble users wrote it."""
    X, y = _iris()
    kw = dict(scorer=accuracy_score, folds=10, shuffle=True, random_state=1)
    plain = SuperLearner(**kw)
    compat = SuperLearner(sample_size=len(X), array_check=2, **kw)
    for ens in (plain, compat):
        ens.add([GaussianNB(), LogisticRegression()])
        ens.add_meta(LogisticRegression())
        ens.fit(X[:100], y[:100])
    np.testing.assert_array_equal(plain.predict(X[100:]),
                                  compat.predict(X[100:]))
    assert plain.data["score-m"] == compat.data["score-m"]
    assert clone(compat).get_params()["sample_size"] == len(X)
    assert SequentialEnsemble(model_selection=True, n_jobs=1).model_selection


###############################################################################
# Model selection mode: an ensemble as a preprocessing step

def test_model_selection_mode_returns_the_rows_it_predicted():
    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 3), rng.randn(50)
    ens = BlendEnsemble(test_size=0.4, model_selection=True)
    ens.add([Ridge(), KNeighborsRegressor(3)])
    Z = ens.fit_transform(X, y)
    P, y_P = ens.transform(X, y)
    np.testing.assert_array_equal(P, Z)
    np.testing.assert_array_equal(y_P, y[30:])  # the blend's holdout rows
    X_new, y_new = rng.randn(7, 3), rng.randn(7)
    P, y_P = ens.transform(X_new, y_new)  # new data: every row predicted
    np.testing.assert_array_equal(P, ens.transform(X_new))
    assert P.shape == (7, 2)
    np.testing.assert_array_equal(y_P, y_new)
    assert not isinstance(ens.transform(X), tuple)  # no y: just P
    with pytest.raises(ValueError, match="y has 6 entries"):
        ens.transform(X_new, y_new[:6])
    ens.set_params(model_selection=False)
    assert not isinstance(ens.transform(X, y), tuple)


def test_ensemble_as_evaluator_preprocessing():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = X @ [1.0, 2.0, -1.0] + 0.3 * rng.randn(60)
    in_layer = SuperLearner(folds=3, model_selection=True)
    in_layer.add([Ridge(), KNeighborsRegressor(5)])
    ev = Evaluator(make_scorer(rmse, greater_is_better=False), cv=3,
                   shuffle=False)
    ev.fit(X, y, [LinearRegression()], preprocessing={"sl": [in_layer]})
    scores = []
    for tr, te in KFold(3).split(X):
        layer = clone(in_layer).fit(X[tr], y[tr])
        fit = LinearRegression().fit(layer.transform(X[tr]), y[tr])
        scores.append(-rmse(y[te], fit.predict(layer.transform(X[te]))))
    assert ev.results["test_score-m"]["sl.linearregression"] == \
        pytest.approx(np.mean(scores), rel=1e-12)


###############################################################################
# Model selection guide

def _accuracy_reference(ev, X, y, cases, splits):
    """{row: mean accuracy} of each best draw, computed by hand."""
    out = {}
    for row, params in ev.results["params"].items():
        case, _, name = row.rpartition(".")
        est = {"gnb": GaussianNB(), "knn": KNeighborsClassifier()}[name]
        est = clone(est).set_params(**params)
        out[row] = _fold_scores(est, X, y, splits, accuracy_score,
                                cases.get(case)).mean()
    return out


def test_getting_started_model_selection_in_two_steps():
    X, y = _iris()
    accuracy_scorer = make_scorer(accuracy_score, greater_is_better=True)
    ests = [("gnb", GaussianNB()), ("knn", KNeighborsClassifier())]
    params = {"knn": {"n_neighbors": randint(2, 20)}}
    # shuffle=False: mlcore's Evaluator shuffles by default (ML-Ensemble's
    # never did), see the README's differences table
    evaluator = Evaluator(accuracy_scorer, cv=5, random_state=SEED,
                          shuffle=False)
    evaluator.fit(X, y, ests, params, n_iter=3)
    splits = list(KFold(5).split(X))
    ref = _accuracy_reference(evaluator, X, y, {}, splits)
    assert list(ref) == ["gnb", "knn"]
    for row, value in ref.items():
        assert evaluator.results["test_score-m"][row] == pytest.approx(
            value, rel=1e-12)
    assert "%r" % evaluator.results
    first = evaluator.results

    # --- preprocessing only, then estimators on the fitted cases ---
    cases = {"none": [], "sc": [StandardScaler()], "sub": [Subset([0, 1])]}
    evaluator.fit(X, y, preprocessing=cases)
    assert evaluator.results is first  # nothing evaluated
    assert set(evaluator.preprocess_times_) == {"none", "sc", "sub"}
    evaluator.fit(X, y, ests, params, n_iter=3)
    ref = _accuracy_reference(evaluator, X, y, cases, splits)
    assert sorted(ref) == ["none.gnb", "none.knn", "sc.gnb", "sc.knn",
                           "sub.gnb", "sub.knn"]
    for row, value in ref.items():
        assert evaluator.results["test_score-m"][row] == pytest.approx(
            value, rel=1e-12)
    lines = repr(evaluator.results).splitlines()
    assert lines[1].split()[:2] == ["none", "gnb"]  # (case, estimator) rows

    # --- different estimators and parameter distributions per case ---
    pars_1 = {"n_neighbors": randint(20, 30)}
    pars_2 = {"n_neighbors": randint(2, 10)}
    params = {("sc", "knn"): pars_1, ("none", "knn"): pars_2,
              ("sub", "knn"): pars_2}
    ests_1 = [("gnb", GaussianNB()), ("knn", KNeighborsClassifier())]
    ests_2 = [("knn", KNeighborsClassifier())]
    estimators = {"sc": ests_1, "none": ests_2, "sub": ests_1}
    evaluator.fit(X, y, estimators, params, n_iter=3)
    chosen = evaluator.results["params"]
    assert sorted(chosen) == ["none.knn", "sc.gnb", "sc.knn", "sub.gnb",
                              "sub.knn"]
    assert 20 <= chosen["sc.knn"]["n_neighbors"] < 30
    assert 2 <= chosen["none.knn"]["n_neighbors"] < 10
    assert [len(d) for d in evaluator.params.values()] == [1, 3, 3, 1, 3]


def test_preprocess_and_evaluate_steps_equal_one_fit():
    """ML-Ensemble's test_w_prep / test_w_prep_fit: the two-step run and
    the single fit give the same scores and draws."""
    rng = np.random.RandomState(100)
    X = rng.rand(100, 2) * 10
    y = X @ [3.0, -1.0] + 20 + rng.randn(100)
    scorer = make_scorer(mape, greater_is_better=False)
    kw = dict(cv=5, shuffle=False, random_state=100)
    two = Evaluator(scorer, **kw)
    two.preprocess(X, y, {"pr": [Scale()], "no": []})
    two.evaluate(X, y, estimators=[OLS()],
                 param_dicts={"ols": {"offset": randint(1, 10)}}, n_iter=3)
    one = Evaluator(scorer, **kw).fit(
        X, y, estimators=[OLS()],
        param_dicts={"ols": {"offset": randint(1, 10)}},
        preprocessing={"pr": [Scale()], "no": []}, n_iter=3)
    for col in ("test_score-m", "test_score-s", "train_score-m", "params"):
        assert two.results[col] == one.results[col]
    offset = one.results["params"]["no.ols"]["offset"]
    ref = _fold_scores(OLS(offset=offset), X, y, KFold(5).split(X),
                       lambda a, b: -mape(a, b))
    assert one.results["test_score-m"]["no.ols"] == pytest.approx(
        ref.mean(), rel=1e-12)
    # benchmark: the same table for the estimators as they are
    out = benchmark(X, y, scorer, 5, {"pr": [OLS()], "no": [OLS()]},
                    {"pr": [Scale()], "no": []}, None)
    ref = _fold_scores(OLS(), X, y, KFold(5).split(X),
                       lambda a, b: -mape(a, b), [Scale()])
    assert out["test_score-m"]["pr.ols"] == pytest.approx(ref.mean(),
                                                          rel=1e-12)


def test_failed_scoring_records_the_error_score():
    """ML-Ensemble's test_passes."""
    from sklearn.exceptions import FitFailedWarning

    def failed_score(p, y):
        raise ValueError("This fails.")

    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 2), rng.rand(40)
    evl = Evaluator(make_scorer(failed_score), error_score=0, n_jobs=1)
    with pytest.warns(FitFailedWarning):
        evl.fit(X, y, estimators=[OLS()],
                param_dicts={"ols": {"offset": randint(1, 10)}}, n_iter=1)
    assert evl.results["test_score-m"]["ols"] == 0
    with pytest.raises(ValueError, match="needs estimators"):
        Evaluator(rmse).fit(X, y)


###############################################################################
# Paths and the low-level stack

def test_mlens_module_paths():
    import mlcore.index
    from mlcore.index.base import (BaseIndex, FullIndex, make_tuple,
                                   partition, prune_train)
    assert (BaseIndex, FullIndex, make_tuple, partition, prune_train) == (
        mlcore.index.BaseIndex, mlcore.index.FullIndex,
        mlcore.index.make_tuple, mlcore.index.partition,
        mlcore.index.prune_train)
    assert make_tuple(np.array([0, 1, 2, 5, 6, 8, 9, 10])) == [
        (0, 3), (5, 7), (8, 11)]
    from mlcore.metrics.metrics import rmse as r
    from mlcore.metrics.utils import Data, assemble_data, assemble_table
    assert r is rmse and callable(assemble_data) and callable(assemble_table)
    assert Data is __import__("mlcore.metrics").metrics.Data


def test_sequential_stack_of_layers():
    from mlcore.index import FoldIndex, FullIndex
    from mlcore.layer import Layer, make_group
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    y = X @ [1.0, 2.0, 3.0] + rng.randn(30)
    seq = Sequential(stack=[
        Layer("layer-1", [make_group(FoldIndex(3), [Ridge()])]),
        Layer("layer-2", [make_group(FullIndex(), [LinearRegression()])])])
    P = seq.fit_transform(X, y)
    oof = np.zeros(30)
    for tr, te in KFold(3).split(X):
        oof[te] = Ridge().fit(X[tr], y[tr]).predict(X[te])
    meta = LinearRegression().fit(oof[:, None], y)
    np.testing.assert_allclose(P[:, 0], meta.predict(oof[:, None]),
                               rtol=1e-12)
    new = Ridge().fit(X, y).predict(X[:5])[:, None]
    np.testing.assert_allclose(seq.predict(X[:5]), meta.predict(new),
                               rtol=1e-12)
    assert seq.data.rows() == ["layer-1/ridge", "layer-2/linearregression"]
    with pytest.raises(Exception, match="not fitted"):
        Sequential(stack=seq.stack[0]).predict(X)
