"""ML-Ensemble's low-level API, ``mlcore.parallel``: the examples of
ML-Ensemble's learner and layer tutorials (``docs/``, 0.2.x) with only the
import prefix changed, and its wrapper tests, asserted against references
computed with scikit-learn and numpy on the same rows.
"""
import os
import pickle
from multiprocessing.dummy import Pool

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict

from mlcore.exceptions import LearnerError, NotFittedError
from mlcore.index import BlendIndex, FoldIndex, FullIndex, SubsetIndex
from mlcore.metrics import rmse
from mlcore.parallel import (EvalLearner, Group, Job, Layer, Learner,
                             ParallelEvaluation, ParallelProcessing, Pipeline,
                             Transformer, make_group, run)
from mlcore.utils.dummy import OLS, Scale

F32 = np.float32

# The tutorials' data
X = np.arange(20).reshape(10, 2)
y = np.random.RandomState(2).rand(10)

_rng = np.random.RandomState(0)
XR = _rng.randn(24, 3)
YR = XR @ np.array([1.0, -2.0, 0.5]) + 0.1 * _rng.randn(24)


def mse(y, p):
    return np.mean((y - p) ** 2)


def oof(est, X, y, k, pre=None):
    """Out-of-fold predictions on contiguous folds, preprocessing (a
    transformer class) fitted on each training fold."""
    out = np.zeros(len(y))
    for tr, te in KFold(k).split(X):
        Xtr, Xte = X[tr], X[te]
        if pre is not None:
            p = pre().fit(Xtr)
            Xtr, Xte = p.transform(Xtr), p.transform(Xte)
        out[te] = clone(est).fit(Xtr, y[tr]).predict(Xte)
    return out


def subsemble_oof(est, X, y, partitions, folds, pre=None):
    """SubsetIndex's reference: partition i's model of fold j is fitted on
    partition i minus its fold j and predicts fold j of every partition
    into column i."""
    parts = np.array_split(np.arange(len(y)), partitions)
    fold_rows = [[part[te] for _, te in KFold(folds).split(part)]
                 for part in parts]
    P = np.zeros((len(y), partitions))
    for i, part in enumerate(parts):
        for j in range(folds):
            train = np.setdiff1d(part, fold_rows[i][j])
            test = np.concatenate([fold_rows[p][j] for p in range(partitions)])
            Xtr, Xte = X[train], X[test]
            if pre is not None:
                fitted = pre().fit(Xtr)
                Xtr, Xte = fitted.transform(Xtr), fitted.transform(Xte)
            P[test, i] = clone(est).fit(Xtr, y[train]).predict(Xte)
    return P


###############################################################################
# The learner tutorial

def test_learner_tutorial_basics():
    indexer = FoldIndex(folds=2)
    learner = Learner(estimator=OLS(), indexer=indexer, name="ols")
    path = []
    learner.setup(X, y, "fit")
    for sub_learner in learner.gen_fit(X, y):
        sub_learner.fit(path)
    # three fits: the full one and one per fold
    assert sorted(name for name, _ in path) == ["ols.0.0", "ols.0.1",
                                                "ols.0.2"]
    learner.collect(path)
    full = [e.estimator for e in learner.learner]
    assert len(full) == 1
    np.testing.assert_allclose(full[0].coef_, OLS().fit(X, y).coef_)

    # transform: the fold fits, written from column n_left_concats=1
    path = []
    P = np.zeros((y.shape[0], 2))
    learner.setup(X, y, "transform", n_left_concats=1)
    for sub_learner in learner.gen_transform(X, P):
        sub_learner.transform(path)
    np.testing.assert_array_equal(P[:, 0], 0)
    np.testing.assert_allclose(P[:, 1], oof(OLS(), X, y, 2), rtol=1e-10)


