"""Defaults that must not give a silently wrong result.

Label-sorted data (many real CSV files, and scikit-learn's own ``load_iris``
/ ``load_wine``) with the default folds, learners fitted without some
class, and the scores shown for every layer.
"""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine, make_classification
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import (KFold, StratifiedKFold, cross_val_predict,
                                     train_test_split)
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from mlcore.ensemble import (BlendEnsemble, SequentialEnsemble, Subsemble,
                             SuperLearner)
from mlcore.exceptions import MissingClassWarning

from ._order import by_name

SEQ = dict(backend="sequential", n_jobs=1)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def _learners():
    return [("lr", make_pipeline(StandardScaler(), LogisticRegression())),
            ("gnb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=4, random_state=0))]


def _sorted_split(load):
    """A stratified 70/30 split whose training rows keep the file's order
    (sorted by class, as the data sets ship)."""
    X, y = load(return_X_y=True)
    assert np.all(np.diff(y) >= 0)  # the data set is label-sorted
    tr, te = train_test_split(np.arange(len(y)), test_size=0.3,
                              random_state=0, stratify=y)
    tr = np.sort(tr)
    return X[tr], y[tr], X[te], y[te]


###############################################################################
# Item: default folds on label-sorted data

@pytest.mark.parametrize("load", [load_wine, load_iris])
def test_defaults_on_label_sorted_data_match_stacking_classifier(load):
    Xtr, ytr, Xte, yte = _sorted_split(load)
    ref = StackingClassifier(_learners(), final_estimator=LogisticRegression())
    ref_score = ref.fit(Xtr, ytr).score(Xte, yte)
    ens = SuperLearner(**SEQ).add(_learners(), proba=True)
    ens.add_meta(LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingClassWarning)
        score = ens.fit(Xtr, ytr).score(Xte, yte)
    assert score >= ref_score - 0.02, (score, ref_score)
    # the garbage the old default (2 contiguous folds) produced is flagged
    old = SuperLearner(folds=2, **SEQ).add(_learners(), proba=True)
    old.add_meta(LogisticRegression())
    with pytest.warns(MissingClassWarning):
        old_score = old.fit(Xtr, ytr).score(Xte, yte)
    assert old_score < ref_score - 0.2


def test_default_folds_are_scikit_learns():
    """folds=None: StratifiedKFold(5) for classification, KFold(5) for
    regression; the out-of-fold predictions equal cross_val_predict's."""
    X, y = load_iris(return_X_y=True)
    base = _learners()
    ens = SuperLearner(**SEQ).add(base, proba=True)
    ens.add_meta(LogisticRegression()).fit(X, y)
    ref = np.hstack([cross_val_predict(est, X, y, cv=StratifiedKFold(5),
                                       method="predict_proba")
                     for _, est in by_name(base)])
    np.testing.assert_array_equal(ens.oof_predictions_["layer-1"], ref)
    rng = np.random.RandomState(0)
    Xr = rng.randn(53, 4)
    yr = np.sort(Xr @ [1.0, 2.0, -1.0, 0.5])
    reg = SuperLearner(**SEQ).add([Ridge(), LinearRegression()]).fit(Xr, yr)
    ref = np.column_stack([cross_val_predict(e, Xr, yr, cv=KFold(5))
                           for e in (LinearRegression(), Ridge())])
    np.testing.assert_array_equal(reg.oof_predictions_["layer-1"], ref)
    # SequentialEnsemble's 'stack' layers default the same way
    seq = SequentialEnsemble(**SEQ).add("stack", base, proba=True).fit(X, y)
    np.testing.assert_array_equal(seq.oof_predictions_["layer-1"],
                                  ens.oof_predictions_["layer-1"])


def test_explicit_int_folds_stay_contiguous():
    """An int keeps ML-Ensemble's contiguous folds (KFold(k))."""
    X, y = make_classification(80, 5, random_state=0)
    ens = SuperLearner(folds=4, **SEQ).add([GaussianNB()], proba=True)
    ens.fit(X, y)
    ref = cross_val_predict(GaussianNB(), X, y, cv=KFold(4),
                            method="predict_proba")
    np.testing.assert_array_equal(ens.oof_predictions_["layer-1"], ref)


def test_set_params_after_add_takes_effect():
    X, y = make_classification(80, 5, random_state=0)
    ens = SuperLearner(folds=2, **SEQ).add([GaussianNB()], proba=True)
    ens.set_params(folds=4).fit(X, y)
    assert ens.layers_[0].groups[0].indexer.n_splits == 4
    blend = BlendEnsemble(test_size=0.5, **SEQ).add([GaussianNB()])
    blend.set_params(test_size=0.25).fit(X, y)
    assert blend.oof_predictions_["layer-1"].shape[0] == 20


def test_bad_folds_name_the_parameter():
    X, y = make_classification(40, 4, random_state=0)
    with pytest.raises(TypeError, match="folds must be None, an int"):
        SuperLearner(folds="five").add([GaussianNB()]).fit(X, y)
    with pytest.raises(ValueError, match="folds must be at least 2"):
        SuperLearner(folds=1).add([GaussianNB()]).fit(X, y)
    with pytest.raises(TypeError, match="folds must be None"):
        SuperLearner().add([GaussianNB()], folds=2.5)


###############################################################################
# Item: a warning for every fit that lacks a class

def _sorted_iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def _messages(record):
    return [str(w.message) for w in record
            if w.category is MissingClassWarning]


def test_missing_class_warning_names_layer_learners_and_fold():
    X, y = _sorted_iris()
    ens = SuperLearner(folds=3, **SEQ)
    ens.add([("nb", GaussianNB()), ("tree", DecisionTreeClassifier())],
            proba=True).add_meta(LogisticRegression())
    with pytest.warns(MissingClassWarning) as rec:
        ens.fit(X, y)
    (msg,) = _messages(rec)  # one per layer; the meta layer saw every class
    assert msg.startswith("layer-1: ")
    assert "(3 classes)" in msg
    assert msg.endswith("Are the rows sorted by label? Use stratified folds "
                        "(folds=None or a StratifiedKFold) or shuffle=True.")
    # fold j's training rows hold the two other classes
    for j, label in enumerate(["setosa", "versicolor", "virginica"], 1):
        assert "fold %d lacks %r (learners 'nb', 'tree')" % (j, label) in msg


@pytest.mark.parametrize("refit", [True, False])
def test_missing_class_warning_for_blends_and_partitions(refit):
    X, y = _sorted_iris()
    blend = BlendEnsemble(test_size=0.5, refit=refit, **SEQ).add(
        [GaussianNB()], proba=True)
    with pytest.warns(MissingClassWarning) as rec:
        blend.fit(X, y)
    # the refit on all rows saw every class: only the training part lacks one
    assert _messages(rec) == [
        "layer-1: some learners were fitted on training rows that lack "
        "classes of y (3 classes), and can never predict them: the training "
        "part lacks 'virginica' (learner 'gaussiannb'). The blend trains on "
        "the first rows: are the rows sorted by label? Use shuffle=True."]
    sub = Subsemble(partitions=3, folds=2, **SEQ).add(
        [DecisionTreeClassifier()], proba=True)
    with pytest.warns(MissingClassWarning) as rec:
        sub.fit(X, y)
    (msg,) = _messages(rec)
    assert "partition 0, the full fit lacks 'versicolor', 'virginica'" in msg
    assert "and 3 more" in msg  # 9 fits lack classes; 6 are listed
    assert "Use shuffle=True, or a partition_estimator" in msg


def test_no_missing_class_warning_when_every_fit_sees_every_class():
    X, y = _sorted_iris()
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingClassWarning)
        SuperLearner(folds=StratifiedKFold(3), **SEQ).add(
            [GaussianNB()], proba=True).add_meta(
                LogisticRegression()).fit(X, y)
        SuperLearner(folds=3, shuffle=True, random_state=0, **SEQ).add(
            [GaussianNB()], proba=True).fit(X, y)


###############################################################################
# Item: the meta layer's row of `data` is cross-validated, or has no score

def _fold_scores(est, Z, y, cv, score):
    out = []
    for tr, te in cv.split(Z, y):
        out.append(score(y[te], clone(est).fit(Z[tr], y[tr]).predict(Z[te])))
    return np.array(out)


def test_meta_row_is_a_cross_validated_score():
    from sklearn.datasets import load_diabetes
    from sklearn.metrics import r2_score
    from sklearn.tree import DecisionTreeRegressor
    X, y = load_diabetes(return_X_y=True)
    base = [Ridge(), DecisionTreeRegressor(max_depth=3, random_state=0)]
    ens = SuperLearner(folds=5, **SEQ).add(base).add_meta(Ridge()).fit(X, y)
    C = np.column_stack([cross_val_predict(e, X, y, cv=KFold(5))
                         for e in by_name(base)])
    np.testing.assert_array_equal(ens.oof_predictions_["layer-1"], C)
    scores = _fold_scores(Ridge(), C, y, KFold(5), r2_score)
    row = ens.data_frame().loc[("layer-2", "ridge")]
    assert "layer-2/ridge" not in ens.data["score-m"]  # as in ML-Ensemble
    assert row["score-m"] == pytest.approx(scores.mean(), rel=1e-12)
    assert row["score-s"] == pytest.approx(scores.std(), rel=1e-9)
    in_sample = r2_score(y, Ridge().fit(C, y).predict(C))
    assert row["score-m"] < in_sample  # what the table used to show
    # the meta layer's out-of-fold predictions are out of fold too
    np.testing.assert_array_equal(ens.oof_predictions_["layer-2"][:, 0],
                                  cross_val_predict(Ridge(), C, y,
                                                    cv=KFold(5)))
    # predictions still come from the meta learner fitted on every row
    Xn = X[:7] + 0.01
    T = np.column_stack([clone(e).fit(X, y).predict(Xn) for e in by_name(base)])
    np.testing.assert_array_equal(ens.predict(Xn),
                                  Ridge().fit(C, y).predict(T))


@pytest.mark.filterwarnings("ignore:Number of classes in training fold")
def test_classifier_meta_row_uses_stratified_folds():
    from sklearn.metrics import accuracy_score
    X, y = load_iris(return_X_y=True)   # sorted: contiguous folds would
    base = [GaussianNB()]               # leave the meta without a class
    ens = SuperLearner(folds=3, **SEQ).add(base, proba=True)
    with pytest.warns(MissingClassWarning, match="layer-1:"):
        ens.add_meta(LogisticRegression()).fit(X, y)
    C = cross_val_predict(GaussianNB(), X, y, cv=KFold(3),
                          method="predict_proba")
    scores = _fold_scores(LogisticRegression(), C, y, StratifiedKFold(3),
                          accuracy_score)
    row = ens.data_frame().loc[("layer-2", "logisticregression")]
    assert row["score-m"] == pytest.approx(scores.mean(), rel=1e-12)


def test_layers_fitted_once_on_all_rows_have_no_score():
    X, y = make_classification(120, 5, random_state=0)
    blend = BlendEnsemble(**SEQ).add([GaussianNB()], proba=True)
    blend.add_meta(LogisticRegression()).fit(X, y)
    frame = blend.data_frame()
    assert not np.isnan(frame.loc[("layer-1", "gaussiannb"), "score-m"])
    assert np.isnan(frame.loc[("layer-2", "logisticregression"), "score-m"])
    assert frame.loc[("layer-2", "logisticregression"), "ft-m"] > 0
    # ML-Ensemble's table has no row for a layer fitted on all its rows
    assert blend.data.rows() == ["layer-1/gaussiannb"]
    seq = SequentialEnsemble(**SEQ).add("full", [GaussianNB()], proba=True)
    seq.add("stack", [LogisticRegression()], folds=3).fit(X, y)
    assert seq.data.rows() == ["layer-2/logisticregression"]
    frame = seq.data_frame()
    assert np.isnan(frame.loc[("layer-1", "gaussiannb"), "score-m"])
    assert not np.isnan(frame.loc[("layer-2", "logisticregression"),
                                  "score-m"])


###############################################################################
# Item: the user's labels everywhere a user can reach

def _text_iris(n_new=9):
    X, yi = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    rng = np.random.RandomState(0)
    return X, names[yi], names, X[rng.choice(len(X), n_new)] + 0.05


def test_layer_estimators_are_fitted_on_the_users_labels():
    X, y, names, Xn = _text_iris()
    base = [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())]
    ens = SuperLearner(**SEQ).add(base).add_meta(LogisticRegression())
    ens.fit(X, y)
    for layer in ens.layers_:
        for key, est in layer.estimators_.items():
            assert np.array_equal(est.classes_, names), key
    lr = ens.layer_1.estimators_[("lr", 0, 0)]
    np.testing.assert_array_equal(
        lr.predict(Xn),
        LogisticRegression(max_iter=1000).fit(X, y).predict(Xn))
    # the label columns of the out-of-fold predictions hold the labels
    oof = ens.oof_predictions_["layer-1"]
    for j, (_, est) in enumerate(base):
        np.testing.assert_array_equal(
            oof[:, j], cross_val_predict(est, X, y, cv=StratifiedKFold(5)))
    meta_oof = ens.oof_predictions_["layer-2"][:, 0]
    assert set(meta_oof) <= set(names)
    # transform of the training data, as ML-Ensemble's: the meta learner's
    # fit on all rows applied to the out-of-fold predictions, as positions
    # in classes_
    Z = ens.fit_transform(X, y)
    assert Z.dtype == np.float64 and Z.shape == (len(X), 1)
    np.testing.assert_array_equal(ens.transform(X), Z)
    Z = Z[:, 0]
    (meta,) = [e for k, e in ens.layer_2.estimators_.items() if k[2] == 0]
    np.testing.assert_array_equal(
        names[Z.astype(int)], meta.predict(np.searchsorted(names, oof)))


