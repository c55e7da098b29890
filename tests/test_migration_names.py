"""ML-Ensemble 0.2.3's public names at the same import paths under mlcore.

A migrating user changes only ``mlens`` to ``mlcore`` in the imports. These
tests check each name a hostile migrating user found missing: that it can
be imported from ML-Ensemble's path, and that it does what ML-Ensemble's
did, compared with ML-Ensemble itself (run through :mod:`tests._mlens`;
those comparisons are skipped when it is not installed) or with
scikit-learn / numpy computed by hand.
"""
import importlib
import importlib.util
import itertools
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

import mlcore
from mlcore import config
from mlcore.exceptions import LayerSpecificationError, NotFittedError
from mlcore.index import FoldIndex
from mlcore.parallel import make_group
from mlcore.utils.dummy import OLS, LogisticRegression, Scale

from ._mlens import import_mlens


@pytest.fixture(scope="module")
def mlens():
    module = import_mlens()
    if module is None:
        pytest.skip("ML-Ensemble (mlens) is not installed: "
                    "pip install -e '.[test]'")
    return module


def _regression(n=20, p=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, p)
    return X, X @ np.arange(1.0, p + 1) + rng.randn(n)


###############################################################################
# Import paths

# ML-Ensemble's submodule paths: each name is the object of the flat module
SUBMODULES = {
    "mlcore.ensemble.super_learner": ("mlcore.ensemble", ["SuperLearner"]),
    "mlcore.ensemble.blend": ("mlcore.ensemble", ["BlendEnsemble"]),
    "mlcore.ensemble.subsemble": ("mlcore.ensemble", ["Subsemble"]),
    "mlcore.ensemble.sequential": ("mlcore.ensemble", ["SequentialEnsemble"]),
    "mlcore.ensemble.temporal": ("mlcore.ensemble", ["TemporalEnsemble"]),
    "mlcore.ensemble.base": ("mlcore.ensemble", ["BaseEnsemble",
                                                 "Sequential"]),
    "mlcore.index.base": ("mlcore.index", ["BaseIndex", "FullIndex",
                                           "partition", "prune_train",
                                           "make_tuple"]),
    "mlcore.index.fold": ("mlcore.index", ["FoldIndex"]),
    "mlcore.index.blend": ("mlcore.index", ["BlendIndex"]),
    "mlcore.index.subsemble": ("mlcore.index", ["SubsetIndex",
                                                "ClusteredSubsetIndex"]),
    "mlcore.index.temporal": ("mlcore.index", ["TemporalIndex"]),
    "mlcore.model_selection.model_selection": (
        "mlcore.model_selection", ["BaseEval", "Evaluator", "Benchmark",
                                   "benchmark"]),
    "mlcore.preprocessing.preprocess": ("mlcore.preprocessing",
                                        ["Subset", "Shift"]),
    "mlcore.visualization.correlations": (
        "mlcore.visualization", ["corrmat", "clustered_corrmap",
                                 "corr_X_y"]),
    "mlcore.visualization.var_analysis": (
        "mlcore.visualization", ["pca_comp_plot", "pca_plot",
                                 "exp_var_plot"]),
    "mlcore.testing.dummy": ("mlcore.testing", ["Data", "InitMixin",
                                                "get_layer", "run_layer"]),
    "mlcore.estimators.estimators": (
        "mlcore.estimators", ["BaseEstimator", "LearnerEstimator",
                              "TransformerEstimator", "LayerEnsemble"]),
}


@pytest.mark.parametrize("path", sorted(SUBMODULES))
def test_submodule_paths_hold_the_flat_modules_objects(path):
    parent, names = SUBMODULES[path]
    module = importlib.import_module(path)
    flat = importlib.import_module(parent)
    for name in names:
        assert getattr(module, name) is getattr(flat, name)
    assert set(names) <= set(module.__all__)
    # as a real submodule: an attribute of its parent, and found by importlib
    assert getattr(flat, path.rsplit(".", 1)[1]) is module
    assert importlib.util.find_spec(path).name == path
    exec("from %s import %s" % (path, ", ".join(names)), {})