def test_learner_tutorial_job_class():
    learner = Learner(estimator=OLS(), indexer=FoldIndex(folds=2), name="ols")
    run(learner, "fit", X, y)
    job = Job(job="predict", stack=False, split=True, dir={}, targets=y,
              predict_in=X, predict_out=np.zeros((y.shape[0], 1)))
    learner.setup(job.predict_in, job.targets, job.job)
    for sub_learner in learner(job.args(), "main"):
        sub_learner()
    np.testing.assert_allclose(job.predict_out[:, 0],
                               OLS().fit(X, y).predict(X), rtol=1e-10)


def test_learner_params():
    learner = Learner(estimator=OLS(), indexer=FoldIndex(2), name="ols")
    params = learner.get_params()
    assert params["estimator__offset"] == 0 and params["name"] == "ols"
    learner.set_params(estimator__offset=1, indexer__n_splits=3)
    assert learner.estimator.offset == 1 and learner.indexer.n_splits == 3
    P = run(learner, "fit", X, y, return_preds=True)
    np.testing.assert_array_equal(P[:, 0], oof(OLS(1), X, y, 3).astype(F32))
    copy = clone(learner)
    assert not copy.__fitted__ and copy.name == "ols"
    np.testing.assert_array_equal(run(copy, "fit", X, y, return_preds=True),
                                  P)


def _tutorial_job():
    return Job(job="fit", stack=False, split=True, dir={}, targets=y,
               predict_in=X, predict_out=np.zeros((y.shape[0], 2)))


def test_learner_tutorial_partitions_and_data():
    indexer = SubsetIndex(partitions=2, folds=2, X=X)
    learner = Learner(estimator=OLS(), indexer=indexer, name="subsemble-ols",
                      scorer=mse)
    job = _tutorial_job()
    learner.setup(job.predict_in, job.targets, job.job)
    for sub_learner in learner(job.args(), "main"):
        sub_learner.fit()
    learner.collect()
    ref = subsemble_oof(OLS(), X, y, 2, 2)
    np.testing.assert_allclose(job.predict_out, ref, rtol=1e-10)
    # data: per partition, the mean and std of the fold scores
    parts = np.array_split(np.arange(10), 2)
    folds = [[p[te] for _, te in KFold(2).split(p)] for p in parts]
    for i in range(2):
        scores = [mse(y[np.concatenate([folds[0][j], folds[1][j]])],
                      ref[np.concatenate([folds[0][j], folds[1][j]]), i])
                  for j in range(2)]
        row = "subsemble-ols--%d" % i
        assert learner.data["score-m"][row] == pytest.approx(np.mean(scores))
        assert learner.data["score-s"][row] == pytest.approx(np.std(scores))
    assert [name for name, _ in learner.raw_data] == [
        "subsemble-ols.0.1", "subsemble-ols.0.2", "subsemble-ols.1.1",
        "subsemble-ols.1.2"]


def test_learner_tutorial_preprocessing():
    indexer = SubsetIndex(partitions=2, folds=2, X=X)
    pipeline = Pipeline([("trans", Scale())], return_y=True)
    transformer = Transformer(estimator=pipeline, indexer=indexer, name="sc")
    learner = Learner(estimator=OLS(), preprocess="sc", indexer=indexer,
                      scorer=mse)
    job = _tutorial_job()
    transformer.setup(job.predict_in, job.targets, job.job)
    learner.setup(job.predict_in, job.targets, job.job)
    job.split = False  # the transformer and the learner share a sub-cache
    for subtransformer in transformer(job.args(), "auxiliary"):
        subtransformer()
    for sublearner in learner(job.args(), "main"):
        sublearner()
    transformer.collect()
    learner.collect()
    cached = [name for name, _ in job.dir["task_%i" % job._n_dir]]
    assert "sc.0.0" in cached and "sc.1.2" in cached
    assert "sc.%s.0.1" % learner.name in cached
    np.testing.assert_allclose(job.predict_out,
                               subsemble_oof(OLS(), X, y, 2, 2, pre=Scale),
                               rtol=1e-10)

    # threads fed straight from the generator (multiprocessing.dummy)
    args = job.args()
    job.predict_out = np.zeros((y.shape[0], 2))
    args["main"]["P"] = job.predict_out
    args["job"] = "predict"
    with Pool(2) as pool:
        pool.map(lambda sub: sub(), list(learner(args, "main")))
    parts = np.array_split(np.arange(10), 2)
    for i, part in enumerate(parts):
        sc = Scale().fit(X[part])
        ols = OLS().fit(sc.transform(X[part]), y[part])
        np.testing.assert_allclose(job.predict_out[:, i],
                                   ols.predict(sc.transform(X)), rtol=1e-10)

    # run() on the transformer: each partition's pipeline transforms X
    T = run(transformer, "predict", X)
    for i, part in enumerate(parts):
        np.testing.assert_allclose(
            T[:, 2 * i:2 * i + 2],
            Scale().fit(X[part]).transform(X).astype(F32), rtol=1e-6)