def test_numeric_labels_keep_numbers_in_the_tables():
    X, yi = load_iris(return_X_y=True)
    labels = np.array([3, 7, 10])
    y = labels[yi]
    ens = SuperLearner(folds=StratifiedKFold(3), **SEQ).add([GaussianNB()])
    ens.fit(X, y)
    oof = ens.oof_predictions_["layer-1"]
    assert oof.dtype == np.float64
    np.testing.assert_array_equal(
        oof[:, 0],
        cross_val_predict(GaussianNB(), X, y, cv=StratifiedKFold(3)))


def test_user_scorer_gets_the_users_labels():
    from sklearn.metrics import f1_score
    X, yi = make_classification(120, 5, random_state=1)
    y = np.array(["no", "yes"])[yi]
    seen = []

    def f1_yes(y_true, y_pred):
        seen.append(set(y_true) | set(y_pred))
        return f1_score(y_true, y_pred, pos_label="yes")

    cv = StratifiedKFold(4)
    ens = SuperLearner(folds=cv, scorer=f1_yes, **SEQ).add([GaussianNB()])
    ens.fit(X, y)
    assert all(s <= {"no", "yes"} for s in seen)
    ref = [f1_score(y[te], clone(GaussianNB()).fit(X[tr], y[tr]).predict(
        X[te]), pos_label="yes") for tr, te in cv.split(X, y)]
    assert ens.data["score-m"]["layer-1/gaussiannb"] == pytest.approx(
        np.mean(ref), rel=1e-12)


