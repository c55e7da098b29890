"""Tests of mlcore.backend: the ML-Ensemble compatible processing engine.

Tasks used here live in ``tests/_tasks.py`` (module level, so that process
backends can pickle them). References are computed directly with numpy and
scikit-learn. Process backends (loky, multiprocessing) are slow to start on
2 cores: their cases are few, small, and use n_jobs=2.
"""
import gc
import os
import pathlib
import stat
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

import mlcore
from mlcore import config
from mlcore.backend import (BaseProcessor, Job, ParallelEvaluation,
                            ParallelProcessing, delayed, dump_array)
from mlcore.exceptions import (ParallelProcessingError,
                               ParallelProcessingWarning)

from tests import _tasks as T

PROCESS = ["loky", "multiprocessing"]
SHARED = ["threading", "sequential"]

###############################################################################
# Data and references

N, P_FEAT = 30, 4
_rng = np.random.RandomState(0)
X = _rng.randn(N, P_FEAT)
W = np.array([1.0, 2.0, -1.0, 0.5])
Y = X @ W + 0.3 * _rng.randn(N)
Z = _rng.randn(7, P_FEAT)            # predict-time data

XS = sp.random(N, 6, density=0.4, format="csr", random_state=1,
               dtype=np.float64)
YS = np.asarray(XS @ np.arange(1.0, 7.0)).ravel() + 0.1 * _rng.randn(N)


def oof(X, y, k=3, est=None):
    """Out-of-fold predictions on contiguous folds (the reference)."""
    est = LinearRegression() if est is None else est
    return cross_val_predict(est, X, y, cv=KFold(k))


def fold_fits(X, y, k=3, est=None):
    """{0: full fit, j: fit without fold j} with sklearn directly."""
    est = LinearRegression() if est is None else est
    out = {0: clone(est).fit(X, y)}
    for j, (tr, _) in enumerate(KFold(k).split(X), 1):
        out[j] = clone(est).fit(X[tr], y[tr])
    return out


def assert_same_estimator(a, b):
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-12,
                               atol=1e-13)


def leftovers(root):
    prefix = config.get_prefix()
    return [p for p in os.listdir(root) if p.startswith(prefix)]


def assert_canonical_csr(M):
    assert sp.issparse(M)
    assert M.format == "csr"
    assert not isinstance(M, (sp.lil_matrix, getattr(sp, "lil_array", ())))
    assert M.has_canonical_format


###############################################################################
# Fixtures

@pytest.fixture(autouse=True)
def clean_config(monkeypatch, tmp_path):
    """No MLCORE_* variable from outside; temporary caches go to tmp_path."""
    for key in list(os.environ):
        if key.startswith("MLCORE_"):
            monkeypatch.delenv(key)
    config.reset()
    config.set_tmpdir(tmp_path)
    yield tmp_path
    config.reset()


###############################################################################
# Sanity of the test helpers themselves

def test_helper_folds_match_sklearn_kfold():
    for n, k in [(30, 3), (31, 4), (7, 7), (10, 3)]:
        ours = [np.arange(a, b) for a, b in T.fold_bounds(n, k)]
        ref = [te for _, te in KFold(k).split(np.zeros((n, 1)))]
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            np.testing.assert_array_equal(o, r)


###############################################################################
# return_preds

def _two_tasks():
    return T.Group(T.FoldTask("a"),
                   T.FoldTask("b", estimators=[("ridge", Ridge(alpha=2.0))]))


def test_map_return_preds_variants():
    ref_a = oof(X, Y)[:, None]
    ref_b = oof(X, Y, est=Ridge(alpha=2.0))[:, None]
    m = ParallelProcessing("threading", 2)
    # True: only the last task's output (ML-Ensemble semantics)
    P = m.map(_two_tasks(), "fit", X, Y, return_preds=True)
    assert isinstance(P, np.ndarray) and P.shape == (N, 1)
    assert P.dtype == np.float64
    np.testing.assert_allclose(P, ref_b, rtol=1e-12)
    # np.True_ is accepted like True
    P = m.map(_two_tasks(), "fit", X, Y, return_preds=np.True_)
    np.testing.assert_allclose(P, ref_b, rtol=1e-12)
    # False / np.False_: nothing
    assert m.map(_two_tasks(), "fit", X, Y, return_preds=False) is None
    assert m.map(_two_tasks(), "fit", X, Y, return_preds=np.False_) is None
    assert m.map(_two_tasks(), "fit", X, Y) is None
    # a list of names: both, in caller order (wart 13: a Group of two tasks)
    out = m.map(_two_tasks(), "fit", X, Y, return_preds=["a", "b"])
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(out[0], ref_a, rtol=1e-12)
    np.testing.assert_allclose(out[1], ref_b, rtol=1e-12)
    # a tuple works as a list
    out = m.map(_two_tasks(), "fit", X, Y, return_preds=("b",))
    assert len(out) == 1
    np.testing.assert_allclose(out[0], ref_b, rtol=1e-12)
    # a single str name
    out = m.map(_two_tasks(), "fit", X, Y, return_preds="a")
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_allclose(out[0], ref_a, rtol=1e-12)
    m.clear()


def test_stack_return_preds_variants():
    P1 = oof(X, Y)[:, None]
    P2 = oof(P1, Y, est=Ridge(alpha=2.0))[:, None]
    with ParallelProcessing("threading", 2) as m:
        P = m.stack(_two_tasks(), "fit", X, Y, return_preds=True)
        np.testing.assert_allclose(P, P2, rtol=1e-12)
        out = m.stack(_two_tasks(), "fit", X, Y, return_preds=["a", "b"])
        np.testing.assert_allclose(out[0], P1, rtol=1e-12)
        np.testing.assert_allclose(out[1], P2, rtol=1e-12)
        assert m.stack(_two_tasks(), "fit", X, Y) is None


def test_process_after_initialize_without_stack_split():
    """wart 5: initialize() needs no undocumented stack=/split= kwargs."""
    m = ParallelProcessing("threading", 2)
    out = m.initialize("fit", X, Y, None)
    assert out == {}
    assert m.job is not None and m.job.job == "fit"
    assert m.job.stack is False and m.job.split is False
    assert m.process([T.FoldTask("a")], out) is None
    np.testing.assert_allclose(m.get_preds(), oof(X, Y)[:, None], rtol=1e-12)
    out = m.initialize("fit", X, Y, None, return_preds=True)
    assert out == {"return_final": True}
    P = m.process([T.FoldTask("a")], out)
    np.testing.assert_allclose(P, oof(X, Y)[:, None], rtol=1e-12)
    out = m.initialize("fit", X, Y, None, return_preds=["a"])
    assert out["return_names"] == ["a"]
    m.clear()
    with pytest.raises(ParallelProcessingError):
        m.process([T.FoldTask("a")], {})


def test_return_preds_unknown_name_warns():
    with ParallelProcessing("threading", 2) as m:
        with pytest.warns(ParallelProcessingWarning, match="zzz"):
            out = m.map(_two_tasks(), "fit", X, Y, return_preds=["a", "zzz"])
        assert len(out) == 1
        np.testing.assert_allclose(out[0], oof(X, Y)[:, None], rtol=1e-12)


@pytest.mark.parametrize("bad", [1, 0, np.int64(1), 1.0, None, [1], ["a", 2],
                                 {"a": 1}])
def test_return_preds_invalid_type(bad):
    m = ParallelProcessing("threading", 2)
    task = T.FoldTask("a")
    with pytest.raises(TypeError):
        m.map([task], "fit", X, Y, return_preds=bad)
    assert task.calls == []  # rejected before anything ran


def test_return_preds_str_matches_exactly():
    """wart 11: 'lay' must not match 'layer' by substring (or vice versa)."""
    layer = T.FoldTask("layer", estimators=[("ridge", Ridge(alpha=5.0))])
    lay = T.FoldTask("lay")
    with ParallelProcessing("threading", 2) as m:
        out = m.map(T.Group(layer, lay), "fit", X, Y, return_preds="lay")
        assert len(out) == 1
        np.testing.assert_allclose(out[0], oof(X, Y)[:, None], rtol=1e-12)
        with pytest.warns(ParallelProcessingWarning):
            out = m.map(T.Group(T.FoldTask("layer")), "fit", X, Y,
                        return_preds="lay")
        assert out == []
        with pytest.warns(ParallelProcessingWarning):
            out = m.map(T.Group(T.FoldTask("lay")), "fit", X, Y,
                        return_preds="layer")
        assert out == []