def test_parallel_fit_of_one_learner_with_joblib():
    """The tutorial's joblib loop over sub-learners, on a directory cache."""
    from joblib import Parallel, delayed
    indexer = SubsetIndex(partitions=2, folds=2, X=X)
    learner = Learner(OLS(), indexer=indexer, name="ols")
    learner.setup(X, y, "fit")
    P_t = np.zeros((10, 2))
    import tempfile
    with tempfile.TemporaryDirectory() as path:
        with Parallel(backend="threading", n_jobs=2) as parallel:
            parallel(delayed(sub.fit)(path)
                     for sub in learner.gen_fit(X, y, P_t))
        assert sorted(os.listdir(path))[0] == "ols.0.0.pkl"
        learner.collect(path)
    np.testing.assert_allclose(P_t, subsemble_oof(OLS(), X, y, 2, 2),
                               rtol=1e-10)
    assert learner.__fitted__


###############################################################################
# Learners through run(): the references of ML-Ensemble's wrapper tests

def test_fold_learner_matches_cross_val_predict():
    lr = Learner(LinearRegression(), indexer=FoldIndex(3), name="lr")
    assert not lr.__fitted__
    assert run(lr, "fit", XR, YR) is None
    assert lr.__fitted__
    P = run(lr, "fit", XR, YR, return_preds=True)
    ref = cross_val_predict(LinearRegression(), XR, YR, cv=KFold(3))
    assert P.dtype == F32 and P.shape == (24, 1)
    np.testing.assert_array_equal(P[:, 0], ref.astype(F32))
    np.testing.assert_array_equal(run(lr, "transform", XR), P)
    np.testing.assert_array_equal(
        run(lr, "predict", XR[:5])[:, 0],
        LinearRegression().fit(XR, YR).predict(XR[:5]).astype(F32))
    coefs = [e.estimator.coef_ for e in lr.sublearners]
    for c, (tr, _) in zip(coefs, KFold(3).split(XR)):
        np.testing.assert_allclose(c, LinearRegression().fit(
            XR[tr], YR[tr]).coef_, rtol=1e-10)


def test_refit_false_reuses_the_fitted_learner():
    lr = Learner(LinearRegression(), indexer=FoldIndex(3), name="lr")
    a = run(lr, "fit", XR, YR, return_preds=True)
    first = [e.estimator for e in lr.sublearners]
    b = run(lr, "fit", XR, YR, refit=False, return_preds=True)
    assert [e.estimator for e in lr.sublearners] == first  # the same objects
    c = run(lr, "fit", XR, YR, return_preds=True)  # refit=True by default
    assert all(e.estimator is not f for e, f in zip(lr.sublearners, first))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_blend_learner():
    lr = Learner(LinearRegression(), indexer=BlendIndex(0.25), name="b")
    P = run(lr, "fit", XR, YR, return_preds=True)
    est = LinearRegression().fit(XR[:18], YR[:18])
    np.testing.assert_array_equal(P[:, 0], est.predict(XR[18:]).astype(F32))
    np.testing.assert_array_equal(run(lr, "transform", XR), P)
    # ML-Ensemble predicts with a fit on all rows
    np.testing.assert_array_equal(
        run(lr, "predict", XR)[:, 0],
        LinearRegression().fit(XR, YR).predict(XR).astype(F32))
    assert [e.index for e in lr.learner] == [(0, 0)]
    assert [e.index for e in lr.sublearners] == [(0, 1)]