def test_an_ensemble_from_a_submodule_path_pickles_and_clones():
    from mlcore.ensemble.super_learner import SuperLearner
    X, y = _regression()
    ens = SuperLearner(folds=2).add([Ridge(), OLS()]).add_meta(Ridge())
    ens.fit(X, y)
    again = pickle.loads(pickle.dumps(ens))
    np.testing.assert_array_equal(again.predict(X), ens.predict(X))
    assert type(clone(ens)) is mlcore.ensemble.SuperLearner


# ML-Ensemble's packages whose __all__ is public and user-facing in full
# (mlens.utils's checking and formatting helpers are internal, see
# mlcore.utils; mlens.externals is vendored third-party code)
PUBLIC = ["mlens.ensemble", "mlens.estimators", "mlens.index",
          "mlens.metrics", "mlens.model_selection", "mlens.parallel",
          "mlens.preprocessing", "mlens.visualization", "mlens.testing"]
# submodules without __all__: the classes and functions they define
DEFINING = ["mlens.model_selection.model_selection",
            "mlens.estimators.estimators", "mlens.ensemble.super_learner",
            "mlens.ensemble.blend", "mlens.ensemble.subsemble",
            "mlens.ensemble.sequential", "mlens.ensemble.temporal",
            "mlens.index.fold", "mlens.index.blend", "mlens.index.subsemble",
            "mlens.index.temporal", "mlens.preprocessing.preprocess",
            "mlens.visualization.correlations",
            "mlens.visualization.var_analysis"]


def _public_names(module):
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, v in vars(module).items() if not n.startswith("_") and
            getattr(v, "__module__", None) == module.__name__]


@pytest.mark.parametrize("path", PUBLIC + DEFINING)
def test_every_public_name_of_mlens_is_at_the_same_path(mlens, path):
    theirs = importlib.import_module(path)
    ours = importlib.import_module("mlcore" + path[len("mlens"):])
    names = _public_names(theirs)
    assert names
    assert [n for n in names if not hasattr(ours, n)] == []


def test_the_package_holds_the_config_functions_as_mlens_does(mlens):
    # mlens does ``from .config import *``: its public functions
    names = [n for n, v in vars(mlens.config).items()
             if callable(v) and not n.startswith("_") and
             getattr(v, "__module__", None) == "mlens.config"]
    assert len(names) == 14
    for name in names:
        assert getattr(mlcore, name) is getattr(config, name)
        assert name in mlcore.__all__


def test_top_level_setters_change_the_configuration(tmp_path):
    try:
        mlcore.set_dtype(np.float64)
        mlcore.set_backend("sequential")
        mlcore.set_tmpdir(str(tmp_path))
        mlcore.set_ivals(0.5, 10)
        assert config.get_dtype() == np.float64 == mlcore.get_dtype()
        assert config.get_backend() == "sequential"
        assert config.get_tmpdir() == str(tmp_path) == mlcore.get_tmpdir()
        assert mlcore.get_ivals() == (0.5, 10)
    finally:
        config.reset()
    assert mlcore.get_dtype() == np.float32
    assert mlcore.clear_cache(str(tmp_path)) == []  # nothing of ours there


def test_cmlog_keeps_mlens_collect_name():
    # ML-Ensemble's documented CMLog example calls ``cm._collect()``
    from mlcore.utils import CMLog
    assert CMLog._collect is CMLog.collect


###############################################################################
# mlcore.model_selection.BaseEval

def test_evaluators_are_base_evals_as_in_mlens(mlens):
    from mlcore.model_selection import BaseEval, Benchmark, Evaluator
    from mlens.model_selection import BaseEval as TheirBaseEval
    from mlens.model_selection import Benchmark as TheirBenchmark
    from mlens.model_selection import Evaluator as TheirEvaluator
    from mlens.metrics import make_scorer
    from mlens.metrics.metrics import rmse
    assert isinstance(TheirEvaluator(make_scorer(rmse)), TheirBaseEval)
    assert isinstance(TheirBenchmark(), TheirBaseEval)
    assert isinstance(Evaluator("r2"), BaseEval)
    assert isinstance(Benchmark(), BaseEval)