def test_empty_caller():
    """wart 9: an empty caller returns None / [] instead of raising."""
    with ParallelProcessing("threading", 2) as m:
        assert m.map([], "fit", X, Y, return_preds=True) is None
        with pytest.warns(ParallelProcessingWarning):
            assert m.map([], "fit", X, Y, return_preds=["a"]) == []
        assert m.stack([], "fit", X, Y, return_preds=True) is None
        assert m.map([], "fit", X, Y) is None


def test_last_task_no_output_returns_none():
    """wart 10: a final __no_output__ task gives None, not array(nan)."""
    no = T.NoOutputTask("no")
    with ParallelProcessing("threading", 2) as m:
        assert m.map(T.Group(T.FoldTask("a"), no), "fit", X, Y,
                     return_preds=True) is None
        # it did run, and was handed no P
        assert no.calls[-1]["P_type"] is type(None)
        assert_same_estimator(no.fitted_["no.lr.0"],
                              LinearRegression().fit(X, Y))
        assert m.map([no], "fit", X, Y, return_preds=True) is None
        with pytest.raises(ParallelProcessingError):
            m.get_preds()
        # named, it was found: its (absent) output is None, in position
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert m.map([no], "fit", X, Y, return_preds=["no"]) == [None]
        # stack: a no-output task in between leaves the input as it was
        a, b = T.FoldTask("a"), T.FoldTask("b")
        P = m.stack(T.Group(a, T.NoOutputTask("mid"), b), "fit", X, Y,
                    return_preds=True)
        np.testing.assert_allclose(P, oof(oof(X, Y)[:, None], Y)[:, None],
                                   rtol=1e-12)


###############################################################################
# Out-of-fold predictions and collected estimators

@pytest.mark.parametrize("backend", SHARED)
@pytest.mark.parametrize("dispatch", ["joblib", "mlcore", "triple"])
def test_oof_predictions_and_collected_estimators(backend, dispatch):
    task = T.FoldTask("a", folds=3, dispatch=dispatch,
                      estimators=[("lr", LinearRegression()),
                                  ("ridge", Ridge(alpha=1.5))])
    with ParallelProcessing(backend, 2) as m:
        P = m.map([task], "fit", X, Y, return_preds=True)
    assert P.shape == (N, 2)
    np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-12)
    np.testing.assert_allclose(P[:, 1], oof(X, Y, est=Ridge(alpha=1.5)),
                               rtol=1e-12)
    ref_lr = fold_fits(X, Y)
    ref_ridge = fold_fits(X, Y, est=Ridge(alpha=1.5))
    assert sorted(task.fitted_) == sorted(
        ["a.lr.%d" % j for j in range(4)] + ["a.ridge.%d" % j for j in range(4)])
    for j in range(4):
        assert_same_estimator(task.fitted_["a.lr.%d" % j], ref_lr[j])
        assert_same_estimator(task.fitted_["a.ridge.%d" % j], ref_ridge[j])


def test_transform_and_predict_after_fit():
    task = T.FoldTask("a", folds=4)
    with ParallelProcessing("threading", 2) as m:
        Pfit = m.map([task], "fit", X, Y, return_preds=True)
        # transform replays the fold fits: the same out-of-fold predictions
        Pt = m.map([task], "transform", X, return_preds=True)
        np.testing.assert_array_equal(Pt, Pfit)
        np.testing.assert_allclose(Pt[:, 0], oof(X, Y, k=4), rtol=1e-12)
        # predict uses the full fit on new data
        Pp = m.map([task], "predict", Z, return_preds=True)
    assert Pp.shape == (Z.shape[0], 1)
    np.testing.assert_allclose(Pp[:, 0], LinearRegression().fit(X, Y).predict(Z),
                               rtol=1e-12)
    assert [c["job"] for c in task.calls] == ["fit", "transform", "predict"]
    # y only for fit
    assert "y" in task.calls[0]["main_keys"]
    assert task.calls[1]["main_keys"] == ["P", "X"]
    assert task.calls[2]["aux_keys"] == ["P", "X"]


def test_args_dict_layout():
    task = T.FoldTask("a")
    with ParallelProcessing("threading", 2) as m:
        m.map([task], "fit", X, Y)
    c = task.calls[0]
    assert c["keys"] == ["auxiliary", "dir", "job", "main"]
    assert c["main_keys"] == ["P", "X", "y"]
    assert c["aux_keys"] == ["P", "X", "y"]
    assert c["aux_P"] is None
    assert c["dir_type"] is list
    j = Job("fit", False, False, dir={}, predict_in=X, targets=Y)
    args = j.args()
    assert args["main"]["X"] is X and args["main"]["y"] is Y
    assert args["auxiliary"]["X"] is X and args["auxiliary"]["P"] is None
    assert args["dir"] is j.dir["task_0"]
    with pytest.raises(TypeError):
        j.args(job="predict")


def test_job_args_forwards_kwargs():
    """wart 1: kwargs of map/stack/process and of args() reach the tasks
    that opt in with forward_kwargs."""
    j = Job("fit", False, False, dir={})
    assert sorted(j.args(refit=False, foo=1)) == [
        "auxiliary", "dir", "foo", "job", "main", "refit"]
    a = T.FoldTask("a", opt_in=["forward_kwargs"])
    b = T.FoldTask("b", opt_in=["forward_kwargs"])
    mlens_task = T.FoldTask("mlens")
    with ParallelProcessing("threading", 2) as m:
        m.map(T.Group(a, mlens_task, b), "fit", X, Y, refit=False,
              proba=True)
        m.stack([T.FoldTask("c")], "fit", X, Y, foo="bar")
        assert a.calls[0]["kwargs"] == {"refit": False, "proba": True}
        assert b.calls[0]["kwargs"] == {"refit": False, "proba": True}
        assert mlens_task.calls[0]["kwargs"] == {}
        c = T.FoldTask("c", opt_in=["forward_kwargs"])
        m.stack([c], "fit", X, Y, foo="bar")
        assert c.calls[0]["kwargs"] == {"foo": "bar"}
        d = T.FoldTask("d", opt_in=["forward_kwargs"])
        out = m.initialize("fit", X, Y)
        m.process([d], out, refit=True)
        assert d.calls[0]["kwargs"] == {"refit": True}


def test_transformer_uses_auxiliary_and_shared_subcache():
    """A Group [transformer, learner] under map: the learner finds the
    transformer's scaler in the shared sub-cache task_0."""
    sc = T.ScalerTask("sc")
    lr = T.FoldTask("lr", preprocess="sc.scaler")
    cache = {}
    with ParallelProcessing("threading", 2) as m:
        P = m.map(T.Group(sc, lr), "fit", X, Y, path=cache, return_preds=True)
        assert list(cache) == ["task_0"]
        keys = [k for k, _ in cache["task_0"]]
        assert "sc.scaler" in keys and "lr.lr.0" in keys
        Xs = StandardScaler().fit(X).transform(X)
        np.testing.assert_allclose(P[:, 0], oof(Xs, Y), rtol=1e-10)
        np.testing.assert_allclose(sc.fitted_["sc.scaler"].mean_, X.mean(0),
                                   rtol=1e-12)
        assert sc.calls[0]["P_type"] is type(None)
        Pp = m.map(T.Group(sc, lr), "predict", Z, return_preds=True)
        np.testing.assert_allclose(
            Pp[:, 0], LinearRegression().fit(Xs, Y).predict(
                StandardScaler().fit(X).transform(Z)), rtol=1e-10)


###############################################################################
# Stacking: shrinking rows, row_offset, propagated features