def test_subsemble_and_full_learners():
    lr = Learner(LinearRegression(), indexer=SubsetIndex(3, 2), name="s")
    P = run(lr, "fit", XR, YR, return_preds=True)
    np.testing.assert_allclose(
        P, subsemble_oof(LinearRegression(), XR, YR, 3, 2).astype(F32),
        rtol=1e-6)
    full = Learner(LinearRegression(), indexer=FullIndex(), name="f")
    P = run(full, "fit", XR, YR, return_preds=True)
    ref = LinearRegression().fit(XR, YR).predict(XR).astype(F32)
    np.testing.assert_array_equal(P[:, 0], ref)
    np.testing.assert_array_equal(run(full, "transform", XR)[:, 0], ref)


def test_proba_learner():
    yc = (YR > 0).astype(int)
    lr = Learner(LogisticRegression(), indexer=FoldIndex(3), name="lg",
                 proba=True)
    P = run(lr, "fit", XR, yc, return_preds=True)
    ref = cross_val_predict(LogisticRegression(), XR, yc, cv=KFold(3),
                            method="predict_proba")
    assert P.shape == (24, 2)
    np.testing.assert_allclose(P, ref.astype(F32), rtol=1e-6)
    # run(proba=True) on a learner without proba, for one call only
    plain = Learner(LogisticRegression(), indexer=FoldIndex(3), name="pl")
    np.testing.assert_allclose(
        run(plain, "fit", XR, yc, proba=True, return_preds=True), P)
    assert plain.proba is False and plain.attr == "predict"


def test_transformer_alone_outputs_its_transformation():
    tr = Transformer(Pipeline(Scale(), return_y=True), indexer=FoldIndex(2),
                     name="sc")
    F = run(tr, "fit", XR, YR, return_preds=True)
    H = run(tr, "transform", XR, return_preds=True)
    P = run(tr, "predict", XR, return_preds=True)
    ref = np.zeros_like(XR)
    for tr_rows, te in KFold(2).split(XR):
        ref[te] = Scale().fit(XR[tr_rows]).transform(XR[te])
    np.testing.assert_allclose(F, ref.astype(F32), rtol=1e-6)
    np.testing.assert_array_equal(H, F)
    np.testing.assert_allclose(P, Scale().fit_transform(XR).astype(F32),
                               rtol=1e-6)


def test_run_group_with_preprocessing():
    tr = Transformer(Pipeline(Scale(), return_y=True), name="pr",
                     indexer=FoldIndex(3))
    lr = Learner(OLS(), indexer=FoldIndex(3), name="lr", preprocess="pr",
                 scorer=mse)
    group = Group(FoldIndex(3), learners=lr, transformers=[tr])
    assert run(group, "fit", XR, YR) is None
    P = run(group, "fit", XR, YR, return_preds=True)
    np.testing.assert_allclose(P[:, 0], oof(OLS(), XR, YR, 3,
                                             pre=Scale).astype(F32), rtol=1e-6)
    assert lr.indexer is tr.indexer is group.indexer


def test_stacked_run_of_transformer_and_learner():
    tr = Transformer(Pipeline(Scale(), return_y=True), indexer=FoldIndex(2))
    lr = Learner(OLS(), indexer=FoldIndex(2))
    X_ = run(tr, "fit", XR, YR, return_preds=True)
    A = run(lr, "fit", X_, YR, return_preds=True)
    B = run([tr, lr], "transform", XR, YR, map=False)
    np.testing.assert_array_equal(A, B)