def test_base_eval_keeps_mlens_settings_and_warns_on_array_check():
    from mlcore.model_selection import BaseEval
    ev = BaseEval(verbose=2, backend="sequential", n_jobs=1)
    assert (ev.verbose, ev.backend, ev.n_jobs) == (2, "sequential", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BaseEval()
    with pytest.warns(DeprecationWarning, match="array_check"):
        BaseEval(array_check=2)


###############################################################################
# mlcore.utils.dummy.LogisticRegression

def _classification(n=40, seed=3, labels=(0, 1, 2)):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4)
    y = np.asarray(labels)[rng.randint(0, len(labels), n)]
    return X, y


def test_logistic_regression_equals_mlens(mlens):
    from mlens.utils.dummy import LogisticRegression as Theirs
    X, y = _classification()
    ours, theirs = LogisticRegression().fit(X, y), Theirs().fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X),
                               rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-12)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)


@pytest.mark.parametrize("offset", [0, 2.5])
def test_logistic_regression_is_sigmoid_of_least_squares(offset):
    X, y = _classification(labels=("a", "b", "c"))
    clf = LogisticRegression(offset=offset).fit(X, y)
    assert list(clf.classes_) == ["a", "b", "c"]
    coef = np.vstack([np.linalg.lstsq(X, (y == c).astype(float),
                                      rcond=None)[0] + offset
                      for c in "abc"])
    np.testing.assert_allclose(clf.coef_, coef, rtol=1e-12)
    proba = 1 / (1 + np.exp(-X @ coef.T))
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X),
                                  np.array(list("abc"))[proba.argmax(1)])
    assert clone(clf).get_params() == {"offset": offset}


def test_logistic_regression_refuses_use_before_fit():
    with pytest.raises(NotFittedError, match="call fit first"):
        LogisticRegression().predict(np.ones((2, 2)))
    from sklearn.exceptions import NotFittedError as SklearnNotFitted
    with pytest.raises(SklearnNotFitted):
        LogisticRegression().predict_proba(np.ones((2, 2)))


###############################################################################
# mlcore.estimators

def test_learner_estimator_is_cross_val_predict():
    from mlcore.estimators import LearnerEstimator
    X, y = _regression()
    est = LearnerEstimator(LinearRegression(), FoldIndex(4), dtype=np.float64)
    oof = est.fit_transform(X, y)
    np.testing.assert_allclose(
        oof[:, 0], cross_val_predict(LinearRegression(), X, y, cv=KFold(4)),
        rtol=1e-12)
    np.testing.assert_array_equal(est.transform(X), oof)
    full = LinearRegression().fit(X, y).predict(X[:5])
    np.testing.assert_allclose(est.predict(X[:5])[:, 0], full, rtol=1e-12)
    assert est.fit(X, y) is est
    assert list(est.data["ft-m"]) == ["linearregression"]


def test_estimators_equal_mlens(mlens):
    from mlens.estimators import LayerEnsemble as TheirLayer
    from mlens.estimators import LearnerEstimator as TheirLearner
    from mlens.estimators import TransformerEstimator as TheirTransformer
    from mlens.index import FoldIndex as TheirFoldIndex
    from mlens.parallel import make_group as their_group
    from mlens.utils.dummy import OLS as TheirOLS
    from mlens.utils.dummy import Scale as TheirScale
    from mlcore.estimators import (LayerEnsemble, LearnerEstimator,
                                   TransformerEstimator)
    X, y = _regression()
    pairs = [
        (LearnerEstimator(OLS(), FoldIndex(3)),
         TheirLearner(TheirOLS(), TheirFoldIndex(3))),
        (TransformerEstimator([Scale()], FoldIndex(2)),
         TheirTransformer([TheirScale()], TheirFoldIndex(2))),
        (LayerEnsemble(make_group(FoldIndex(2), [OLS(offset=1), Ridge()],
                                  [Scale()]), dtype=np.float64),
         TheirLayer(their_group(TheirFoldIndex(2), [TheirOLS(offset=1),
                                                    Ridge()], [TheirScale()]),
                    dtype=np.float64)),
        (LayerEnsemble([make_group(FoldIndex(2), [OLS(), Ridge()])],
                       propagate_features=[0, 2], shuffle=True,
                       random_state=4),
         TheirLayer([their_group(TheirFoldIndex(2), [TheirOLS(), Ridge()], None)],
                    propagate_features=[0, 2], shuffle=True,
                    random_state=4)),
    ]
    for ours, theirs in pairs:
        P, Q = ours.fit_transform(X, y), theirs.fit_transform(X, y)
        assert P.dtype == Q.dtype
        np.testing.assert_array_equal(P, Q)
        np.testing.assert_array_equal(ours.predict(X[:7]),
                                      theirs.predict(X[:7]))
        np.testing.assert_array_equal(ours.fit(X, y).transform(X),
                                      theirs.fit(X, y).transform(X))
        assert ours.get_params(deep=False).keys() == theirs.get_params(
            deep=False).keys()
    # the same table layout, learner by learner
    ours, theirs = pairs[2]
    assert list(ours.data) == list(theirs.data)
    assert list(ours.data["ft-m"]) == list(theirs.data["ft-m"])