# KFold(3) on the sorted rows: each fold lacks a class (warned, on purpose)
@pytest.mark.filterwarnings("ignore::mlcore.exceptions.MissingClassWarning")
def test_regressor_in_a_classifier_ensemble_with_text_labels():
    """A regressor among classifiers is fitted on the labels' positions
    (text labels have no numeric value); the fitted regressor itself is
    what the layer keeps."""
    X, y, names, Xn = _text_iris()
    pos = np.searchsorted(names, y).astype(float)
    ens = SuperLearner(folds=KFold(3), **SEQ)
    ens.add([("ridge", Ridge()), ("nb", GaussianNB())])
    ens.add_meta(LogisticRegression()).fit(X, y)
    ridge = ens.layer_1.estimators_[("ridge", 0, 0)]
    assert type(ridge) is Ridge
    np.testing.assert_array_equal(ridge.predict(Xn),
                                  Ridge().fit(X, pos).predict(Xn))
    np.testing.assert_array_equal(
        ens.oof_predictions_["layer-1"][:, 1].astype(float),  # nb, ridge
        cross_val_predict(Ridge(), X, pos, cv=KFold(3)))
    assert set(ens.predict(Xn)) <= set(names)


def test_text_labels_on_a_process_backend():
    X, y, names, Xn = _text_iris()
    preds = {}
    for backend in ("sequential", "loky"):
        ens = SuperLearner(folds=3, shuffle=True, random_state=0,
                           backend=backend, n_jobs=2)
        ens.add([GaussianNB(), DecisionTreeClassifier(random_state=0)])
        ens.add_meta(LogisticRegression())
        preds[backend] = (ens.fit(X, y).predict(Xn),
                          ens.oof_predictions_["layer-1"])
    np.testing.assert_array_equal(preds["loky"][0], preds["sequential"][0])
    np.testing.assert_array_equal(preds["loky"][1], preds["sequential"][1])
    assert set(preds["loky"][1].ravel()) <= set(names)