def test_learner_failure_names_learner_and_fold():
    class Broken(OLS):
        def fit(self, X, y):
            raise ValueError("singular matrix")

    lr = Learner(Broken(), indexer=FoldIndex(2), name="broken")
    with pytest.raises(LearnerError, match=r"'broken'.*partition 0, fold "
                                           r"\d.*singular matrix") as info:
        run(lr, "fit", XR, YR)
    assert isinstance(info.value, ValueError)
    with pytest.raises(NotFittedError):
        run(lr, "predict", XR)


###############################################################################
# The layer tutorial

def test_layer_tutorial_two_learners():
    indexer = FoldIndex(folds=2)
    group = make_group(indexer, [OLS(1), OLS(2)], None)
    assert [lr.name for lr in group.learners] == ["ols-1", "ols-2"]
    P = run(Layer(stack=group), "fit", X, y, return_preds=True)
    ref = np.column_stack([oof(OLS(1), X, y, 2), oof(OLS(2), X, y, 2)])
    np.testing.assert_allclose(P, ref.astype(F32), rtol=1e-6)

    group = make_group(indexer, [OLS(1), OLS(2)], [Scale()])
    P = run(Layer(stack=group), "fit", X, y, return_preds=True)
    ref = np.column_stack([oof(OLS(1), X, y, 2, Scale),
                           oof(OLS(2), X, y, 2, Scale)])
    np.testing.assert_allclose(P, ref.astype(F32), rtol=1e-6)


def test_layer_tutorial_cases_and_groups():
    indexer = FoldIndex(folds=2)
    ref = np.column_stack([oof(OLS(1), X, y, 2, Scale), oof(OLS(2), X, y, 2)])
    group = make_group(indexer, {"case-1": [OLS(1)], "case-2": [OLS(2)]},
                       {"case-1": [Scale()], "case-2": []})
    P = run(Layer(stack=group), "fit", X, y, return_preds=True)
    np.testing.assert_allclose(P, ref.astype(F32), rtol=1e-6)
    groups = [make_group(indexer, OLS(1), Scale()),
              make_group(indexer, OLS(2), None)]
    P = run(Layer(stack=groups), "fit", X, y, return_preds=True)
    np.testing.assert_allclose(P, ref.astype(F32), rtol=1e-6)
    groups = [make_group(FoldIndex(2), OLS(1), Scale()),
              make_group(FoldIndex(4), OLS(2), None)]
    P = run(Layer(stack=groups), "fit", X, y, return_preds=True)
    np.testing.assert_allclose(
        P, np.column_stack([oof(OLS(1), X, y, 2, Scale),
                            oof(OLS(2), X, y, 4)]).astype(F32), rtol=1e-6)


def test_layer_tutorial_mixed_sizes_are_zero_padded():
    groups = [make_group(FoldIndex(2), OLS(1), None),
              make_group(BlendIndex(0.5), OLS(1), None)]
    with pytest.warns(UserWarning, match="zero-padded"):
        P = run(Layer(stack=groups), "fit", X, y, return_preds=True)
    assert P.shape == (10, 2)
    np.testing.assert_allclose(P[:, 0], oof(OLS(1), X, y, 2).astype(F32),
                               rtol=1e-6)
    np.testing.assert_array_equal(P[:5, 1], 0)
    blend = OLS(1).fit(X[:5], y[:5]).predict(X[5:])
    np.testing.assert_allclose(P[5:, 1], blend.astype(F32), rtol=1e-6)


def test_layer_tutorial_push_and_data():
    layer = Layer()
    layer.push(make_group(FoldIndex(4), OLS(), None))
    run(layer, "fit", X, y)
    layer.push(make_group(FoldIndex(2), OLS(1), None))
    with pytest.raises(NotFittedError):
        run(layer, "predict", X, y)

    layer = Layer()
    layer.push(make_group(FoldIndex(2), {"case-1": [OLS(1)],
                                         "case-2": [OLS(2)]},
                          {"case-1": [Scale()], "case-2": []},
                          learner_kwargs={"scorer": rmse}))
    P = run(layer, "fit", X, y, return_preds=True)
    data = layer.data
    assert sorted(data) == ["ft-m", "ft-s", "pt-m", "pt-s", "score-m",
                            "score-s"]
    folds = list(KFold(2).split(X))
    for col, row in enumerate(["case-1.ols-1", "ols-2"]):
        scores = [rmse(y[te], P[te, col].astype(np.float64))
                  for _, te in folds]
        assert data["score-m"][row] == pytest.approx(np.mean(scores),
                                                     rel=1e-5)
        assert data["score-s"][row] == pytest.approx(np.std(scores),
                                                     rel=1e-4, abs=1e-6)