def test_learner_estimator_proba_equals_mlens(mlens):
    from mlens.estimators import LearnerEstimator as TheirLearner
    from mlens.index import FoldIndex as TheirFoldIndex
    from mlens.utils.dummy import LogisticRegression as TheirLR
    from mlcore.estimators import LearnerEstimator
    X, y = _classification()
    ours = LearnerEstimator(LogisticRegression(), FoldIndex(2))
    theirs = TheirLearner(TheirLR(), TheirFoldIndex(2))
    P, Q = ours.fit_transform(X, y, proba=True), theirs.fit_transform(
        X, y, proba=True)
    assert P.shape == (40, 3)
    np.testing.assert_array_equal(P, Q)
    np.testing.assert_array_equal(ours.predict(X, proba=True),
                                  theirs.predict(X, proba=True))


def test_estimators_refuse_predicting_with_a_stale_fit():
    from mlcore.estimators import (LayerEnsemble, LearnerEstimator,
                                   TransformerEstimator)
    X, y = _regression()
    est = LearnerEstimator(OLS(), FoldIndex(2))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        est.predict(X)
    est.fit(X, y)
    assert est.__fitted__
    est.set_params(estimator__offset=1)
    assert not est.__fitted__
    with pytest.raises(NotFittedError, match="estimator changed"):
        est.predict(X)
    est.fit(X, y)
    np.testing.assert_allclose(
        est.predict(X)[:, 0], OLS(offset=1).fit(X, y).predict(X), rtol=1e-6)
    tr = TransformerEstimator(Scale(), FoldIndex(2)).fit(X, y)
    tr.set_params(indexer=FoldIndex(3))
    with pytest.raises(NotFittedError, match="indexer changed"):
        tr.transform(X)
    layer = LayerEnsemble(make_group(FoldIndex(2), [OLS()])).fit(X, y)
    layer.set_params(ols__estimator__offset=3)
    with pytest.raises(NotFittedError, match="groups changed"):
        layer.predict(X)
    np.testing.assert_allclose(layer.fit(X, y).predict(X)[:, 0],
                               OLS(offset=3).fit(X, y).predict(X), rtol=1e-6)


def test_estimators_are_scikit_learn_estimators():
    from mlcore.estimators import LayerEnsemble, TransformerEstimator
    X, y = _regression()
    tr = TransformerEstimator([("sc", StandardScaler())], FoldIndex(2),
                              dtype=np.float64)
    twin = clone(tr)
    assert twin.get_params()["indexer"] is not tr.indexer
    np.testing.assert_allclose(twin.fit(X, y).predict(X),
                               StandardScaler().fit(X).transform(X),
                               rtol=1e-12)
    layer = LayerEnsemble(make_group(FoldIndex(2), [OLS(), Ridge()]))
    params = layer.get_params()
    assert params["ridge"].estimator is params["ridge__estimator"]
    # as in ML-Ensemble: the nodes by name, not the groups parameter's path
    assert not [k for k in params if k.startswith("groups__")]
    layer.set_params(ridge__estimator__alpha=5.0)
    assert layer.groups.learners[1].estimator.alpha == 5.0
    fitted = pickle.loads(pickle.dumps(clone(layer).fit(X, y)))
    np.testing.assert_allclose(
        fitted.predict(X)[:, 1], Ridge(alpha=5.0).fit(X, y).predict(X),
        rtol=1e-5)