def test_stack_blend_rebases_targets():
    b1 = T.BlendTask("b1", test_size=12)
    l2 = T.FoldTask("l2", folds=3)
    with ParallelProcessing("threading", 2) as m:
        out = m.stack(T.Group(b1, l2), "fit", X, Y, return_preds=["b1", "l2"])
    P1 = LinearRegression().fit(X[:18], Y[:18]).predict(X[18:])[:, None]
    np.testing.assert_allclose(out[0], P1, rtol=1e-12)
    # layer 2 saw layer 1's output and the last 12 targets
    np.testing.assert_array_equal(l2.seen[0]["y"], Y[-12:])
    np.testing.assert_allclose(l2.seen[0]["X"], P1, rtol=1e-12)
    np.testing.assert_allclose(out[1], oof(P1, Y[-12:])[:, None], rtol=1e-12)
    assert_same_estimator(l2.fitted_["l2.lr.0"],
                          LinearRegression().fit(P1, Y[-12:]))


@pytest.mark.parametrize("offset", ["method", "int"])
def test_stack_row_offset_lines_up_targets_and_features(offset):
    """wart 14: test rows 12..19 of 30 (not the last ones)."""
    b1 = T.BlendTask("b1", test_size=8, train_size=12, offset=offset,
                     propagate_features=[0, 2])
    l2 = T.FoldTask("l2", folds=2)
    with ParallelProcessing("threading", 2) as m:
        out = m.stack(T.Group(b1, l2), "fit", X, Y, return_preds=["b1", "l2"])
        P1 = out[0]
        assert P1.shape == (8, 3)
        np.testing.assert_array_equal(P1[:, :2], X[12:20][:, [0, 2]])
        np.testing.assert_allclose(
            P1[:, 2], LinearRegression().fit(X[:12], Y[:12]).predict(X[12:20]),
            rtol=1e-12)
        np.testing.assert_array_equal(l2.seen[0]["y"], Y[12:20])
        np.testing.assert_array_equal(l2.seen[0]["X"], P1)
        np.testing.assert_allclose(out[1][:, 0], oof(P1, Y[12:20], k=2),
                                   rtol=1e-12)
        # predict: all rows, offset 0
        Pp = m.stack(T.Group(b1, l2), "predict", Z, return_preds=["b1"])[0]
        np.testing.assert_array_equal(Pp[:, :2], Z[:, [0, 2]])


def test_blend_propagation_default_offset_takes_last_rows():
    b1 = T.BlendTask("b1", test_size=10, propagate_features=[3, 1])
    with ParallelProcessing("threading", 2) as m:
        P = m.map([b1], "fit", X, Y, return_preds=True)
    assert P.shape == (10, 3)
    np.testing.assert_array_equal(P[:, :2], X[20:][:, [3, 1]])
    np.testing.assert_allclose(
        P[:, 2], LinearRegression().fit(X[:20], Y[:20]).predict(X[20:]),
        rtol=1e-12)


def test_bad_row_offset_raises():
    class Bad(T.BlendTask):
        def setup(self, X, y, job):
            super().setup(X, y, job)
            self.row_offset = 25  # 25 + 8 > 30 rows

    with ParallelProcessing("threading", 2) as m:
        with pytest.raises(ValueError, match="row_offset"):
            m.map([Bad("bad", test_size=8, train_size=12)], "fit", X, Y)
        assert m.job is None  # cleared on error


def test_stack_dense_propagation_across_layers():
    l1 = T.FoldTask("l1", propagate_features=[1, 3])
    l2 = T.FoldTask("l2", propagate_features=[0, 2],
                    estimators=[("ridge", Ridge(alpha=1.0))])
    with ParallelProcessing("threading", 2) as m:
        out = m.stack(T.Group(l1, l2), "fit", X, Y, return_preds=["l1", "l2"])
    P1 = np.column_stack([X[:, [1, 3]], oof(X, Y)])
    np.testing.assert_array_equal(out[0][:, :2], X[:, [1, 3]])
    np.testing.assert_allclose(out[0], P1, rtol=1e-12)
    np.testing.assert_array_equal(out[1][:, :2], out[0][:, [0, 2]])
    np.testing.assert_allclose(out[1][:, 2], oof(P1, Y, est=Ridge(alpha=1.0)),
                               rtol=1e-12)


def _sparse_reference():
    left = XS[:, [1, 3]]
    p1 = oof(XS, YS)
    R1 = sp.hstack([left, sp.csr_matrix(p1[:, None])], format="csr")
    p2 = oof(R1, YS, k=3)
    R2 = sp.hstack([R1[:, [0]], sp.csr_matrix(p2[:, None])], format="csr")
    return R1, R2


def _check_sparse_outputs(out, l2):
    R1, R2 = _sparse_reference()
    for M in out:
        assert_canonical_csr(M)
        assert not isinstance(M, np.memmap)
    assert out[0].shape == (N, 3) and out[1].shape == (N, 2)
    np.testing.assert_array_equal(out[0][:, :2].toarray(), R1[:, :2].toarray())
    np.testing.assert_allclose(out[0].toarray(), R1.toarray(), rtol=1e-10)
    np.testing.assert_allclose(out[1].toarray(), R2.toarray(), rtol=1e-8)
    # the second layer received canonical CSR input
    assert sp.issparse(l2.seen[0]["X"]) and l2.seen[0]["X"].format == "csr"


def test_sparse_propagation_gives_csr_never_lil():
    """wart 18: intermediate outputs with sparse propagation are CSR."""
    l1 = T.FoldTask("l1", propagate_features=[1, 3])
    l2 = T.FoldTask("l2", propagate_features=[0])
    with ParallelProcessing("threading", 2) as m:
        out = m.stack(T.Group(l1, l2), "fit", XS, YS,
                      return_preds=["l1", "l2"])
        _check_sparse_outputs(out, l2)
        final = m.stack(T.Group(T.FoldTask("l1", propagate_features=[1, 3]),
                                T.FoldTask("l2", propagate_features=[0])),
                        "fit", XS, YS, return_preds=True)
        assert_canonical_csr(final)
        np.testing.assert_allclose(final.toarray(), out[1].toarray(),
                                   rtol=1e-12)
        single = m.map([T.FoldTask("l1", propagate_features=[1, 3])], "fit",
                       XS, YS, return_preds=True)
        assert_canonical_csr(single)
        ref = sp.hstack([XS[:, [1, 3]], sp.csr_matrix(oof(XS, YS)[:, None])],
                        format="csr")
        np.testing.assert_allclose(single.toarray(), ref.toarray(), rtol=1e-10)


def test_sparse_propagation_with_row_offset():
    b = T.BlendTask("b", test_size=8, train_size=12, offset="method",
                    propagate_features=[0, 5])
    with ParallelProcessing("threading", 2) as m:
        P = m.map([b], "fit", XS, YS, return_preds=True)
    assert_canonical_csr(P)
    ref = sp.hstack([XS[12:20][:, [0, 5]], sp.csr_matrix(
        LinearRegression().fit(XS[:12], YS[:12]).predict(XS[12:20])[:, None])],
        format="csr")
    np.testing.assert_allclose(P.toarray(), ref.toarray(), rtol=1e-10)
    np.testing.assert_array_equal(P[:, :2].toarray(),
                                  XS[12:20][:, [0, 5]].toarray())


class _OrderSpy(T.FoldTask):
    """A FoldTask that records the memory order of the P it is given."""

    def __call__(self, args, parallel):
        P = args["main"]["P"]
        self.order = ("F" if P.flags.f_contiguous and not P.flags.c_contiguous
                      else "C" if P.flags.c_contiguous else "?")
        return super().__call__(args, parallel)


@pytest.mark.parametrize("backend", ["threading", "sequential", "loky"])
@pytest.mark.parametrize("sparse", [True, False])
def test_propagation_P_order(backend, sparse):
    """With sparse input and propagated features, P is column-major: its
    propagated columns are never written before the conversion to CSR, so
    they stay untouched zero pages (W3: 18 MB of P -> 4 MB resident).
    Dense input keeps a row-major P. Results are the same either way."""
    X = XS if sparse else XS.toarray()
    task = _OrderSpy("l1", propagate_features=[1, 3])
    with ParallelProcessing(backend, 2) as m:
        P = m.map([task], "fit", X, YS, return_preds=True)
    assert task.order == ("F" if sparse else "C")
    ref = np.hstack([XS[:, [1, 3]].toarray(), oof(XS, YS)[:, None]])
    np.testing.assert_allclose(P.toarray() if sparse else P, ref, rtol=1e-10)
    if sparse:
        assert_canonical_csr(P)


