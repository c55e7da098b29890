"""The backend protocol: ML-Ensemble's tasks see what ML-Ensemble showed them,
tasks and callers that opt in get mlcore's fixes.

Three fixes change what a task observes (see ``mlcore.backend``): keyword
arguments forwarded to tasks (``forward_kwargs``), shuffled outputs put back
into the caller's row order (``restore_order``) and ``ParallelEvaluation``
applying ``shuffle`` (``apply_shuffle``). The tasks of ``tests/_tasks.py``
are ML-Ensemble tasks unless given ``opt_in=...``. References are numpy and
scikit-learn computations on explicitly permuted data.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict

from mlcore.ensemble import SuperLearner
from mlcore.backend import ParallelEvaluation, ParallelProcessing
from mlcore.layer import Layer
from mlcore.model_selection import Benchmark, Evaluator

from tests import _tasks as T

N = 30
_rng = np.random.RandomState(0)
X = _rng.randn(N, 4)
Y = X @ np.array([1.0, 2.0, -1.0, 0.5]) + 0.3 * _rng.randn(N)
XS = sp.random(N, 6, density=0.4, format="csr", random_state=1)
YS = np.asarray(XS @ np.arange(1.0, 7.0)).ravel()
MLENS_KEYS = ["auxiliary", "dir", "job", "main"]


def oof(X, y, k=3):
    """Out-of-fold predictions of contiguous folds, in the rows given."""
    return cross_val_predict(LinearRegression(), X, y, cv=KFold(k))


def perm(rs, n=N):
    return np.random.RandomState(rs).permutation(n)


###############################################################################
# 1. Keyword arguments reach only the tasks that opt in

def test_mlens_tasks_get_mlens_args_only():
    a, b, c = T.FoldTask("a"), T.FoldTask("b"), T.FoldTask("c")
    with ParallelProcessing("threading", 2) as m:
        m.map([a], "fit", X, Y, refit=False, proba=True)
        m.stack([b], "fit", X, Y, refit=True)
        m.process([c], m.initialize("fit", X, Y), foo=1)
    for task in (a, b, c):
        assert task.calls[0]["keys"] == MLENS_KEYS
        assert task.calls[0]["main_keys"] == ["P", "X", "y"]


def test_opted_in_and_mlens_tasks_side_by_side():
    mine = T.FoldTask("mine", opt_in=["forward_kwargs"])
    theirs = T.FoldTask("theirs")
    with ParallelProcessing("threading", 2) as m:
        m.map(T.Group(theirs, mine), "fit", X, Y, refit=False)
    assert mine.calls[0]["kwargs"] == {"refit": False}
    assert theirs.calls[0]["keys"] == MLENS_KEYS


def test_mlens_refit_handling_is_never_triggered():
    """ML-Ensemble's nodes skip the fit when given refit=True (inverted);
    its engine never forwarded refit, so they always refitted."""
    layer = T.RefitLayer("l")
    with ParallelProcessing("threading", 2) as m:
        m.map([layer], "fit", X, Y)
        P = m.map([layer], "fit", X, Y, return_preds=True, refit=True)
    assert layer.transformer.n_fits == 2 and layer.learner.n_fits == 2
    np.testing.assert_allclose(P[:, 0], oof(X, Y), rtol=1e-12)


def test_forwarding_refit_to_an_mlens_layer_crashes_it():
    """Why forwarding is opt-in: the crash ML-Ensemble's layers hit."""
    layer = T.RefitLayer("l", opt_in=["forward_kwargs"])
    with ParallelProcessing("threading", 2) as m:
        m.map([layer], "fit", X, Y)
        with pytest.raises(TypeError, match="'NoneType' object is not "
                                            "iterable"):
            m.map([layer], "fit", X, Y, refit=True)


def test_evaluation_kwargs_only_for_callers_that_opt_in():
    theirs = T.EvalCaller(folds=3)
    mine = T.EvalCaller(folds=3, opt_in=["forward_kwargs"])
    for caller in (theirs, mine):
        with ParallelEvaluation("threading", 2) as ev:
            ev.process(caller, "evaluate", X, Y, extra=42)
    assert theirs.calls[0]["keys"] == MLENS_KEYS
    assert mine.calls[0]["kwargs"] == {"extra": 42}


###############################################################################
# 2. Shuffled outputs: the task's working order unless it opts in