def test_layer_ensemble_push_and_pop():
    from mlcore.estimators import LayerEnsemble
    X, y = _regression()
    first = make_group(FoldIndex(2), [OLS()], name="a")
    layer = LayerEnsemble(first)
    second = make_group(FoldIndex(2), [OLS(offset=2)], name="b")
    assert layer.push(second) is layer
    assert layer.fit_transform(X, y).shape == (20, 2)
    with pytest.raises(LayerSpecificationError, match="named 'a'"):
        layer.push(make_group(FoldIndex(2), [Ridge()], name="a"))
    with pytest.raises(LayerSpecificationError, match="named 'c'"):
        layer.push(make_group(FoldIndex(2), [Ridge()], name="c"),
                   make_group(FoldIndex(2), [OLS()], name="c"))
    assert layer.pop(1) is second
    assert layer.fit_transform(X, y).shape == (20, 1)


###############################################################################
# make_group: the same learner names in several preprocessing cases

SPECS = [
    ({"sc": [("offs", OLS(offset=2)), ("null", OLS())],
      "no": [("offs", OLS(offset=2)), ("null", OLS())],
      "a-b": [("z", OLS())]}, {"sc": [Scale()], "no": [], "a-b": [Scale()]}),
    ({"sc": [OLS(), Ridge()], "no": [OLS(), ("ols", OLS())]},
     {"sc": [Scale()], "no": []}),
    ([("x", OLS()), ("x", Ridge())], None),
    ([OLS(), ("OLS", OLS()), ("pr", Ridge())], [Scale()]),
]


@pytest.mark.parametrize("spec", range(len(SPECS)))
def test_make_group_names_and_orders_learners_as_mlens(mlens, spec):
    from mlens.parallel import make_group as their_group
    estimators, preprocessing = SPECS[spec]
    ours = make_group(FoldIndex(2), estimators, preprocessing)
    theirs = their_group(FoldIndex(2), estimators, preprocessing)
    key = [(lr.preprocess, lr.name) for lr in ours.learners]
    assert key == [(lr.preprocess, lr.name) for lr in theirs.learners]
    assert len(set(key)) == len(key)
    assert [t.name for t in ours.transformers] == [
        t.name for t in theirs.transformers]


###############################################################################
# mlcore.testing: ML-Ensemble's own test protocol, on mlcore's nodes

CASES = ["stack", "blend", "subsemble", "full", "temporal"]


def _indexer_kwargs(case):
    return {"step_size": 2, "window": 4} if case == "temporal" else {}


@pytest.mark.parametrize("case,proba,prep", list(itertools.product(
    CASES, [False, True], [False, True])))
def test_mlens_test_protocol_runs_on_mlcore(case, proba, prep):
    from mlcore.testing import get_layer, get_learner, run_layer, run_learner
    jobs = ["fit", "predict"] + ([] if case == "full" else ["transform"])
    kw = _indexer_kwargs(case)
    for job in jobs:
        run_learner(*get_learner(job, case, proba, prep, **kw))
        run_layer(*get_layer(job, "manual", case, proba, prep, **kw))
        run_layer(*get_layer(job, "threading", case, proba, prep,
                             feature_prop=2, **kw))


def test_mlens_test_protocol_on_process_backends():
    from mlcore.testing import get_layer, run_layer
    for backend, job in itertools.product(["loky", "multiprocessing"],
                                          ["fit", "predict", "transform"]):
        run_layer(*get_layer(job, backend, "subsemble", True, True))


def test_the_protocol_catches_wrong_output():
    from mlcore.testing import get_layer, run_layer
    job, layer, X, y, F, wf = get_layer("fit", "manual", "stack", False, True)
    F = F.copy()
    F[3, 1] += 1e-9
    with pytest.raises(AssertionError):
        run_layer(job, layer, X, y, F, wf)