def test_sparse_propagation_loky():
    l1 = T.FoldTask("l1", propagate_features=[1, 3])
    l2 = T.FoldTask("l2", propagate_features=[0])
    with ParallelProcessing("loky", 2) as m:
        out = m.stack(T.Group(l1, l2), "fit", XS, YS,
                      return_preds=["l1", "l2"])
    _check_sparse_outputs(out, l2)


###############################################################################
# Shuffle

def _perm(rs, n=N):
    perm = np.random.RandomState(rs).permutation(n)
    np.testing.assert_array_equal(perm, check_random_state(rs).permutation(n))
    return perm


def test_shuffle_permutes_input_and_returns_original_order():
    """wart 16: the task sees rows permuted; the output comes back in the
    caller's row order."""
    rs = 7
    perm = _perm(rs)
    task = T.FoldTask("s", folds=3, shuffle=True, random_state=rs, opt_in=T.TASK_OPT_INS)
    with ParallelProcessing("threading", 2) as m:
        P = m.map([task], "fit", X, Y, return_preds=True)
        P_again = m.map([T.FoldTask("s", shuffle=True, random_state=rs,
                                    opt_in=T.TASK_OPT_INS)],
                        "fit", X, Y, return_preds=True)
        P_list = m.map([T.FoldTask("s", shuffle=True, random_state=rs,
                                   opt_in=T.TASK_OPT_INS)],
                       "fit", X, Y, return_preds=["s"])[0]
        got = m.get_preds()
        np.testing.assert_array_equal(m.output_rows(), np.arange(N))
    np.testing.assert_array_equal(task.seen[0]["X"], X[perm])
    np.testing.assert_array_equal(task.seen[0]["y"], Y[perm])
    # exact reference: contiguous folds on the permuted data, put back
    expected = np.empty(N)
    expected[perm] = oof(X[perm], Y[perm])
    np.testing.assert_allclose(P[:, 0], expected, rtol=1e-12)
    # the same thing seen through sklearn's shuffled KFold
    np.testing.assert_allclose(
        P[:, 0], cross_val_predict(LinearRegression(), X, Y,
                                   cv=KFold(3, shuffle=True, random_state=rs)),
        rtol=1e-9)
    np.testing.assert_array_equal(P, P_again)
    np.testing.assert_array_equal(P, P_list)
    np.testing.assert_array_equal(P, got)
    # the fitted fold learners are those of the permuted folds
    ref = fold_fits(X[perm], Y[perm])
    for j in range(4):
        assert_same_estimator(task.fitted_["s.lr.%d" % j], ref[j])


def test_shuffle_only_on_fit():
    task = T.FoldTask("s", shuffle=True, random_state=3)
    with ParallelProcessing("threading", 2) as m:
        m.map([task], "fit", X, Y)
        P = m.map([task], "predict", Z, return_preds=True)
        Pt = m.map([task], "transform", X, return_preds=True)
    np.testing.assert_array_equal(task.seen[1]["X"], Z)
    np.testing.assert_array_equal(task.seen[2]["X"], X)
    np.testing.assert_allclose(
        P[:, 0], LinearRegression().fit(X, Y).predict(Z), rtol=1e-10)
    assert Pt.shape == (N, 1)


def test_shuffle_map_does_not_compound():
    a = T.FoldTask("a", shuffle=True, random_state=11)
    b = T.FoldTask("b", shuffle=True, random_state=11)
    c = T.FoldTask("c", shuffle=True, random_state=12)
    d = T.FoldTask("d")
    with ParallelProcessing("threading", 2) as m:
        out = m.map(T.Group(a, b, c, d), "fit", X, Y,
                    return_preds=["a", "b", "c", "d"])
    perm = _perm(11)
    for t in (a, b):
        np.testing.assert_array_equal(t.seen[0]["X"], X[perm])
        np.testing.assert_array_equal(t.seen[0]["y"], Y[perm])
    np.testing.assert_array_equal(c.seen[0]["X"], X[_perm(12)])
    np.testing.assert_array_equal(d.seen[0]["X"], X)  # unshuffled input
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_allclose(out[3][:, 0], oof(X, Y), rtol=1e-12)


def test_shuffle_stack_with_blend_restores_order():
    rs = 5
    perm = _perm(rs)
    s = T.FoldTask("s", shuffle=True, random_state=rs, opt_in=T.TASK_OPT_INS)
    b = T.BlendTask("b", test_size=10, opt_in=T.TASK_OPT_INS)
    l3 = T.FoldTask("l3", folds=2, opt_in=T.TASK_OPT_INS)
    with ParallelProcessing("threading", 2) as m:
        out = m.stack(T.Group(s, b, l3), "fit", X, Y,
                      return_preds=["s", "b", "l3"])
    oof_s = oof(X[perm], Y[perm])
    # layer 2 works in the permuted order
    np.testing.assert_allclose(b.seen[0]["X"][:, 0], oof_s, rtol=1e-12)
    np.testing.assert_array_equal(b.seen[0]["y"], Y[perm])
    expected1 = np.empty(N)
    expected1[perm] = oof_s
    np.testing.assert_allclose(out[0][:, 0], expected1, rtol=1e-12)
    # the blend output covers original rows perm[20:], returned sorted
    pred = LinearRegression().fit(oof_s[:20, None], Y[perm][:20]).predict(
        oof_s[20:, None])
    order = np.argsort(perm[20:])
    np.testing.assert_allclose(out[1][:, 0], pred[order], rtol=1e-12)
    # layer 3 gets the blend rows in working order and lined-up targets
    np.testing.assert_allclose(l3.seen[0]["X"][:, 0], pred, rtol=1e-12)
    np.testing.assert_array_equal(l3.seen[0]["y"], Y[perm][20:])
    p3 = oof(pred[:, None], Y[perm][20:], k=2)
    np.testing.assert_allclose(out[2][:, 0], p3[order], rtol=1e-12)


def test_shuffle_sparse_propagation_original_order():
    rs = 2
    perm = _perm(rs)
    task = T.FoldTask("s", shuffle=True, random_state=rs,
                      propagate_features=[4, 0], opt_in=T.TASK_OPT_INS)
    with ParallelProcessing("threading", 2) as m:
        P = m.map([task], "fit", XS, YS, return_preds=True)
    assert_canonical_csr(P)
    assert sp.issparse(task.seen[0]["X"])
    np.testing.assert_array_equal(task.seen[0]["X"].toarray(),
                                  XS.toarray()[perm])
    expected = np.empty(N)
    expected[perm] = oof(XS[perm], YS[perm])
    np.testing.assert_array_equal(P[:, :2].toarray(), XS[:, [4, 0]].toarray())
    np.testing.assert_allclose(P[:, 2].toarray().ravel(), expected,
                               rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(8, 40), data=st.data())
def test_shuffled_blend_row_bookkeeping_property(n, data):
    """Shuffle + blend with a row offset + propagation: every returned row
    belongs to the original row it claims, in ascending original order."""
    test_size = data.draw(st.integers(1, n - 5), label="test_size")
    train_size = data.draw(st.integers(5, n - test_size), label="train_size")
    rs = data.draw(st.integers(0, 2 ** 31 - 1), label="rs")
    cols = data.draw(st.lists(st.integers(0, P_FEAT - 1), min_size=1,
                              max_size=3), label="cols")
    rng = np.random.RandomState(rs % 1000)
    Xn = rng.randn(n, P_FEAT)
    yn = rng.randn(n)
    task = T.BlendTask("b", test_size=test_size, train_size=train_size,
                       offset="method", shuffle=True, random_state=rs,
                       propagate_features=cols, opt_in=T.TASK_OPT_INS)
    with ParallelProcessing("threading", 2) as m:
        P = m.map([task], "fit", Xn, yn, return_preds=True)
    perm = np.random.RandomState(rs).permutation(n)
    rows = np.sort(perm[train_size:train_size + test_size])
    assert P.shape == (test_size, len(cols) + 1)
    np.testing.assert_array_equal(P[:, :len(cols)], Xn[rows][:, cols])
    est = LinearRegression().fit(Xn[perm[:train_size]], yn[perm[:train_size]])
    np.testing.assert_allclose(P[:, -1], est.predict(Xn[rows]), rtol=1e-9,
                               atol=1e-12)