def test_shuffled_fit_returns_working_order_by_default():
    rs = 7
    p = perm(rs)
    task = T.FoldTask("s", folds=3, shuffle=True, random_state=rs)
    with ParallelProcessing("threading", 2) as m:
        P = m.map([task], "fit", X, Y, return_preds=True)
        rows = m.output_rows()
        again = m.get_preds()
        restored = m.get_preds(restore_order=True)
    # ML-Ensemble: out-of-fold predictions of the permuted rows, as they are
    np.testing.assert_allclose(P[:, 0], oof(X[p], Y[p]), rtol=1e-12)
    np.testing.assert_array_equal(rows, p)
    np.testing.assert_array_equal(task.seen[0]["y"], Y[rows])
    np.testing.assert_array_equal(again, P)
    expected = np.empty(N)
    expected[p] = P[:, 0]
    np.testing.assert_array_equal(restored[:, 0], expected)


def test_opted_in_task_gets_input_order_and_sorted_rows():
    rs = 7
    mine = T.FoldTask("mine", shuffle=True, random_state=rs,
                      opt_in=["restore_order"])
    theirs = T.FoldTask("theirs", shuffle=True, random_state=rs)
    with ParallelProcessing("threading", 2) as m:
        out = m.map(T.Group(mine, theirs), "fit", X, Y,
                    return_preds=["mine", "theirs"])
        rows_mine, rows_theirs = m.output_rows("mine"), m.output_rows()
        working = m.get_preds(restore_order=False)
    np.testing.assert_allclose(
        out[0][:, 0], cross_val_predict(LinearRegression(), X, Y,
                                        cv=KFold(3, shuffle=True,
                                                 random_state=rs)),
        rtol=1e-9)
    np.testing.assert_array_equal(rows_mine, np.arange(N))
    np.testing.assert_array_equal(rows_theirs, perm(rs))
    np.testing.assert_array_equal(out[1], working)
    np.testing.assert_array_equal(out[0][perm(rs)], out[1])


def test_shuffled_stack_with_blend_rows_follow_the_permutation():
    rs = 5
    p = perm(rs)
    s = T.FoldTask("s", shuffle=True, random_state=rs)
    b = T.BlendTask("b", test_size=10)
    l3 = T.FoldTask("l3", folds=2)
    with ParallelProcessing("threading", 2) as m:
        out = m.stack(T.Group(s, b, l3), "fit", X, Y,
                      return_preds=["s", "b", "l3"])
        rows = {name: m.output_rows(name) for name in ("s", "b", "l3")}
    oof_s = oof(X[p], Y[p])
    np.testing.assert_allclose(out[0][:, 0], oof_s, rtol=1e-12)
    np.testing.assert_array_equal(rows["s"], p)
    np.testing.assert_array_equal(rows["b"], p[20:])
    np.testing.assert_array_equal(rows["l3"], p[20:])
    pred = LinearRegression().fit(oof_s[:20, None], Y[p][:20]).predict(
        oof_s[20:, None])
    np.testing.assert_allclose(out[1][:, 0], pred, rtol=1e-12)
    np.testing.assert_array_equal(l3.seen[0]["y"], Y[rows["b"]])
    np.testing.assert_allclose(out[2][:, 0], oof(pred[:, None], Y[p][20:],
                                                 k=2), rtol=1e-12)


def test_output_rows_of_unshuffled_blends_compose():
    b1 = T.BlendTask("b1", test_size=18, train_size=10, offset="method")
    b2 = T.BlendTask("b2", test_size=8)
    with ParallelProcessing("threading", 2) as m:
        m.stack(T.Group(b1, b2), "fit", X, Y, return_preds=["b1", "b2"])
        np.testing.assert_array_equal(m.output_rows("b1"), np.arange(10, 28))
        np.testing.assert_array_equal(m.output_rows("b2"), np.arange(20, 28))
        np.testing.assert_array_equal(b2.seen[0]["y"], Y[10:28])
    # kept after the processor is cleared, replaced by the next call
    np.testing.assert_array_equal(m.output_rows(), np.arange(20, 28))
    with pytest.raises(KeyError, match="'nope'"):
        m.output_rows("nope")
    m.map([T.FoldTask("f")], "fit", X, Y)
    np.testing.assert_array_equal(m.output_rows(), np.arange(N))
    with pytest.raises(KeyError):
        m.output_rows("b1")
    m.clear()


def test_output_rows_of_a_shuffle_after_a_blend():
    b = T.BlendTask("b", test_size=10)
    s = T.FoldTask("s", folds=2, shuffle=True, random_state=6)
    with ParallelProcessing("threading", 2) as m:
        out = m.stack(T.Group(b, s), "fit", X, Y, return_preds=["b", "s"])
        np.testing.assert_array_equal(m.output_rows("b"), np.arange(20, 30))
        rows = m.output_rows("s")
    np.testing.assert_array_equal(rows, 20 + perm(6, 10))
    np.testing.assert_array_equal(s.seen[0]["y"], Y[rows])
    np.testing.assert_allclose(out[1][:, 0], oof(out[0][perm(6, 10)],
                                                 Y[rows], k=2), rtol=1e-12)