###############################################################################
# Item: tuning through the ensemble (nested parameters)

def _tunable():
    return (SuperLearner(folds=3, **SEQ)
            .add([("lr", LogisticRegression(max_iter=500)), GaussianNB()],
                 preprocessing=[StandardScaler()], proba=True)
            .add_meta(LogisticRegression()))


def test_grid_search_over_a_base_learner_and_the_meta():
    from sklearn.model_selection import GridSearchCV, cross_val_score
    X, y = make_classification(150, 6, n_informative=3, random_state=0)
    grid = {"layer-1__pr__lr__C": [0.01, 1.0],
            "layer-2__logisticregression__C": [0.05, 2.0]}
    cv = StratifiedKFold(3)
    search = GridSearchCV(_tunable(), grid, cv=cv).fit(X, y)
    for params, mean in zip(search.cv_results_["params"],
                            search.cv_results_["mean_test_score"]):
        ens = (SuperLearner(folds=3, **SEQ)
               .add([("lr", LogisticRegression(
                   C=params["layer-1__pr__lr__C"], max_iter=500)),
                     GaussianNB()],
                    preprocessing=[StandardScaler()], proba=True)
               .add_meta(LogisticRegression(
                   C=params["layer-2__logisticregression__C"])))
        assert mean == cross_val_score(ens, X, y, cv=cv).mean()
    best = search.best_estimator_
    assert best.layers[0].estimators[0][1].C == \
        search.best_params_["layer-1__pr__lr__C"]
    assert best.layer_1.estimators_[("pr__lr", 0, 0)].C == \
        search.best_params_["layer-1__pr__lr__C"]