def test_job_shuffle_without_targets():
    j = Job("fit", False, False, predict_in=X)
    j.shuffle(4)
    np.testing.assert_array_equal(j.predict_in, X[_perm(4)])
    assert j.targets is None
    j2 = Job("fit", False, False, predict_in=X, targets=Y)
    j2.shuffle(4)
    np.testing.assert_array_equal(j2.targets, Y[_perm(4)])
    # sparse input
    j3 = Job("fit", False, False, predict_in=XS)
    j3.shuffle(4)
    np.testing.assert_array_equal(j3.predict_in.toarray(),
                                  XS.toarray()[_perm(4)])


###############################################################################
# Caches

def test_memory_and_disk_caches_agree(tmp_path):
    results = {}
    fitted = {}
    dirs = {"none": None, "dict": {}, "str": str(tmp_path / "c_str"),
            "path": tmp_path / "c_path"}
    for name, path in dirs.items():
        a = T.FoldTask("a")
        b = T.FoldTask("b", estimators=[("ridge", Ridge())])
        with ParallelProcessing("threading", 2) as m:
            results[name] = m.stack(T.Group(a, b), "fit", X, Y, path=path,
                                    return_preds=["a", "b"])
        fitted[name] = (a.fitted_, b.fitted_)
    for name in dirs:
        for P, Q in zip(results[name], results["none"]):
            np.testing.assert_array_equal(P, Q)
        for f, g in zip(fitted[name], fitted["none"]):
            assert sorted(f) == sorted(g)
            for k in f:
                assert_same_estimator(f[k], g[k])
    # the disk caches hold one sub-cache per layer, with the pickled fits
    for name in ("str", "path"):
        d = pathlib.Path(dirs[name])
        assert sorted(os.listdir(d)) == ["task_0", "task_1"]
        assert sorted(os.listdir(d / "task_0")) == [
            "a.lr.%d.pkl" % j for j in range(4)]
        assert sorted(os.listdir(d / "task_1")) == [
            "b.ridge.%d.pkl" % j for j in range(4)]
    assert sorted(dirs["dict"]) == ["task_0", "task_1"]


def test_map_split_controls_subcaches():
    shared, separate = {}, {}
    with ParallelProcessing("threading", 2) as m:
        m.map(_two_tasks(), "fit", X, Y, path=shared)
        m.map(_two_tasks(), "fit", X, Y, path=separate, split=True)
    assert sorted(shared) == ["task_0"]
    assert sorted(k for k, _ in shared["task_0"]) == sorted(
        ["a.lr.%d" % j for j in range(4)] + ["b.ridge.%d" % j for j in range(4)])
    assert sorted(separate) == ["task_0", "task_1"]
    assert all(k.startswith("a.") for k, _ in separate["task_0"])
    assert all(k.startswith("b.") for k, _ in separate["task_1"])


def test_empty_dict_path_is_used():
    """wart 8: an empty dict is the user's cache, not 'no path'."""
    cache = {}
    with ParallelProcessing("threading", 2) as m:
        m.map([T.FoldTask("a")], "fit", X, Y, path=cache)
        assert m.job.dir is cache
    assert list(cache) == ["task_0"]
    assert sorted(k for k, _ in cache["task_0"]) == [
        "a.lr.%d" % j for j in range(4)]
    # a dict that already has content is used too
    seeded = {"seed": []}
    with ParallelProcessing("sequential", 2) as m:
        m.map([T.FoldTask("a")], "fit", X, Y, path=seeded)
    assert sorted(seeded) == ["seed", "task_0"]


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_user_directory_survives_clear(backend, tmp_path):
    """wart 7: clear() must not delete the user's cache directory."""
    d = tmp_path / "mine"
    d.mkdir()
    (d / "keep.txt").write_text("precious")
    task = T.FoldTask("a")
    with ParallelProcessing(backend, 2) as m:
        P = m.map([task], "fit", X, Y, path=str(d), return_preds=True)
        assert task.calls[0]["dir"] == str(d / "task_0")
    assert d.is_dir()
    assert (d / "keep.txt").read_text() == "precious"
    assert (d / "task_0").is_dir()
    np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-12)
    m.clear()  # repeated clear is harmless
    assert (d / "keep.txt").exists()
    assert leftovers(tmp_path) == []


def test_dict_path_with_process_backend_raises(tmp_path):
    m = ParallelProcessing("loky", 2)
    with pytest.raises(ValueError):
        m.map([T.FoldTask("a")], "fit", X, Y, path={})
    with pytest.raises(ValueError):
        m.map([T.FoldTask("a")], "fit", X, Y, path={"x": []})
    assert leftovers(tmp_path) == []


def test_invalid_path_types():
    m = ParallelProcessing("threading", 2)
    with pytest.raises(TypeError):
        m.map([T.FoldTask("a")], "fit", X, Y, path=3)
    with pytest.raises(ValueError):
        m.map([T.FoldTask("a")], "fit", X, Y, path="")


def test_existing_subcache_in_user_dir_raises(tmp_path):
    d = tmp_path / "used"
    with ParallelProcessing("threading", 2) as m:
        m.stack([T.FoldTask("a")], "fit", X, Y, path=d)
        with pytest.raises(ParallelProcessingError):
            m.stack([T.FoldTask("a")], "fit", X, Y, path=d)


###############################################################################
# Backends agree

def _backend_run(backend):
    with ParallelProcessing(backend, 2) as m:
        a = T.FoldTask("a", propagate_features=[2])
        b = T.FoldTask("b", estimators=[("ridge", Ridge(alpha=2.0))])
        mapped = m.map(T.Group(a, b), "fit", X, Y, return_preds=["a", "b"])
        t = m.map([a], "transform", X, return_preds=True)
        p = m.map(T.Group(a, b), "predict", Z, return_preds=["a", "b"])
        b1 = T.BlendTask("b1", test_size=8, train_size=12, offset="method",
                         propagate_features=[0])
        l2 = T.FoldTask("l2", folds=2, shuffle=True, random_state=3)
        stacked = m.stack(T.Group(b1, l2), "fit", X, Y,
                          return_preds=["b1", "l2"])
        sc = T.ScalerTask("sc")
        lr = T.FoldTask("lr", preprocess="sc.scaler", dispatch="triple")
        scaled = m.map(T.Group(sc, lr), "fit", X, Y, return_preds=True)
        scaled_p = m.map(T.Group(sc, lr), "predict", Z, return_preds=True)
        return mapped + [t] + p + stacked + [scaled, scaled_p]


@pytest.mark.parametrize("backend", ["sequential"] + PROCESS)
def test_backends_give_identical_results(backend):
    ref = _backend_run("threading")
    got = _backend_run(backend)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_array_equal(g, r)
    # and the threading results are right
    np.testing.assert_allclose(ref[0][:, 1], oof(X, Y), rtol=1e-12)
    np.testing.assert_array_equal(ref[0][:, 0], X[:, 2])
    np.testing.assert_allclose(
        ref[-2][:, 0], oof(StandardScaler().fit(X).transform(X), Y),
        rtol=1e-10)
    if backend in PROCESS:
        # wart 12: outputs own their memory; no views onto deleted memmaps
        for g in got:
            assert not isinstance(g, np.memmap)
            assert g.flags.owndata or g.base is None
            assert not isinstance(g.base, np.memmap)


###############################################################################
# Temporary directories of process backends

@pytest.mark.parametrize("backend", PROCESS)
def test_temp_dir_lifecycle_success(backend, tmp_path):
    task = T.FoldTask("a")
    with ParallelProcessing(backend, 2) as m:
        P = m.map([task], "fit", X, Y, return_preds=True)
        root = m.job.dir
        # observed from inside the task, during the run
        c = task.calls[0]
        assert c["dir_type"] is str
        assert c["dir_exists"]
        assert c["root"] == root
        assert os.path.dirname(root) == str(tmp_path)
        assert os.path.basename(root).startswith(config.get_prefix())
        assert c["root_mode"] == 0o700
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
        assert c["P_is_memmap"]          # workers write into a memmap
        assert leftovers(tmp_path) == [os.path.basename(root)]
    assert not os.path.exists(root)
    assert leftovers(tmp_path) == []
    np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-12)
    assert not isinstance(P, np.memmap)
    assert P.flags.owndata or P.base is None