def test_layer_predict_transform_and_propagation():
    group = make_group(FoldIndex(3), [LinearRegression(), OLS()], None)
    layer = Layer(stack=group, propagate_features=[0, 2])
    P = run(layer, "fit", XR, YR, return_preds=True)
    assert P.shape == (24, 4)
    np.testing.assert_array_equal(P[:, :2], XR[:, [0, 2]].astype(F32))
    np.testing.assert_array_equal(
        P[:, 2], cross_val_predict(LinearRegression(), XR, YR,
                                   cv=KFold(3)).astype(F32))
    np.testing.assert_array_equal(run(layer, "transform", XR), P)
    Z = run(layer, "predict", XR[:4])
    np.testing.assert_array_equal(
        Z[:, 3], OLS().fit(XR, YR).predict(XR[:4]).astype(F32))


def test_shuffled_layer_keeps_the_shuffled_order():
    """As ML-Ensemble: the output of a shuffled fit is in the shuffled row
    order; the engine reports the permutation."""
    rs = 4
    layer = Layer(stack=make_group(FoldIndex(3), [LinearRegression()]),
                  shuffle=True, random_state=rs)
    with ParallelProcessing("threading", 2) as engine:
        P = engine.map(layer, "fit", XR, YR, return_preds=True)
        rows = engine.output_rows()
    perm = np.random.RandomState(rs).permutation(24)
    np.testing.assert_array_equal(rows, perm)
    ref = cross_val_predict(LinearRegression(), XR[perm], YR[perm],
                            cv=KFold(3))
    np.testing.assert_allclose(P[:, 0], ref.astype(F32), rtol=1e-6)


@pytest.mark.parametrize("backend", ["sequential", "multiprocessing"])
def test_layer_on_process_and_sequential_backends(backend):
    group = make_group(FoldIndex(3), [LinearRegression()], [Scale()])
    layer = Layer(stack=group, backend=backend, n_jobs=2)
    P = run(layer, "fit", XR, YR, return_preds=True)
    np.testing.assert_allclose(
        P[:, 0], oof(LinearRegression(), XR, YR, 3, Scale).astype(F32),
        rtol=1e-6)
    Z = run(layer, "predict", XR[:3])
    sc = Scale().fit(XR)
    ref = LinearRegression().fit(sc.transform(XR), YR).predict(
        sc.transform(XR[:3]))
    np.testing.assert_allclose(Z[:, 0], ref.astype(F32), rtol=1e-6)
    pickle.loads(pickle.dumps(layer))  # a fitted layer pickles


###############################################################################
# Evaluation nodes

def test_eval_learner_on_parallel_evaluation():
    from sklearn.metrics import get_scorer
    scorer = get_scorer("neg_mean_squared_error")

    class Caller(object):
        """An Evaluator-like caller: one EvalLearner on the engine's pool."""

        def __init__(self):
            self.indexer = FoldIndex(3)
            self.learner = EvalLearner(LinearRegression(), None, "ols",
                                       "predict", scorer,
                                       indexer=self.indexer)

        def __call__(self, parallel, args, case):
            self.learner(args, "main", parallel=parallel)

    caller = Caller()
    with ParallelEvaluation("threading", 2) as ev:
        ev.process(caller, "evaluate", XR, YR)
    got = [d["test_score"] for _, d in caller.learner.raw_data]
    ref = [scorer(LinearRegression().fit(XR[tr], YR[tr]), XR[te], YR[te])
           for tr, te in KFold(3).split(XR)]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_blend_with_unused_rows_and_propagation():
    """ML-Ensemble assumed a blend's rows were the last ones and crashed;
    the rows come from the indexer's row_offset."""
    group = make_group(BlendIndex(test_size=5, train_size=10),
                       [LinearRegression()])
    layer = Layer(stack=group, propagate_features=[1])
    P = run(layer, "fit", XR, YR, return_preds=True)
    est = LinearRegression().fit(XR[:10], YR[:10])
    np.testing.assert_array_equal(P[:, 0], XR[10:15, 1].astype(F32))
    np.testing.assert_array_equal(P[:, 1], est.predict(XR[10:15]).astype(F32))