def test_deep_params_name_every_learner_step_and_meta():
    ens = SuperLearner(**SEQ).add(
        {"sc": [Ridge(), Ridge(alpha=3.0)], "no": [LinearRegression()]},
        preprocessing={"sc": [StandardScaler()]})
    ens.add_meta(Ridge())
    params = ens.get_params(deep=True)
    objects = {k: v for k, v in params.items()
               if k.startswith("layer-") and hasattr(v, "get_params")}
    assert sorted(objects) == ["layer-1__linearregression",
                               "layer-1__sc__ridge-1", "layer-1__sc__ridge-2",
                               "layer-1__sc__standardscaler",
                               "layer-2__ridge"]
    assert params["layer-1__sc__ridge-2__alpha"] == 3.0
    assert params["layer-1__sc__standardscaler__with_mean"] is True
    # the learner paths are the rows of `data` (case.learner there)
    X, y = make_classification(60, 4, random_state=0)
    rows = clone(ens).fit(X, y.astype(float)).data_frame().index
    assert sorted("/".join(r) for r in rows) == sorted(
        k.replace("__", "/", 1).replace("__", ".")
        for k in objects if "standardscaler" not in k)
    ens.set_params(**{"layer-1__sc__standardscaler__with_mean": False,
                      "layer-1__sc__ridge-2__alpha": 7.0})
    assert ens.layers[0].preprocessing["sc"][0].with_mean is False
    assert ens.layers[0].estimators["sc"][1].alpha == 7.0
    # the shallow parameters are the constructor's, as clone needs
    assert set(ens.get_params(deep=False)) == {
        "folds", "shuffle", "random_state", "scorer", "raise_on_exception",
        "verbose", "n_jobs", "backend", "layers", "refit", "n_repeats",
        "array_check", "model_selection", "sample_size",
        "memory", "max_fit_time"}


def test_set_params_replaces_a_learner_keeping_its_name_and_clone_agrees():
    X, y = make_classification(90, 5, random_state=0)
    ens = _tunable()
    c = clone(ens)
    assert c.get_params().keys() == ens.get_params().keys()
    c.set_params(**{"layer-1__pr__gaussiannb": DecisionTreeClassifier(
        max_depth=2, random_state=0), "layer-1__pr__gaussiannb__max_depth": 3})
    assert isinstance(ens.layers[0].estimators[1], GaussianNB)  # untouched
    assert c.get_params()["layer-1__pr__gaussiannb__max_depth"] == 3
    c.fit(X, y)
    assert "layer-1/pr.gaussiannb" in c.data["score-m"]
    assert c.layer_1.estimators_[("pr__gaussiannb", 0, 0)].max_depth == 3
    with pytest.raises(ValueError, match="Invalid parameter "
                                         "'layer-1__svc__C'.*layer-1__pr__lr"):
        ens.set_params(**{"layer-1__svc__C": 1.0})
    with pytest.raises(ValueError, match="Invalid parameter"):
        ens.set_params(**{"layer-3__lr__C": 1.0})


def test_nested_ensemble_params():
    inner = SuperLearner(**SEQ).add([Ridge()]).add_meta(LinearRegression())
    outer = SuperLearner(**SEQ).add([("inner", inner), Ridge()])
    outer.add_meta(LinearRegression())
    assert outer.get_params()["layer-1__inner__layer-1__ridge__alpha"] == 1.0
    outer.set_params(**{"layer-1__inner__layer-1__ridge__alpha": 4.0})
    assert inner.layers[0].estimators[0].alpha == 4.0


###############################################################################
# Item: column names

def _bc_frame():
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer()
    rng = np.random.RandomState(0)
    idx = rng.choice(len(d.target), 200, replace=False)
    X = pd.DataFrame(d.data[idx], columns=d.feature_names,
                     index=pd.Index(idx * 10, name="id"))
    return X, d.target_names[d.target[idx]]


def test_propagate_features_by_name():
    X, y = _bc_frame()
    named = SuperLearner(**SEQ).add(
        [GaussianNB()], proba=True,
        propagate_features=["mean radius", "worst area"])
    named.add_meta(LogisticRegression(max_iter=1000)).fit(X, y)
    cols = [list(X.columns).index(c) for c in ("mean radius", "worst area")]
    by_pos = SuperLearner(**SEQ).add([GaussianNB()], proba=True,
                                     propagate_features=cols)
    by_pos.add_meta(LogisticRegression(max_iter=1000)).fit(X, y)
    P = named.oof_predictions_["layer-1"]
    np.testing.assert_array_equal(P[:, :2], X[["mean radius",
                                               "worst area"]].to_numpy())
    np.testing.assert_array_equal(P, by_pos.oof_predictions_["layer-1"])
    np.testing.assert_array_equal(named.predict_proba(X),
                                  by_pos.predict_proba(X))
    assert list(named.layer_1.get_feature_names_out()) == [
        "mean radius", "worst area", "gaussiannb_benign",
        "gaussiannb_malignant"]
    # a later layer names the columns of the layer before it
    ens = SuperLearner(**SEQ).add([GaussianNB()], proba=True,
                                  propagate_features=["mean radius"])
    ens.add([LogisticRegression(max_iter=1000)],
            propagate_features=["mean radius", "gaussiannb_benign"]).fit(X, y)
    P2 = ens.oof_predictions_["layer-2"]
    P1 = ens.oof_predictions_["layer-1"]
    np.testing.assert_array_equal(P2[:, :2].astype(float), P1[:, :2])
    assert list(ens.get_feature_names_out()) == [
        "mean radius", "gaussiannb_benign", "logisticregression"]