def test_temp_dir_custom_prefix(tmp_path):
    config.set_prefix(".mytestprefix_")
    task = T.FoldTask("a")
    with ParallelProcessing("loky", 2) as m:
        m.map([task], "fit", X, Y)
        assert os.path.basename(task.calls[0]["root"]).startswith(
            ".mytestprefix_")
        assert len(leftovers(tmp_path)) == 1
    assert leftovers(tmp_path) == []


def test_shared_memory_backends_make_no_temp_dir(tmp_path):
    """wart 20: 'sequential' shares memory like 'threading'."""
    for backend in SHARED:
        m = ParallelProcessing(backend, 2)
        assert m.__threading__ is True
        task = T.FoldTask("a")
        m.map([task], "fit", X, Y)
        assert task.calls[0]["dir_type"] is list
        assert leftovers(tmp_path) == []
        m.clear()
    for backend in PROCESS:
        assert ParallelProcessing(backend, 2).__threading__ is False


@pytest.mark.parametrize("backend", PROCESS)
def test_temp_dir_removed_after_task_error_with_statement(backend, tmp_path):
    task = T.FailingTask()
    with pytest.raises(T.Boom) as info:
        with ParallelProcessing(backend, 2) as m:
            m.map([task], "fit", X, Y)
    root = task.calls[0]["root"]
    assert task.calls[0]["dir_exists"]
    assert not os.path.exists(root)
    assert leftovers(tmp_path) == []
    assert "subtask 2 failed" in str(info.value)


def test_temp_dir_removed_after_task_error_without_with(tmp_path):
    task = T.FailingTask()
    m = ParallelProcessing("loky", 2)
    with pytest.raises(T.Boom) as info:
        m.stack([T.FoldTask("ok"), task], "fit", X, Y)
    assert task.calls[0]["dir_exists"]
    assert leftovers(tmp_path) == []   # while ``info`` holds the traceback
    assert info.type is T.Boom
    assert m.job is None
    with pytest.raises(ParallelProcessingError):
        m.get_preds()


def test_temp_dir_removed_on_prepare_error(tmp_path):
    m = ParallelProcessing("loky", 2)
    with pytest.raises(ValueError) as info:
        m.map([T.FoldTask("a")], "fit", X, Y[:-1])
    # removed explicitly, not by the garbage collector: the traceback held
    # in ``info`` keeps the engine's frames alive here
    assert leftovers(tmp_path) == []
    assert "rows" in str(info.value)


def test_temp_dir_removed_when_processor_is_garbage_collected(tmp_path):
    task = T.FoldTask("a")
    m = ParallelProcessing("loky", 2)
    m.map([task], "fit", X, Y)
    root = m.job.dir
    assert os.path.isdir(root)
    del m
    gc.collect()
    assert not os.path.exists(root)
    assert leftovers(tmp_path) == []


def test_temp_dir_kept_by_warm_start_and_removed_at_clear(tmp_path):
    task = T.FoldTask("a")
    m = ParallelProcessing("loky", 2)
    m.stack([task], "fit", X, Y)
    root = m.job.dir
    old_job = m.job
    P = m.stack([task], "predict", Z, warm_start=True, return_preds=True)
    assert m.job is not old_job and m.job.dir == root
    del old_job
    gc.collect()
    assert os.path.isdir(root)     # the new job owns it now
    np.testing.assert_allclose(P[:, 0], LinearRegression().fit(X, Y).predict(Z),
                               rtol=1e-12)
    assert P.shape == (Z.shape[0], 1)
    m.clear()
    assert not os.path.exists(root)
    assert leftovers(tmp_path) == []


###############################################################################
# Warts of ML-Ensemble's backend

def test_warm_start_keeps_cache():
    """wart 2: warm_start (spelled right) keeps the cache."""
    with ParallelProcessing("threading", 2) as m:
        m.map([T.FoldTask("a")], "fit", X, Y)
        cache = m.job.dir
        m.map([T.FoldTask("b")], "fit", X, Y, warm_start=True)
        assert m.job.dir is cache
        assert sorted({k.split(".")[0] for k, _ in cache["task_0"]}) == [
            "a", "b"]
        m.map([T.FoldTask("c")], "fit", X, Y)
        assert m.job.dir is not cache


def test_wart_start_deprecated_alias():
    with ParallelProcessing("threading", 2) as m:
        m.map([T.FoldTask("a")], "fit", X, Y)
        cache = m.job.dir
        with pytest.warns(DeprecationWarning, match="wart_start"):
            m.map([T.FoldTask("b")], "fit", X, Y, wart_start=True)
        assert m.job.dir is cache
        task = T.FoldTask("c", opt_in=["forward_kwargs"])
        with pytest.warns(DeprecationWarning):
            m.map([task], "fit", X, Y, wart_start=False)
        assert m.job.dir is not cache
        assert "wart_start" not in task.calls[0]["kwargs"]


def test_warm_start_rejects_other_path(tmp_path):
    with ParallelProcessing("threading", 2) as m:
        m.map([T.FoldTask("a")], "fit", X, Y)
        with pytest.raises(ValueError):
            m.map([T.FoldTask("a")], "fit", X, Y, warm_start=True,
                  path=str(tmp_path / "other"))


def test_warm_start_predict_uses_new_job_and_data():
    """wart 19: the new job and the new X apply under warm_start."""
    l1 = T.FoldTask("l1")
    l2 = T.FoldTask("l2", estimators=[("ridge", Ridge())])
    with ParallelProcessing("threading", 2) as m:
        m.stack(T.Group(l1, l2), "fit", X, Y)
        P = m.stack(T.Group(l1, l2), "predict", Z, warm_start=True,
                    return_preds=True)
        assert m.job.job == "predict"
    assert P.shape == (Z.shape[0], 1)
    assert l1.seen[-1]["job"] == "predict"
    np.testing.assert_array_equal(l1.seen[-1]["X"], Z)
    p1 = LinearRegression().fit(X, Y).predict(Z)
    P1fit = oof(X, Y)[:, None]
    np.testing.assert_allclose(
        P[:, 0], Ridge().fit(P1fit, Y).predict(p1[:, None]), rtol=1e-10)
    # warm start without a current job is a plain initialization
    m2 = ParallelProcessing("threading", 2)
    P = m2.map([T.FoldTask("a")], "fit", X, Y, warm_start=True,
               return_preds=True)
    np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-12)


def test_base_processor_is_abstract():
    """wart 3."""
    with pytest.raises(TypeError):
        BaseProcessor()
    with pytest.raises(TypeError):
        BaseProcessor("threading", 2)
    assert isinstance(ParallelProcessing(), BaseProcessor)
    assert isinstance(ParallelEvaluation(), BaseProcessor)


def test_get_preds_without_output_raises():
    """wart 6."""
    m = ParallelProcessing("threading", 2)
    with pytest.raises(ParallelProcessingError):
        m.get_preds()
    m.map([T.FoldTask("a")], "fit", X, Y)
    P = m.get_preds()
    np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-12)
    m.clear()
    assert m.job is None
    with pytest.raises(ParallelProcessingError):
        m.get_preds()
    with pytest.raises(RuntimeError):   # also a RuntimeError
        m.get_preds()


def test_get_preds_dtype_and_order():
    with ParallelProcessing("threading", 2) as m:
        m.map([T.FoldTask("a", estimators=[("lr", LinearRegression()),
                                           ("r", Ridge())])], "fit", X, Y)
        P = m.get_preds()
        assert P.dtype == np.float64 and P.flags.c_contiguous
        P32 = m.get_preds(dtype=np.float32)
        assert P32.dtype == np.float32
        np.testing.assert_array_equal(P32, P.astype(np.float32))
        PF = m.get_preds(order="F")
        assert PF.flags.f_contiguous
        np.testing.assert_array_equal(PF, P)
        assert P.flags.owndata and not isinstance(P, np.memmap)