@pytest.mark.parametrize("case", CASES)
def test_ground_truth_equals_mlens(mlens, case):
    from mlens.testing import Data as TheirData
    from mlcore.testing import Data
    kw = _indexer_kwargs(case)
    for proba, prep, learner in itertools.product([False, True],
                                                  [False, True],
                                                  [False, True]):
        if proba and not learner:
            continue  # ML-Ensemble's LogisticRegression ignored its offset
        ours = Data(case, proba, prep, learner, **kw)
        theirs = TheirData(case, proba, prep, learner, **kw)
        X, y = ours.get_data((12, 4), 2)
        X2, y2 = theirs.get_data((12, 4), 2)
        np.testing.assert_array_equal(X, X2)
        np.testing.assert_array_equal(y, y2)
        p = getattr(ours.indexer, "partitions", 1)
        (F, wf), (P, wp) = ours.ground_truth(X, y, p, feature_prop=1)
        (F2, wf2), (P2, wp2) = theirs.ground_truth(X, y, p, feature_prop=1)
        np.testing.assert_allclose(F, F2, rtol=1e-10)
        np.testing.assert_allclose(P, P2, rtol=1e-10)
        np.testing.assert_allclose(wf, wf2, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(wp, wp2, rtol=1e-10, atol=1e-12)
        assert (ours.classes_, ours.n_pred) == (theirs.classes_,
                                                theirs.n_pred)


def test_container_builds_layer_estimators_and_sequentials():
    from mlcore.parallel import run
    from mlcore.testing import Data, EstimatorContainer
    data = Data("stack", False, True)
    X, y = data.get_data((12, 4), 2)
    (F, _), (P, _) = data.ground_truth(X, y)
    est = EstimatorContainer().get_layer_estimator("stack", False, True)
    np.testing.assert_array_equal(est.fit_transform(X, y), F)
    np.testing.assert_array_equal(est.predict(X), P)
    seq = EstimatorContainer().get_sequential("stack", False, True)
    assert seq.stack[0].name == "layer-1"
    np.testing.assert_array_equal(
        run(seq, "fit", X, y, map=False, return_preds=True), F)


def test_init_mixin_makes_an_ensemble_buildable_without_arguments():
    from mlcore.ensemble import SuperLearner
    from mlcore.testing import InitMixin

    class TestSuperLearner(InitMixin, SuperLearner):
        def __init__(self):
            super().__init__()

    X, y = _regression()
    ens = clone(TestSuperLearner())
    assert ens.n_jobs == 1
    ref = SuperLearner(n_jobs=1).add([OLS(offset=1), OLS(offset=2)])
    ref.add_meta(OLS())
    np.testing.assert_array_equal(ens.fit(X, y).predict(X),
                                  ref.fit(X, y).predict(X))


###############################################################################
# File paths as the data (ML-Ensemble's "Passing file paths" tutorial)

def test_ensembles_take_file_paths(tmp_path):
    from mlcore.ensemble import BlendEnsemble
    X, y = _regression(40)
    fx, fy = tmp_path / "X.csv", tmp_path / "y.csv"
    np.savetxt(fx, X)  # numpy's default: separated by spaces
    np.savetxt(fy, y)
    np.save(tmp_path / "X.npy", X)

    def build():
        return BlendEnsemble(random_state=0).add([Ridge(), OLS()]).add_meta(
            LinearRegression())

    ref = build().fit(np.loadtxt(fx), np.loadtxt(fy))
    ens = build().fit(str(fx), str(fy))
    np.testing.assert_array_equal(ens.predict(str(fx)),
                                  ref.predict(np.loadtxt(fx)))
    np.testing.assert_array_equal(ens.predict(tmp_path / "X.npy"),
                                  ref.predict(X))
    np.testing.assert_array_equal(ens.transform(str(fx)),
                                  ref.transform(np.loadtxt(fx)))
    np.savetxt(tmp_path / "c.csv", X, delimiter=",")
    np.testing.assert_array_equal(ens.predict(str(tmp_path / "c.csv")),
                                  ref.predict(np.loadtxt(fx)))
    with pytest.raises(FileNotFoundError, match="No such input file"):
        ens.predict(str(tmp_path / "missing.csv"))