@pytest.mark.parametrize("columns, error, match", [
    (["no such column"], ValueError,
     r"propagate_features of layer-1: no column named 'no such column'; the "
     r"input's columns are 'mean radius', 'mean texture'"),
    (["mean radius", 3], TypeError, r"all column positions \(int\) or all "
                                    r"column names"),
    ([31], ValueError, r"column 31 is out of range for an input of 30 "
                       r"columns"),
    ("mean radius", TypeError, r"must be a list of column positions"),
])
def test_propagate_features_errors_name_the_parameter(columns, error, match):
    X, y = _bc_frame()
    ens = SuperLearner(**SEQ).add([GaussianNB()], propagate_features=columns)
    with pytest.raises(error, match=match):
        ens.fit(X, y)


def test_propagate_features_names_need_column_names():
    X, y = _bc_frame()
    ens = SuperLearner(**SEQ).add([GaussianNB()],
                                  propagate_features=["mean radius"])
    with pytest.raises(ValueError, match=r"propagate_features of layer-1 "
                                         r"names columns \('mean radius'\), "
                                         r"but X has no column names"):
        ens.fit(X.to_numpy(), y)


def test_set_output_pandas_and_feature_names_out():
    pd = pytest.importorskip("pandas")
    X, y = _bc_frame()
    tree = DecisionTreeClassifier(max_depth=2, random_state=0)
    ens = SuperLearner(**SEQ).add([GaussianNB(), ("tree", tree)], proba=True,
                                  propagate_features=["mean area"])
    ens.set_output(transform="pandas")
    Z = ens.fit_transform(X, y)
    names = ["mean area", "gaussiannb_benign", "gaussiannb_malignant",
             "tree_benign", "tree_malignant"]
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == names == list(ens.get_feature_names_out())
    assert Z.index.equals(X.index)
    np.testing.assert_array_equal(Z.to_numpy(),
                                  ens.oof_predictions_["layer-1"])
    Xn = X.iloc[:5]
    T = ens.transform(Xn)
    assert T.index.equals(Xn.index) and list(T.columns) == names
    ens.set_output(transform="default")
    assert isinstance(ens.transform(Xn), np.ndarray)
    # numpy input: scikit-learn's generated names for propagated columns
    ref = clone(ens).set_params(layers=None).add(
        [GaussianNB(), ("tree", DecisionTreeClassifier(max_depth=2,
                                                       random_state=0))],
        proba=True, propagate_features=[3]).fit(X.to_numpy(), y)
    assert list(ref.get_feature_names_out())[0] == "x3"
    assert list(ref.get_feature_names_out(list(X.columns))) == names
    with pytest.raises(ValueError, match="input_features"):
        ens.get_feature_names_out(["a"] * 30)


@pytest.mark.parametrize("cls, kw", [(SuperLearner, {"folds": 3}),
                                     (BlendEnsemble, {"test_size": 0.3})])
def test_transform_of_the_training_data_after_a_shuffled_fit(cls, kw):
    """transform(X_train) is fit_transform's out-of-fold output (it used to
    replay the folds on the unshuffled rows: in-sample predictions)."""
    X, y = make_classification(150, 5, random_state=0)
    ens = cls(shuffle=True, random_state=3, **kw, **SEQ)
    ens.add([DecisionTreeClassifier(random_state=0)], proba=True,
            propagate_features=[0])
    Z = ens.fit_transform(X, y)
    np.testing.assert_array_equal(ens.transform(X), Z)
    np.testing.assert_array_equal(Z, ens.oof_predictions_["layer-1"])


def test_pandas_output_of_a_blend_is_indexed_by_the_predicted_rows():
    pytest.importorskip("pandas")
    X, y = _bc_frame()
    ens = BlendEnsemble(test_size=0.25, shuffle=True, random_state=3, **SEQ)
    ens.add([GaussianNB()], proba=True, propagate_features=["mean area"])
    ens.set_output(transform="pandas")
    Z = ens.fit_transform(X, y)
    assert len(Z) == 50
    # the propagated column says which rows they are
    np.testing.assert_array_equal(Z["mean area"].to_numpy(),
                                  X.loc[Z.index, "mean area"].to_numpy())
    assert Z.equals(ens.transform(X))
    meta = SuperLearner(**SEQ).add([GaussianNB()], proba=True).add_meta(
        LogisticRegression())
    meta.set_output(transform="pandas")
    assert list(meta.fit_transform(X, y).columns) == ["logisticregression"]


###############################################################################
# Item: tables as DataFrames