def test_sparse_shuffled_output_in_working_order_by_default():
    rs = 2
    p = perm(rs)
    task = T.FoldTask("s", shuffle=True, random_state=rs,
                      propagate_features=[4, 0])
    with ParallelProcessing("threading", 2) as m:
        P = m.map([task], "fit", XS, YS, return_preds=True)
        np.testing.assert_array_equal(m.output_rows(), p)
    assert sp.issparse(P)
    np.testing.assert_array_equal(P[:, :2].toarray(),
                                  XS[p][:, [4, 0]].toarray())
    np.testing.assert_allclose(P[:, 2].toarray().ravel(),
                               oof(XS[p], YS[p]), rtol=1e-10)


@pytest.mark.parametrize("backend", ["sequential", "loky"])
def test_working_order_on_other_backends(backend):
    rs = 3
    with ParallelProcessing(backend, 2) as m:
        P = m.map([T.FoldTask("s", shuffle=True, random_state=rs)], "fit",
                  X, Y, return_preds=True)
        np.testing.assert_array_equal(m.output_rows(), perm(rs))
    np.testing.assert_allclose(P[:, 0], oof(X[perm(rs)], Y[perm(rs)]),
                               rtol=1e-12)


###############################################################################
# 3. ParallelEvaluation shuffles only for callers that opt in

def _kfold_mse(X, y, k=3):
    return [np.mean((LinearRegression().fit(X[tr], y[tr]).predict(X[te])
                     - y[te]) ** 2) for tr, te in KFold(k).split(X)]


def test_evaluation_ignores_shuffle_without_opt_in():
    """ML-Ensemble's Evaluator defaults: shuffle=True, random_state=None,
    never applied: every run scores the same unshuffled folds."""
    scores = []
    for _ in range(2):
        caller = T.EvalCaller(folds=3, shuffle=True, random_state=None)
        with ParallelEvaluation("threading", 2) as ev:
            ev.process(caller, "evaluate", X, Y)
        np.testing.assert_array_equal(caller.indexer.fitted[0]["X"], X)
        scores.append(caller.scores_)
    np.testing.assert_allclose(scores[0], _kfold_mse(X, Y), rtol=1e-10)
    assert scores[0] == scores[1]


def test_evaluation_shuffles_for_callers_that_opt_in():
    caller = T.EvalCaller(folds=3, shuffle=True, random_state=9,
                          opt_in=["apply_shuffle"])
    with ParallelEvaluation("threading", 2) as ev:
        ev.process(caller, "evaluate", X, Y)
    p = perm(9)
    np.testing.assert_array_equal(caller.indexer.fitted[0]["y"], Y[p])
    np.testing.assert_allclose(caller.scores_, _kfold_mse(X[p], Y[p]),
                               rtol=1e-10)


###############################################################################
# 4. mlcore's own layers, ensembles and evaluators opt in

def test_mlcore_callers_opt_in():
    assert Layer.forward_kwargs is True and Layer.restore_order is True
    assert Evaluator.apply_shuffle is True
    assert Evaluator("r2").apply_shuffle and Benchmark().shuffle is False


def test_superlearner_shuffled_predictions_in_input_order():
    ens = SuperLearner(folds=3, shuffle=True, random_state=0)
    ens.add([Ridge()]).fit(X, Y)
    rs = ens.layers_[0].random_state
    assert isinstance(rs, int)
    ref = cross_val_predict(Ridge(), X, Y, cv=KFold(3, shuffle=True,
                                                    random_state=rs))
    np.testing.assert_allclose(ens.oof_predictions_["layer-1"][:, 0], ref,
                               rtol=1e-9)
    np.testing.assert_allclose(ens.transform(X)[:, 0], ref, rtol=1e-9)


def test_mlcore_evaluator_applies_shuffle():
    def mse(y, p):
        return np.mean((y - p) ** 2)

    ev = Evaluator(mse, cv=3, shuffle=True, random_state=4,
                   backend="threading", n_jobs=2)
    ev.fit(X, Y, [("ols", LinearRegression())], n_iter=1)
    p = perm(4)
    got = ev.cv_results_[0]["test_score"]
    np.testing.assert_allclose(got, _kfold_mse(X[p], Y[p]), rtol=1e-10)