def test_n_jobs_zero_raises():
    """wart 20."""
    with pytest.raises(ValueError):
        ParallelProcessing("threading", 0)
    with pytest.raises(ValueError):
        ParallelEvaluation("threading", 0)
    with pytest.raises(ValueError):
        ParallelProcessing("threading", 1.5)
    assert ParallelProcessing("threading", 1).n_jobs == 1
    assert ParallelProcessing("threading").n_jobs == -1


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_task_without_dtype_uses_config_dtype(backend):
    """wart 21: P is allocated with config.get_dtype() and returned so."""
    task = T.NoDtypeTask("a")
    with ParallelProcessing(backend, 2) as m:
        P = m.map([task], "fit", X, Y, return_preds=True)
        assert m.job.predict_out.dtype == np.float32
        assert m.get_preds().dtype == np.float32
    assert P.dtype == np.float32
    np.testing.assert_allclose(P[:, 0], oof(X, Y).astype(np.float32),
                               rtol=1e-6)
    if backend == "threading":
        config.set_dtype(np.float64)
        with ParallelProcessing(backend, 2) as m:
            P = m.map([T.NoDtypeTask("a")], "fit", X, Y, return_preds=True)
            assert m.job.predict_out.dtype == np.float64
        assert P.dtype == np.float64


def test_task_dtype_float32():
    task = T.FoldTask("a", dtype=np.float32)
    with ParallelProcessing("threading", 2) as m:
        P = m.map([task], "fit", X, Y, return_preds=True)
    assert P.dtype == np.float32
    np.testing.assert_array_equal(P[:, 0], oof(X, Y).astype(np.float32))


###############################################################################
# Inputs given as files (wart 15)

def _write_input(fmt, tmp_path):
    if fmt == "npy":
        f = tmp_path / "X.npy"
        np.save(f, X)
        return f, X
    if fmt == "npz":
        f = tmp_path / "X.npz"
        np.savez(f, data=X)
        return f, X
    if fmt == "npz_sparse":
        f = tmp_path / "XS.npz"
        sp.save_npz(f, XS)
        return f, XS
    if fmt == "csv":
        f = tmp_path / "X.csv"
        np.savetxt(f, X, delimiter=",", fmt="%.17g")
        return f, X
    if fmt in ("mmap", "pkl"):
        import joblib
        f = tmp_path / ("X." + fmt)
        joblib.dump(X, f)
        return f, X
    if fmt == "txt":
        f = tmp_path / "X.txt"
        np.savetxt(f, X, fmt="%.17g")
        return f, X
    raise ValueError(fmt)


@pytest.mark.parametrize("backend", ["threading", "loky"])
@pytest.mark.parametrize("fmt", ["npy", "npz", "npz_sparse", "csv", "mmap"])
def test_file_inputs(backend, fmt, tmp_path):
    f, ref_X = _write_input(fmt, tmp_path)
    ref_y = YS if fmt == "npz_sparse" else Y
    np.save(tmp_path / "y.npy", ref_y)
    yfile = tmp_path / "y.npy"
    expected = oof(ref_X, ref_y)
    for as_str in (True, False):
        task = T.FoldTask("a")
        with ParallelProcessing(backend, 2) as m:
            P = m.map([task], "fit", str(f) if as_str else f,
                      str(yfile) if as_str else yfile, return_preds=True)
        np.testing.assert_allclose(P[:, 0], expected, rtol=1e-10)
        seen = task.seen[0]
        if fmt == "npz_sparse":
            assert sp.issparse(seen["X"])
            np.testing.assert_array_equal(seen["X"].toarray(), XS.toarray())
        else:
            assert isinstance(seen["X"], np.ndarray)
            np.testing.assert_array_equal(seen["X"], X)
        np.testing.assert_array_equal(seen["y"], ref_y)
        if fmt in ("npy", "mmap") or backend != "threading":
            if fmt != "npz_sparse":
                assert seen["X_is_memmap"]  # .npy inputs are memory-mapped


def test_file_input_text_and_errors(tmp_path):
    with ParallelProcessing("threading", 2) as m:
        for fmt in ("txt", "pkl"):
            f, _ = _write_input(fmt, tmp_path)
            P = m.map([T.FoldTask("a")], "fit", f, Y, return_preds=True)
            np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-10)
        with pytest.raises(FileNotFoundError):
            m.map([T.FoldTask("a")], "fit", tmp_path / "missing.npy", Y)
        multi = tmp_path / "multi.npz"
        np.savez(multi, a=X, b=X)
        with pytest.raises(ValueError):
            m.map([T.FoldTask("a")], "fit", multi, Y)


def test_dump_array(tmp_path):
    f = dump_array(X, "X", str(tmp_path))
    assert f == str(tmp_path / "X.npy")
    loaded = np.load(f, mmap_mode="r")
    np.testing.assert_array_equal(loaded, X)
    g = dump_array(XS, "XS", tmp_path)
    assert g.endswith(".pkl")
    import joblib
    np.testing.assert_array_equal(joblib.load(g).toarray(), XS.toarray())
    # an .npy path is memory-mappable as it is
    assert dump_array(f, "X2", tmp_path) == f
    with pytest.raises(FileNotFoundError):
        dump_array(str(tmp_path / "nope.npy"), "X", tmp_path)


###############################################################################
# ParallelEvaluation

@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_parallel_evaluation(backend):
    caller = T.EvalCaller(folds=3, opt_in=["forward_kwargs"])
    with ParallelEvaluation(backend, 2) as ev:
        assert ev.process(caller, "evaluate", X, Y, extra=42) is None
    c = caller.calls[0]
    assert c["job"] == "fit"
    assert c["case"] == "evaluate"
    assert c["main_P"] is None and c["aux_P"] is None
    assert c["kwargs"] == {"extra": 42}
    if backend == "threading":
        assert c["dir_type"] is list
    else:
        assert c["dir_type"] is str and c["dir"].endswith("task_0")
    assert caller.indexer.fitted[0]["job"] == "fit"
    np.testing.assert_array_equal(caller.indexer.fitted[0]["X"], X)
    ref = [np.mean((LinearRegression().fit(X[tr], Y[tr]).predict(X[te])
                    - Y[te]) ** 2) for tr, te in KFold(3).split(X)]
    np.testing.assert_allclose(caller.scores_, ref, rtol=1e-10)


def test_parallel_evaluation_shuffles():
    """wart 17: caller.shuffle / random_state are honoured for callers that
    opt in with apply_shuffle."""
    caller = T.EvalCaller(folds=3, shuffle=True, random_state=9,
                          opt_in=["apply_shuffle"])
    with ParallelEvaluation("threading", 2) as ev:
        ev.process(caller, "preprocess-evaluate", X, Y)
    perm = _perm(9)
    np.testing.assert_array_equal(caller.indexer.fitted[0]["X"], X[perm])
    np.testing.assert_array_equal(caller.indexer.fitted[0]["y"], Y[perm])
    ref = [np.mean((LinearRegression().fit(X[perm][tr], Y[perm][tr])
                    .predict(X[perm][te]) - Y[perm][te]) ** 2)
           for tr, te in KFold(3).split(X)]
    np.testing.assert_allclose(caller.scores_, ref, rtol=1e-10)
    assert caller.calls[0]["case"] == "preprocess-evaluate"


def test_parallel_evaluation_error_clears(tmp_path):
    class Broken(T.EvalCaller):
        def __call__(self, parallel, args, case):
            self.calls.append(args["dir"])
            raise T.Boom("eval failed")

    ev = ParallelEvaluation("loky", 2)
    with pytest.raises(T.Boom):
        ev.process(Broken(), "evaluate", X, Y)
    assert ev.job is None
    assert leftovers(tmp_path) == []


###############################################################################
# Errors

def test_unknown_backend_raises():
    with pytest.raises(ValueError, match="nope"):
        ParallelProcessing("nope")
    with pytest.raises(ValueError):
        ParallelEvaluation("nope", 2)
    with pytest.raises(ValueError):
        ParallelProcessing(3)


def test_caller_not_iterable_raises(tmp_path):
    m = ParallelProcessing("threading", 2)
    with pytest.raises(TypeError, match="iterable"):
        m.map(T.FoldTask("a"), "fit", X, Y)
    assert m.job is None
    m = ParallelProcessing("loky", 2)
    with pytest.raises(TypeError):
        m.stack(42, "fit", X, Y)
    assert leftovers(tmp_path) == []