def test_data_to_frame_has_a_row_per_learner():
    pd = pytest.importorskip("pandas")
    X, y = make_classification(90, 5, random_state=0)
    ens = SuperLearner(folds=3, **SEQ).add([GaussianNB(), ("tree",
                                            DecisionTreeClassifier(
                                                random_state=0))])
    ens.add_meta(LogisticRegression()).fit(X, y)
    data = ens.data
    df = data.to_frame()
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == data.rows() == [
        "layer-1/gaussiannb", "layer-1/tree"]
    assert list(df.columns) == list(data) == [
        "score-m", "score-s", "ft-m", "ft-s", "pt-m", "pt-s"]
    for col, rows in data.items():
        for name, value in rows.items():
            assert df.loc[name, col] == value
    pd.testing.assert_frame_equal(pd.DataFrame(data), df, check_dtype=False,
                                  check_index_type=False)
    assert str(data).splitlines()[0].split() == list(df.columns)
    # every layer: the meta layer's row too, (layer, learner) rows
    full = ens.data_frame()
    assert list(full.index) == [("layer-1", "gaussiannb"),
                                ("layer-1", "tree"),
                                ("layer-2", "logisticregression")]
    np.testing.assert_array_equal(full.loc["layer-1"].values, df.values)
    assert ens.data_frame(meta=False).shape == (2, 6)
    # a layer without scores leaves NaN cells
    blend = BlendEnsemble(**SEQ).add([GaussianNB()]).add_meta(
        LogisticRegression()).fit(X, y)
    assert np.isnan(blend.data_frame().loc[("layer-2", "logisticregression"),
                                           "score-m"])


def test_evaluator_results_to_frame():
    pytest.importorskip("pandas")
    from mlcore.model_selection import Evaluator
    X, y = make_classification(90, 5, random_state=0)
    ev = Evaluator("accuracy", cv=3, random_state=0, backend="sequential")
    ev.fit(X, y, [GaussianNB(), LogisticRegression()],
           {"logisticregression": {"C": [0.1, 1.0, 10.0]}}, n_iter=2)
    df = ev.results.to_frame()
    assert list(df.index) == ["gaussiannb", "logisticregression"]
    assert df.loc["logisticregression", "params"] == \
        ev.best_params_["logisticregression"]
    assert df.loc["gaussiannb", "test_score-m"] == \
        ev.results["test_score-m"]["gaussiannb"]


def test_to_frame_without_pandas(monkeypatch):
    import sys
    from mlcore.metrics import Data
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="Data.to_frame needs pandas"):
        Data({"a": {"x": 1.0}}).to_frame()


###############################################################################
# Item: environment settings and config_context

@pytest.fixture
def engines(monkeypatch):
    """The n_jobs of every engine the ensembles start."""
    import mlcore.ensemble as E
    seen = []
    real = E.ParallelProcessing

    def spy(*args, **kwargs):
        engine = real(*args, **kwargs)
        seen.append(engine.n_jobs)
        return engine

    monkeypatch.setattr(E, "ParallelProcessing", spy)
    return seen


def _small_fit(**kw):
    X, y = make_classification(60, 4, random_state=0)
    ens = SuperLearner(folds=2, backend="sequential", **kw)
    ens.add([GaussianNB()], proba=True).add_meta(LogisticRegression())
    ens.fit(X, y)
    ens.predict(X)
    return ens


def test_ensembles_honour_mlcore_n_jobs_and_dtype(monkeypatch, engines):
    from mlcore import config
    config.reset()
    monkeypatch.delenv("MLCORE_N_JOBS", raising=False)
    monkeypatch.delenv("MLCORE_DTYPE", raising=False)
    ens = _small_fit()
    assert ens.n_jobs is None and engines == [-1, -1]
    assert ens.oof_predictions_["layer-1"].dtype == np.float64
    monkeypatch.setenv("MLCORE_N_JOBS", "1")
    monkeypatch.setenv("MLCORE_DTYPE", "float32")
    del engines[:]
    ens = _small_fit()
    assert engines == [1, 1]
    assert ens.layers_[0].dtype == np.float32
    assert ens.oof_predictions_["layer-1"].dtype == np.float32
    assert ens.get_params()["n_jobs"] is None  # resolved at fit, not stored
    del engines[:]
    _small_fit(n_jobs=2)           # an explicit value wins
    assert engines == [2, 2]
    X, y = make_classification(60, 4, random_state=0)
    ens = SuperLearner(folds=2, backend="sequential").add(
        [GaussianNB()], proba=True, dtype=np.float64).fit(X, y)
    assert ens.oof_predictions_["layer-1"].dtype == np.float64
    with pytest.raises(ValueError, match="dtype must be a numpy floating"):
        SuperLearner(backend="sequential").add([GaussianNB()],
                                               dtype="int8").fit(X, y)


def test_config_context_wins_and_restores(monkeypatch, engines):
    from mlcore import config, config_context
    config.reset()
    monkeypatch.setenv("MLCORE_N_JOBS", "1")
    with config_context(n_jobs=2, dtype="float32"):
        assert config.get_n_jobs() == 2
        ens = _small_fit()
        with config_context(n_jobs=3):
            assert config.get_n_jobs() == 3
            assert config.get_dtype() == np.float32
        assert config.get_n_jobs() == 2
    assert engines == [2, 2]
    assert ens.oof_predictions_["layer-1"].dtype == np.float32
    assert config.get_n_jobs() == 1
    with pytest.raises(RuntimeError):
        with config_context(n_jobs=4):
            raise RuntimeError("boom")
    assert config.get_n_jobs() == 1
    with pytest.raises(ValueError, match="n_jobs must be a non-zero int"):
        with config_context(n_jobs=0):
            pass
    with pytest.raises(TypeError, match="unknown settings \\['njobs'\\]"):
        with config_context(njobs=2):
            pass
    assert config.get_config()["n_jobs"] == 1