def test_public_names_of_mlens_parallel():
    import mlcore.parallel as mp
    names = ["ParallelProcessing", "ParallelEvaluation", "Job", "Layer",
             "Group", "Pipeline", "Learner", "Transformer", "EvalLearner",
             "EvalTransformer", "make_group", "run", "get_backend",
             "dump_array"]  # mlens.parallel.__all__ of ML-Ensemble 0.2.3
    assert sorted(mp.__all__) == sorted(names)
    from mlcore.parallel.backend import ParallelProcessing as PP
    from mlcore.parallel.learner import Learner as L
    from mlcore.parallel.wrapper import run as r
    assert PP is mp.ParallelProcessing and L is mp.Learner and r is mp.run
    assert mp.get_backend(Learner(OLS())) is not None


def test_clone_of_a_fitted_layer_refits_the_same():
    layer = Layer(stack=make_group(FoldIndex(2), [OLS(1), OLS(2)], [Scale()]),
                  propagate_features=[0])
    P = run(layer, "fit", XR, YR, return_preds=True)
    copy = clone(layer)
    assert layer.__fitted__ and not copy.__fitted__
    assert copy.stack[0] is not layer.stack[0]
    assert copy.learners[0].indexer is copy.transformers[0].indexer
    np.testing.assert_array_equal(run(copy, "fit", XR, YR,
                                      return_preds=True), P)
    assert copy.get_params()["propagate_features"] == [0]


@pytest.mark.parametrize("module", ["learner", "handles", "layer", "wrapper"])
def test_docstring_examples(module):
    import doctest
    import importlib
    mod = importlib.import_module("mlcore.parallel." + module)
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0


def test_failing_scorer_warns_and_the_fit_goes_on():
    from mlcore.utils.exceptions import MetricWarning

    def bad(y, p):
        raise ZeroDivisionError("no")

    lr = Learner(OLS(), indexer=FoldIndex(2), name="o", scorer=bad)
    with pytest.warns(MetricWarning, match=r"could not score o\.0\.\d"):
        P = run(lr, "fit", XR, YR, return_preds=True)
    np.testing.assert_allclose(P[:, 0], oof(OLS(), XR, YR, 2).astype(F32),
                               rtol=1e-6)
    assert "score-m" not in lr.data and "ft-m" in lr.data


def test_eval_learner_error_score():
    from mlcore.utils.exceptions import FitFailedWarning

    def bad(est, X, y):
        raise ValueError("cannot score")

    lr = EvalLearner(OLS(), None, "o", "predict", bad, error_score=-1.0,
                     indexer=FoldIndex(2))
    lr.setup(XR, YR, "fit")
    cache = []
    with pytest.warns(FitFailedWarning, match="error_score=-1.0"):
        for sub in lr.gen_fit(XR, YR):
            sub.fit(cache)
    lr.collect(cache)
    assert [d["test_score"] for _, d in lr.raw_data] == [-1.0, -1.0]
    strict = EvalLearner(OLS(), None, "s", "predict", bad,
                         indexer=FoldIndex(2))
    strict.setup(XR, YR, "fit")
    with pytest.raises(LearnerError, match="'s'.*scoring"):
        next(strict.gen_fit(XR, YR)).fit([])