def test_length_mismatch_raises():
    m = ParallelProcessing("threading", 2)
    with pytest.raises(ValueError, match="rows"):
        m.map([T.FoldTask("a")], "fit", X, Y[:-3])
    with pytest.raises(ValueError):
        m.map([T.FoldTask("a")], "fit", XS, YS[1:])


def test_invalid_job_name():
    with pytest.raises(ValueError):
        Job("fitt", False, False)
    with pytest.raises(ValueError):
        ParallelProcessing("threading", 2).map([T.FoldTask("a")], "score", X, Y)


@pytest.mark.parametrize("backend", ["threading", "sequential"] + PROCESS)
def test_worker_exception_propagates_with_type_and_note(backend):
    m = ParallelProcessing(backend, 2)
    with pytest.raises(T.Boom) as info:
        m.map(T.Group(T.FoldTask("fine"), T.FailingTask("boom_task")), "fit",
              X, Y)
    assert "subtask 2 failed" in str(info.value)
    if sys.version_info >= (3, 11):
        notes = getattr(info.value, "__notes__", [])
        assert any("boom_task" in n for n in notes), notes
        assert not any("'fine'" in n for n in notes), notes
    assert m.job is None


def test_exception_in_setup_is_annotated_and_clears():
    class BadSetup(T.FoldTask):
        def setup(self, X, y, job):
            raise KeyError("no setup for you")

    m = ParallelProcessing("threading", 2)
    with pytest.raises(KeyError) as info:
        m.map([BadSetup("bad")], "fit", X, Y)
    if sys.version_info >= (3, 11):
        assert any("bad" in n for n in info.value.__notes__)
    assert m.job is None


###############################################################################
# config

def test_config_defaults():
    config.reset()
    assert config.get_backend() == "threading"
    assert config.get_n_jobs() == -1
    import tempfile
    assert config.get_tmpdir() == tempfile.gettempdir()
    assert config.get_prefix() == ".mlcore_cache_"
    assert config.get_dtype() == np.float32


def test_config_environment_variables(monkeypatch, tmp_path):
    config.reset()
    monkeypatch.setenv("MLCORE_BACKEND", "sequential")
    monkeypatch.setenv("MLCORE_N_JOBS", "3")
    monkeypatch.setenv("MLCORE_TMPDIR", str(tmp_path))
    monkeypatch.setenv("MLCORE_PREFIX", ".envprefix_")
    monkeypatch.setenv("MLCORE_DTYPE", "float64")
    assert config.get_backend() == "sequential"
    assert config.get_n_jobs() == 3
    assert config.get_tmpdir() == str(tmp_path)
    assert config.get_prefix() == ".envprefix_"
    assert config.get_dtype() == np.float64
    m = ParallelProcessing()
    assert m.backend == "sequential" and m.n_jobs == 3 and m.__threading__
    task = T.NoDtypeTask("a")
    P = m.map([task], "fit", X, Y, return_preds=True)
    assert P.dtype == np.float64
    # code overrides the environment ...
    config.set_backend("loky")
    config.set_n_jobs(2)
    config.set_dtype("float32")
    config.set_prefix(".codeprefix_")
    assert config.get_backend() == "loky"
    assert config.get_n_jobs() == 2
    assert config.get_dtype() == np.float32
    assert config.get_prefix() == ".codeprefix_"
    m = ParallelProcessing()
    assert m.backend == "loky" and m.n_jobs == 2 and not m.__threading__
    # ... until reset()
    config.reset()
    assert config.get_backend() == "sequential"
    assert config.get_prefix() == ".envprefix_"
    # an empty variable means unset
    monkeypatch.setenv("MLCORE_BACKEND", "")
    assert config.get_backend() == "threading"


def test_config_env_temp_dir_and_prefix_used(monkeypatch, tmp_path):
    config.reset()
    d = tmp_path / "envtmp"
    d.mkdir()
    monkeypatch.setenv("MLCORE_TMPDIR", str(d))
    monkeypatch.setenv("MLCORE_PREFIX", ".envcache_")
    task = T.FoldTask("a")
    with ParallelProcessing("loky", 2) as m:
        m.map([task], "fit", X, Y)
        assert os.listdir(d) == [os.path.basename(task.calls[0]["root"])]
        assert os.listdir(d)[0].startswith(".envcache_")
    assert os.listdir(d) == []


@pytest.mark.parametrize("var,value,getter", [
    ("MLCORE_N_JOBS", "0", config.get_n_jobs),
    ("MLCORE_N_JOBS", "two", config.get_n_jobs),
    ("MLCORE_N_JOBS", "1.5", config.get_n_jobs),
    ("MLCORE_DTYPE", "int32", config.get_dtype),
    ("MLCORE_DTYPE", "notadtype", config.get_dtype),
    ("MLCORE_PREFIX", "a/b", config.get_prefix),
])
def test_config_invalid_environment_values(monkeypatch, var, value, getter):
    config.reset()
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError):
        getter()


def test_config_invalid_env_backend_rejected_by_processor(monkeypatch):
    config.reset()
    monkeypatch.setenv("MLCORE_BACKEND", "nope")
    with pytest.raises(ValueError):
        ParallelProcessing()
    monkeypatch.setenv("MLCORE_N_JOBS", "0")
    monkeypatch.setenv("MLCORE_BACKEND", "threading")
    with pytest.raises(ValueError):
        ParallelProcessing()


def test_config_invalid_set_values(tmp_path):
    for bad in ("", 3, None):
        with pytest.raises(ValueError):
            config.set_backend(bad)
    for bad in (0, "x", 1.5, True, None, "4", 4.0):
        with pytest.raises(ValueError):
            config.set_n_jobs(bad)
    with pytest.raises(ValueError):
        config.set_tmpdir(tmp_path / "does_not_exist")
    for bad in ("", "a" + os.sep + "b", 5):
        with pytest.raises(ValueError):
            config.set_prefix(bad)
    for bad in ("int64", "notadtype", bool, object, "float16", np.longdouble):
        with pytest.raises(ValueError):
            config.set_dtype(bad)
    # valid values round-trip
    config.set_tmpdir(pathlib.Path(tmp_path))
    assert config.get_tmpdir() == str(tmp_path)
    config.set_n_jobs(np.int64(4))
    assert config.get_n_jobs() == 4 and type(config.get_n_jobs()) is int
    config.set_dtype("float64")
    assert config.get_dtype() == np.float64
    config.reset()


###############################################################################
# No gc.collect on the per-call path

@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_no_gc_collect_per_call(monkeypatch, backend):
    def forbidden(*args, **kwargs):
        raise AssertionError("gc.collect called on the per-call path")

    monkeypatch.setattr(gc, "collect", forbidden)
    task = T.FoldTask("a")
    with ParallelProcessing(backend, 2) as m:
        P = m.map([task], "fit", X, Y, return_preds=True)
        m.stack(T.Group(T.FoldTask("b"), T.FoldTask("c")), "fit", X, Y)
    np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-12)


###############################################################################
# Misc API

def test_delayed_accepts_check_pickle():
    fn, args, kwargs = delayed(T.failing_subtask, check_pickle=False)(1, 5)
    assert fn(*args, **kwargs) == 1
    fn, args, kwargs = delayed(T.failing_subtask)(0, fail_at=5)
    assert kwargs == {"fail_at": 5} and fn(*args, **kwargs) == 0


def test_public_names():
    for name in ("Job", "BaseProcessor", "ParallelProcessing",
                 "ParallelEvaluation", "dump_array", "delayed"):
        assert getattr(mlcore, name) is getattr(mlcore.backend, name)
    assert "threading" in repr(ParallelProcessing("threading", 2))


def test_job_rebase_and_update():
    j = Job("fit", True, False, predict_in=X, targets=Y)
    j.predict_out = np.ones((10, 2))
    j.update()
    assert j.predict_in is j.predict_out
    np.testing.assert_array_equal(j.targets, Y[-10:])
    j.clear()
    assert j.predict_out is None
    # map mode: update does not feed the output forward
    j = Job("fit", False, False, predict_in=X, targets=Y)
    j.predict_out = np.ones((10, 2))
    j.update()
    assert j.predict_in is X and j.targets is Y
    # sparse output becomes canonical CSR
    j.predict_out = sp.coo_matrix(np.eye(3))
    j.update()
    assert_canonical_csr(j.predict_out)