def test_config_context_is_thread_local(monkeypatch):
    import threading
    from mlcore import config, config_context
    config.reset()
    monkeypatch.delenv("MLCORE_N_JOBS", raising=False)
    inside, other = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with config_context(n_jobs=5, dtype="float64"):
            inside.set()
            other.wait(10)
            seen["worker"] = (config.get_n_jobs(), config.get_dtype())

    with config_context(n_jobs=2):
        t = threading.Thread(target=worker)
        t.start()
        inside.wait(10)
        seen["main"] = config.get_n_jobs()
        started = {}
        t2 = threading.Thread(target=lambda: started.update(
            n=config.get_n_jobs()))
        t2.start()
        t2.join(10)
        other.set()
        t.join(10)
    assert seen["main"] == 2
    assert seen["worker"] == (5, np.float64)
    assert started["n"] == -1  # a thread started in a block: not in it


###############################################################################
# Item: every ensemble documents itself

ENSEMBLES = [SuperLearner, BlendEnsemble, Subsemble, SequentialEnsemble]


def _section(doc, title):
    """The body of numpydoc section ``title`` of ``doc``."""
    import inspect
    import re
    m = re.search(r"^%s\n-+\n(.*?)(?=\n\n[^\n]+\n-{3,}|\Z)" % title,
                  inspect.cleandoc(doc), re.S | re.M)
    assert m, "no %s section" % title
    return m.group(1)


def _documented(section):
    """The names a numpydoc Parameters/Attributes section documents
    (``name : type`` lines, and ``a, b`` lines)."""
    import re
    names = set()
    for line in section.splitlines():
        m = re.match(r"^([*\w][\w, *]*) :", line) or re.match(
            r"^(\*?\*?\w+(, \*?\*?\w+)*)$", line)
        if m:
            names.update(n.strip().lstrip("*") for n in m.group(1).split(","))
    return names


@pytest.mark.parametrize("cls", ENSEMBLES + [
    pytest.importorskip("mlcore.ensemble").TemporalEnsemble])
def test_every_parameter_and_attribute_is_documented(cls):
    import inspect
    doc = cls.__doc__
    assert "BaseEnsemble" not in doc
    params = [p for p in inspect.signature(cls).parameters]
    assert _documented(_section(doc, "Parameters")) == set(params)
    attrs = _documented(_section(doc, "Attributes"))
    assert {"layers_", "oof_predictions_", "classes_", "data",
            "n_features_in_", "feature_names_in_", "fit_time_"} <= attrs


@pytest.mark.parametrize("cls", ENSEMBLES + [
    pytest.importorskip("mlcore.ensemble").TemporalEnsemble])
def test_every_public_method_documents_its_parameters(cls):
    import inspect
    for name in ("add", "add_meta", "replace", "remove", "fit", "predict",
                 "predict_proba", "transform", "fit_transform", "score",
                 "get_params", "set_params", "get_feature_names_out"):
        owner = next(k for k in cls.__mro__ if name in vars(k))
        if not owner.__module__.startswith("mlcore"):
            continue
        func = vars(owner)[name]
        func = getattr(func, "fn", func)             # available_if
        func = getattr(func, "__wrapped__", func)    # set_output's wrapper
        doc = func.__doc__
        assert doc and doc.strip(), "%s.%s" % (owner.__name__, name)
        params = [p for p in inspect.signature(func).parameters
                  if p not in ("self", "params")]
        if params:
            documented = _documented(_section(doc, "Parameters"))
            assert set(params) <= documented, (owner.__name__, name, params,
                                               documented)
    if cls is SequentialEnsemble:
        assert "cls : {'stack', 'blend'" in SequentialEnsemble.add.__doc__


def test_replacing_a_numbered_learner_keeps_the_other_names():
    # ridge-1 replaced by a Lasso: the other Ridge stays ridge-2
    from sklearn.linear_model import Lasso
    ens = SuperLearner(**SEQ).add([Ridge(), Ridge(alpha=3.0)])
    ens.set_params(**{"layer-1__ridge-1": Lasso()})
    params = ens.get_params(deep=True)
    assert isinstance(params["layer-1__ridge-1"], Lasso)
    assert params["layer-1__ridge-2__alpha"] == 3.0
    X, y = make_classification(60, 4, random_state=0)
    assert sorted(ens.fit(X, y.astype(float)).data["score-m"]) == [
        "layer-1/ridge-1", "layer-1/ridge-2"]
