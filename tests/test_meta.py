"""Tests of the meta learners (mlcore.meta) against independent references.

* NNLSRegressor: ``scipy.optimize.nnls`` (the intercept through a pair of
  +1/-1 columns, sample weights through repeated rows) and, for the convex
  combination, the least-squares solution on every support written out as
  its KKT system, plus a fine simplex grid.
* ConvexLogLossClassifier: ``sklearn.metrics.log_loss`` over a fine simplex
  grid (2 and 3 learners) and the optimality conditions.
* ConvexAUCClassifier: ``sklearn.metrics.roc_auc_score`` over the simplex
  grid.
* Ensemble selection: a plain loop over scikit-learn metrics, written from
  Caruana et al.'s description.
* Discrete Super Learner: the argmin of scikit-learn metrics per learner.
* In a SuperLearner: the meta learner sees exactly the out-of-fold
  predictions of ``cross_val_predict`` (learner after learner, then class),
  and predicts as the same meta learner fitted by hand.
* scikit-learn's estimator checks, on the estimators themselves and, for
  the classifiers, also behind a stage that turns the checks' features
  into probabilities (see ``_OnProbabilities``).
"""
import itertools
import pickle
import warnings

import numpy as np
import pytest
from scipy.optimize import nnls
from sklearn.base import (BaseEstimator, ClassifierMixin, clone,
                          is_classifier, is_regressor)
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import (accuracy_score, brier_score_loss, log_loss,
                             mean_absolute_error, mean_squared_error,
                             r2_score, roc_auc_score)
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted,
                                      validate_data)
from threadpoolctl import threadpool_limits

from mlcore.ensemble import SuperLearner
from mlcore.meta import (ConvexAUCClassifier, ConvexLogLossClassifier,
                         DiscreteSuperLearnerClassifier,
                         DiscreteSuperLearnerRegressor,
                         EnsembleSelectionClassifier,
                         EnsembleSelectionRegressor, NNLSRegressor)
from mlcore.meta import _auc_columns


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with threadpool_limits(limits=1):
        yield


###############################################################################
# Data

def _reg_preds(n=120, L=3, seed=0):
    """y and L noisy, biased, correlated 'predictions' of it."""
    rng = np.random.RandomState(seed)
    y = rng.randn(n) * 2.0
    shared = rng.randn(n)
    X = np.column_stack([y * (0.6 + 0.3 * j) + (0.5 + j) * rng.randn(n)
                         + 0.4 * shared + 0.2 * j for j in range(L)])
    return X, y


def _proba_blocks(n=200, L=3, K=3, seed=0, strength=None):
    """y and L learners' probability blocks (softmax of noisy logits that
    lean towards the true class), as (n, L*K) learner-major columns."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, K, n)
    if strength is None:
        strength = np.linspace(0.5, 1.5, L)
    logits = rng.randn(n, L, K) + np.asarray(strength)[None, :, None] * \
        np.eye(K)[y][:, None, :]
    P = np.exp(logits)
    P /= P.sum(axis=2, keepdims=True)
    return P.reshape(n, L * K), y


def _simplex(L, m):
    """Every point of the simplex grid with step 1/m."""
    pts = [np.array(c) for c in itertools.product(range(m + 1), repeat=L)
           if sum(c) == m]
    return np.array(pts, dtype=np.float64) / m


def _grid_simplex_2_3(L, m):
    if L == 2:
        t = np.arange(m + 1) / m
        return np.column_stack([1 - t, t])
    return _simplex(L, m)


###############################################################################
# Non-negative least squares

def test_nnls_equals_scipy_nnls():
    X, y = _reg_preds(L=4)
    X[:, 3] = -X[:, 3]  # a learner that gets weight 0
    est = NNLSRegressor().fit(X, y)
    ref = nnls(X, y)[0]
    assert np.array_equal(est.coef_, ref)
    assert ref[3] == 0.0 and ref[:3].min() > 0
    assert est.intercept_ == 0.0
    assert np.array_equal(est.predict(X), X @ ref)
    assert est.weights_ == dict(zip(range(4), ref.tolist()))


def test_nnls_sample_weight_equals_repeated_rows():
    X, y = _reg_preds(L=3)
    sw = np.random.RandomState(1).randint(0, 4, len(y))
    est = NNLSRegressor().fit(X, y, sample_weight=sw)
    rows = np.repeat(np.arange(len(y)), sw)
    np.testing.assert_allclose(est.coef_, nnls(X[rows], y[rows])[0],
                               rtol=1e-10)


def test_nnls_intercept_against_signed_intercept_columns():
    X, y = _reg_preds(L=3)
    y = y + 3.0
    sw = np.random.RandomState(2).uniform(0.5, 2.0, len(y))
    est = NNLSRegressor(fit_intercept=True).fit(X, y, sample_weight=sw)
    # An unconstrained intercept is the difference of two non-negative ones.
    ones = np.ones((len(y), 1))
    r = np.sqrt(sw)[:, None]
    ref = nnls(np.hstack([X, ones, -ones]) * r, y * r[:, 0])[0]
    np.testing.assert_allclose(est.coef_, ref[:3], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.intercept_, ref[3] - ref[4], rtol=1e-9)


def test_rescale_is_r_method_nnls():
    X, y = _reg_preds(L=3)
    est = NNLSRegressor(convex="rescale").fit(X, y)
    w = nnls(X, y)[0]
    assert np.array_equal(est.coef_, w / w.sum())
    assert np.isclose(sum(est.weights_.values()), 1.0, rtol=1e-15)


def _simplex_ls_reference(X, y, intercept=False):
    """Least squares over the simplex by brute force over supports: on each
    support, the equality-constrained least-squares solution from its KKT
    system; the best one whose weights are non-negative."""
    n, L = X.shape
    best, best_obj = None, np.inf
    for size in range(1, L + 1):
        for S in itertools.combinations(range(L), size):
            A = X[:, S]
            if intercept:
                A = np.hstack([A, np.ones((n, 1))])
            k = A.shape[1]
            c = np.zeros(k)
            c[:size] = 1.0
            kkt = np.block([[A.T @ A, c[:, None]],
                            [c[None, :], np.zeros((1, 1))]])
            rhs = np.r_[A.T @ y, 1.0]
            sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:k]
            if sol[:size].min() < -1e-12:
                continue
            obj = np.sum((y - A @ sol) ** 2)
            if obj < best_obj:
                w = np.zeros(L)
                w[list(S)] = sol[:size]
                best, best_obj = (w, sol[size] if intercept else 0.0), obj
    return best, best_obj


@pytest.mark.parametrize("intercept", [False, True])
@pytest.mark.parametrize("L", [2, 3, 4])
def test_constrained_is_least_squares_over_the_simplex(L, intercept):
    X, y = _reg_preds(L=L, seed=L)
    X[:, -1] = X[:, -1] * 0.2 + 1.0  # a poor learner: weight 0
    est = NNLSRegressor(convex="constrained", fit_intercept=intercept)
    est.fit(X, y)
    (w, b), obj = _simplex_ls_reference(X, y, intercept)
    np.testing.assert_allclose(est.coef_, w, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.intercept_, b, rtol=1e-8, atol=1e-10)
    assert est.coef_.min() >= 0 and np.isclose(est.coef_.sum(), 1, rtol=1e-14)
    mine = np.sum((y - est.predict(X)) ** 2)
    assert mine <= obj * (1 + 1e-12)
    if L <= 3 and not intercept:  # and no point of a fine grid does better
        W = _grid_simplex_2_3(L, 400 if L == 2 else 150)
        grid = ((y[:, None] - X @ W.T) ** 2).sum(axis=0)
        assert mine <= grid.min()


def test_constrained_with_sample_weight_equals_repeated_rows():
    X, y = _reg_preds(L=3)
    sw = np.random.RandomState(3).randint(0, 3, len(y))
    rows = np.repeat(np.arange(len(y)), sw)
    a = NNLSRegressor(convex="constrained").fit(X, y, sample_weight=sw)
    b = NNLSRegressor(convex="constrained").fit(X[rows], y[rows])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9, atol=1e-12)


def test_rescale_with_all_zero_weights_warns_and_uses_constrained():
    X, y = _reg_preds(L=3)
    X = np.abs(X)
    y = -np.abs(y) - 1.0  # every learner points the wrong way
    assert nnls(X, y)[0].sum() == 0
    with pytest.warns(UserWarning, match="every non-negative"):
        est = NNLSRegressor(convex="rescale").fit(X, y)
    ref = NNLSRegressor(convex="constrained").fit(X, y)
    assert np.array_equal(est.coef_, ref.coef_)


@pytest.mark.parametrize("bad", [True, "normalize", 1])
def test_convex_values_are_checked(bad):
    X, y = _reg_preds()
    with pytest.raises(ValueError, match="convex must be"):
        NNLSRegressor(convex=bad).fit(X, y)


###############################################################################
# Convex combination minimising the log-loss

def _true_class_probs(X, y, L, K):
    B = X.reshape(len(y), L, K)
    return B[np.arange(len(y)), :, y]


_NO_CONVERGENCE_WARNING = pytest.mark.filterwarnings(
    "error::sklearn.exceptions.ConvergenceWarning")


@_NO_CONVERGENCE_WARNING
@pytest.mark.parametrize("L,K,m", [(2, 2, 2000), (2, 3, 2000), (3, 3, 200),
                                   (3, 2, 200)])
def test_logloss_weights_beat_a_fine_grid(L, K, m):
    X, y = _proba_blocks(n=300, L=L, K=K, seed=L * 10 + K,
                         strength=[1.0, 1.2, 0.9][:L])
    est = ConvexLogLossClassifier().fit(X, y)
    mine = log_loss(y, est.predict_proba(X), labels=np.arange(K))
    W = _grid_simplex_2_3(L, m)
    A = _true_class_probs(X, y, L, K)
    grid = -np.log(A @ W.T).mean(axis=0)
    assert mine <= grid.min() + 1e-13
    # the optimum is interior and well conditioned here: the grid's best
    # point lies within a few grid steps of it
    assert np.abs(est.coef_ - W[np.argmin(grid)]).max() <= 3.0 / m
    assert est.coef_.min() > 0


@_NO_CONVERGENCE_WARNING
def test_logloss_weights_satisfy_optimality_conditions():
    """KKT on the simplex: the gradient of the mean log-loss is -1 on the
    learners with weight (the multiplier of sum(w) = 1) and >= -1 on the
    others. One learner is pure noise and must get weight exactly 0."""
    X, y = _proba_blocks(n=400, L=4, K=3, seed=5,
                         strength=[0.8, 1.2, 0.0, 1.0])
    est = ConvexLogLossClassifier().fit(X, y)
    A = _true_class_probs(X, y, 4, 3)
    p = A @ est.coef_
    grad = -(A / p[:, None]).mean(axis=0)
    on = est.coef_ > 0
    assert est.coef_[2] == 0.0 and on.sum() == 3
    np.testing.assert_allclose(grad[on], -1.0, atol=1e-9)
    assert grad[~on].min() >= -1.0 - 1e-9


@_NO_CONVERGENCE_WARNING
def test_logloss_sample_weight_equals_repeated_rows():
    X, y = _proba_blocks(n=150, L=3, K=2, seed=7)
    sw = np.random.RandomState(7).randint(0, 4, len(y))
    rows = np.repeat(np.arange(len(y)), sw)
    a = ConvexLogLossClassifier().fit(X, y, sample_weight=sw)
    b = ConvexLogLossClassifier().fit(X[rows], y[rows])
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)


def test_positive_columns_equal_full_blocks():
    X, y = _proba_blocks(n=150, L=3, K=2, seed=8)
    pos = X[:, 1::2]
    full = np.column_stack([np.column_stack([1 - pos[:, j], pos[:, j]])
                            for j in range(3)])
    for est in [ConvexLogLossClassifier(), ConvexAUCClassifier(grid=30),
                EnsembleSelectionClassifier(),
                DiscreteSuperLearnerClassifier()]:
        a = clone(est).fit(full, y)
        b = clone(est).set_params(proba_columns="positive").fit(pos, y)
        assert np.array_equal(a.coef_, b.coef_), est
        assert np.array_equal(a.predict_proba(full), b.predict_proba(pos))


###############################################################################
# Convex combination maximising the AUC

def test_auc_columns_equal_roc_auc_score():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 80)
    S = np.round(rng.rand(80, 5), 1)  # many ties
    sw = rng.uniform(0, 2, 80)
    for weights in (None, sw):
        ref = [roc_auc_score(y, S[:, j], sample_weight=weights)
               for j in range(5)]
        np.testing.assert_allclose(_auc_columns(y, S, weights), ref,
                                   rtol=1e-13)


def _auc_reference(X, y, L, m, sw=None):
    """The simplex grid, each point scored by roc_auc_score; the maximisers
    (to rounding) and the most even of them."""
    W = _grid_simplex_2_3(L, m)
    Q = X.reshape(len(y), L, 2)[:, :, 1]
    auc = np.array([roc_auc_score(y, Q @ w, sample_weight=sw) for w in W])
    top = W[auc >= auc.max() - 1e-12]
    spread = ((top - 1.0 / L) ** 2).sum(axis=1)
    return auc.max(), top, spread.min()


@pytest.mark.parametrize("L,m", [(2, 500), (3, 40)])
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_weights_are_the_grid_maximum(L, m, weighted):
    X, y = _proba_blocks(n=120, L=L, K=2, seed=L, strength=[0.6, 0.9, 0.7][:L])
    sw = np.random.RandomState(L).uniform(0.2, 2, len(y)) if weighted else None
    est = ConvexAUCClassifier(grid=m, refine=False).fit(X, y, sample_weight=sw)
    best, top, spread = _auc_reference(X, y, L, m, sw)
    assert abs(est.auc_ - best) <= 1e-12
    assert abs(roc_auc_score(y, est.predict_proba(X)[:, 1],
                             sample_weight=sw) - best) <= 1e-12
    # one of the grid's maximisers, and the most even one
    assert np.any(np.all(np.abs(top - est.coef_) < 1e-12, axis=1))
    assert abs(((est.coef_ - 1.0 / L) ** 2).sum() - spread) < 1e-12


def test_auc_refinement_only_improves():
    X, y = _proba_blocks(n=150, L=3, K=2, seed=11, strength=[0.6, 0.9, 0.7])
    coarse = ConvexAUCClassifier(grid=4, refine=False).fit(X, y)
    refined = ConvexAUCClassifier(grid=4, refine=True).fit(X, y)
    assert refined.auc_ >= coarse.auc_
    assert refined.auc_ > coarse.auc_  # on this data Nelder-Mead finds more
    assert abs(roc_auc_score(y, refined.predict_proba(X)[:, 1])
               - refined.auc_) <= 1e-12
    assert refined.coef_.min() >= 0 and np.isclose(refined.coef_.sum(), 1)


@pytest.mark.parametrize("refine", [False, True])
def test_auc_of_tied_probabilities_is_that_of_predict_proba(refine):
    """Probabilities in tenths tie, and their combinations tie too, whatever
    order the products sum them in: auc_ is the AUC of predict_proba."""
    for seed in range(12):
        rng = np.random.RandomState(seed)
        y = rng.randint(0, 2, 50)
        Q = np.clip(np.round(0.35 * y[:, None] + 0.65 * rng.rand(50, 4), 1),
                    0.0, 1.0)
        X = np.stack([1.0 - Q, Q], axis=2).reshape(50, 8)
        est = ConvexAUCClassifier(refine=refine).fit(X, y)
        assert abs(est.auc_ - roc_auc_score(
            y, est.predict_proba(X)[:, 1])) <= 1e-12, seed


def test_auc_default_grid_size():
    X, y = _proba_blocks(n=60, L=3, K=2, seed=1)
    est = ConvexAUCClassifier(refine=False).fit(X, y)
    best, _, _ = _auc_reference(X, y, 3, 61)  # 1953 points <= 2000 < 2016
    assert abs(est.auc_ - best) <= 1e-12


@pytest.mark.parametrize("est", [
    ConvexAUCClassifier(), EnsembleSelectionClassifier(metric="auc"),
    DiscreteSuperLearnerClassifier(metric="auc")], ids=repr)
def test_auc_is_binary_only(est):
    X, y = _proba_blocks(n=60, L=2, K=3)
    with pytest.raises(ValueError, match="Only binary classification"):
        est.fit(X, y)


###############################################################################
# Caruana's ensemble selection, against a plain loop

def _caruana_reference(preds, y, loss, n_iter, init_size=0, best_prefix=True):
    """Forward selection with replacement as Caruana et al. (2004) describe
    it: sorted initialisation with the init_size best models, then add the
    model that most improves the average, keep the best ensemble met.
    ``preds`` is a list of the models' predictions; returns the counts."""
    L = len(preds)
    chosen, history = [], []
    if init_size:
        single = [loss(y, p) for p in preds]
        chosen = sorted(range(L), key=lambda j: (single[j], j))[:init_size]
        total = 0
        for j in chosen:
            total = total + preds[j]
        history.append(loss(y, total / len(chosen)))
    for _ in range(n_iter):
        total = 0
        for j in chosen:
            total = total + preds[j]
        best_j, best_loss = None, np.inf
        for j in range(L):
            value = loss(y, (total + preds[j]) / (len(chosen) + 1))
            if value < best_loss:
                best_j, best_loss = j, value
        chosen.append(best_j)
        history.append(best_loss)
    if best_prefix:
        offset = len(chosen) - len(history)
        chosen = chosen[:offset + int(np.argmin(history)) + 1]
    return np.bincount(chosen, minlength=L)


_REG_LOSSES = {"mse": mean_squared_error, "mae": mean_absolute_error}


@pytest.mark.parametrize("metric", sorted(_REG_LOSSES))
@pytest.mark.parametrize("init_size,best_prefix",
                         [(0, True), (2, True), (0, False), (3, False)])
def test_selection_regressor_equals_loop(metric, init_size, best_prefix):
    X, y = _reg_preds(n=80, L=5, seed=4)
    est = EnsembleSelectionRegressor(metric=metric, n_iter=25,
                                     init_size=init_size,
                                     best_prefix=best_prefix).fit(X, y)
    counts = _caruana_reference([X[:, j] for j in range(5)], y,
                                _REG_LOSSES[metric], 25, init_size,
                                best_prefix)
    assert np.array_equal(est.coef_, counts / counts.sum())
    assert np.array_equal(est.predict(X), X @ (counts / counts.sum()))
    assert len(est.selection_) == 1 and len(est.selection_[0]) == counts.sum()


def _pairwise_auc(y, s):
    """AUC by counting every (positive, negative) pair; exact counts, so
    tied AUCs compare equal (roc_auc_score's trapezoids may differ in the
    last bit)."""
    sp, sn = s[y == 1][:, None], s[y == 0][None, :]
    count = (sp > sn).sum() + 0.5 * (sp == sn).sum()
    return float(count) / (sp.size * sn.size)


def _clf_losses(K):
    labels = np.arange(K)
    out = {
        "log_loss": lambda y, p: log_loss(y, p, labels=labels),
        "accuracy": lambda y, p: -accuracy_score(y, p.argmax(axis=1)),
        "brier": lambda y, p: brier_score_loss(y, p if K > 2 else p[:, 1],
                                               labels=labels),
    }
    if K == 2:
        out["auc"] = lambda y, p: -_pairwise_auc(y, p[:, 1])
    return out


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("metric", ["log_loss", "accuracy", "brier", "auc"])
@pytest.mark.parametrize("init_size,best_prefix", [(0, True), (2, False)])
def test_selection_classifier_equals_loop(K, metric, init_size, best_prefix):
    if metric == "auc" and K != 2:
        pytest.skip("AUC is binary")
    L = 5
    X, y = _proba_blocks(n=90, L=L, K=K, seed=K,
                         strength=[0.3, 0.8, 0.6, 1.0, 0.4])
    est = EnsembleSelectionClassifier(metric=metric, n_iter=20,
                                      init_size=init_size,
                                      best_prefix=best_prefix).fit(X, y)
    B = X.reshape(len(y), L, K)
    counts = _caruana_reference([B[:, j] for j in range(L)], y,
                                _clf_losses(K)[metric], 20, init_size,
                                best_prefix)
    w = counts / counts.sum()
    assert np.array_equal(est.coef_, w)
    np.testing.assert_allclose(est.predict_proba(X),
                               np.einsum("nlk,l->nk", B, w), rtol=1e-14)


def test_selection_bagging_equals_loop_per_bag():
    X, y = _reg_preds(n=80, L=6, seed=6)
    est = EnsembleSelectionRegressor(n_iter=10, n_bags=4, bag_fraction=0.5,
                                     random_state=3).fit(X, y)
    rng = np.random.RandomState(3)
    w = np.zeros(6)
    for _ in range(4):
        bag = np.sort(rng.choice(6, 3, replace=False))
        counts = _caruana_reference([X[:, j] for j in bag], y,
                                    mean_squared_error, 10)
        w[bag] += counts / counts.sum()
    np.testing.assert_array_equal(est.coef_, w / 4)
    assert len(est.selection_) == 4
    assert np.isclose(est.coef_.sum(), 1.0)


def test_selection_callable_metric_needs_a_direction():
    X, y = _reg_preds(n=60, L=4)
    with pytest.raises(ValueError, match="greater_is_better"):
        EnsembleSelectionRegressor(metric=r2_score).fit(X, y)
    a = EnsembleSelectionRegressor(metric=r2_score,
                                   greater_is_better=True).fit(X, y)
    b = EnsembleSelectionRegressor(metric="mse").fit(X, y)
    assert np.array_equal(a.coef_, b.coef_)  # R^2 ranks as the MSE does
    with pytest.raises(ValueError, match="contradicts"):
        EnsembleSelectionRegressor(metric="mse",
                                   greater_is_better=True).fit(X, y)


def test_selection_callable_classification_metric_sees_labels():
    X, y = _proba_blocks(n=90, L=4, K=3, seed=2)
    labels = np.array(["a", "b", "c"])
    seen = []

    def loss(y_true, proba, sample_weight=None):
        seen.append(y_true)
        return log_loss(y_true, proba, labels=labels,
                        sample_weight=sample_weight)

    sw = np.random.RandomState(0).uniform(0.5, 1.5, len(y))
    a = EnsembleSelectionClassifier(metric=loss, greater_is_better=False)
    a.fit(X, labels[y], sample_weight=sw)
    b = EnsembleSelectionClassifier().fit(X, labels[y], sample_weight=sw)
    assert np.array_equal(seen[0], labels[y])
    np.testing.assert_allclose(a.coef_, b.coef_)
    assert list(a.predict(X[:5])) == list(b.predict(X[:5]))


def test_selection_sample_weight_equals_repeated_rows():
    X, y = _reg_preds(n=80, L=5, seed=9)
    sw = np.random.RandomState(9).randint(0, 3, len(y))
    rows = np.repeat(np.arange(len(y)), sw)
    a = EnsembleSelectionRegressor(n_iter=15).fit(X, y, sample_weight=sw)
    b = EnsembleSelectionRegressor(n_iter=15).fit(X[rows], y[rows])
    assert np.array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize("kw,match", [
    (dict(n_iter=0, init_size=0), "nothing would be selected"),
    (dict(init_size=9), "only 4 learners"),
    (dict(n_iter=-1), "non-negative int"),
    (dict(n_bags=0), "n_bags"),
    (dict(n_bags=2, bag_fraction=0), "bag_fraction"),
    (dict(metric="rmse"), "unknown metric"),
])
def test_selection_parameters_are_checked(kw, match):
    X, y = _reg_preds(n=40, L=4)
    with pytest.raises(ValueError, match=match):
        EnsembleSelectionRegressor(**kw).fit(X, y)


###############################################################################
# The discrete Super Learner, against the exhaustive argmin

@pytest.mark.parametrize("metric", ["mse", "mae"])
def test_discrete_regressor_is_the_argmin(metric):
    X, y = _reg_preds(n=100, L=4, seed=12)
    est = DiscreteSuperLearnerRegressor(metric=metric,
                                        names=list("abcd")).fit(X, y)
    risk = [_REG_LOSSES[metric](y, X[:, j]) for j in range(4)]
    best = int(np.argmin(risk))
    assert est.best_ == "abcd"[best]
    np.testing.assert_allclose(list(est.scores_.values()), risk, rtol=1e-12)
    assert est.weights_ == {c: float(c == "abcd"[best]) for c in "abcd"}
    assert np.array_equal(est.predict(X), X[:, best])


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("metric", ["log_loss", "accuracy", "brier", "auc"])
def test_discrete_classifier_is_the_argmin(K, metric):
    if metric == "auc" and K != 2:
        pytest.skip("AUC is binary")
    L = 4
    X, y = _proba_blocks(n=120, L=L, K=K, seed=13,
                         strength=[0.5, 1.1, 0.8, 1.0])
    est = DiscreteSuperLearnerClassifier(metric=metric).fit(X, y)
    B = X.reshape(len(y), L, K)
    losses = [_clf_losses(K)[metric](y, B[:, j]) for j in range(L)]
    best = int(np.argmin(losses))
    assert est.best_ == best
    greater = metric in ("accuracy", "auc")
    np.testing.assert_allclose(list(est.scores_.values()),
                               [-v if greater else v for v in losses],
                               rtol=1e-12)
    assert np.array_equal(est.predict_proba(X), B[:, best])


def test_discrete_ties_go_to_the_first_learner():
    X, y = _reg_preds(n=50, L=2)
    X = np.column_stack([X[:, 1], X[:, 0], X[:, 0]])
    est = DiscreteSuperLearnerRegressor().fit(X, y)
    assert est.best_ == (0 if mean_squared_error(y, X[:, 0])
                         < mean_squared_error(y, X[:, 1]) else 1)


###############################################################################
# Names, validation, scikit-learn plumbing

ALL = [NNLSRegressor(), NNLSRegressor(convex="constrained"),
       EnsembleSelectionRegressor(n_iter=10), DiscreteSuperLearnerRegressor(),
       ConvexLogLossClassifier(), ConvexAUCClassifier(grid=20),
       EnsembleSelectionClassifier(n_iter=10),
       DiscreteSuperLearnerClassifier()]
CLASSIFIERS = [e for e in ALL if is_classifier(e)]
REGRESSORS = [e for e in ALL if is_regressor(e)]


def _data_for(est, n=80, L=3, seed=0):
    if is_classifier(est):
        return _proba_blocks(n=n, L=L, K=2, seed=seed)
    return _reg_preds(n=n, L=L, seed=seed)


@pytest.mark.parametrize("est", ALL, ids=repr)
def test_names(est):
    pd = pytest.importorskip("pandas")
    X, y = _data_for(est)
    fitted = clone(est).fit(X, y)
    assert list(fitted.weights_) == [0, 1, 2]
    assert np.array_equal(list(fitted.weights_.values()), fitted.coef_)
    fitted = clone(est).set_params(names=["lr", "nb", "tree"]).fit(X, y)
    assert list(fitted.weights_) == ["lr", "nb", "tree"]
    with pytest.raises(ValueError, match="names has 2 entries"):
        clone(est).set_params(names=["lr", "nb"]).fit(X, y)
    with pytest.raises(ValueError, match="unique"):
        clone(est).set_params(names=["a", "a", "b"]).fit(X, y)
    if is_classifier(est):
        cols = ["lr_0", "lr_1", "nb_0", "nb_1", "tree_0", "tree_1"]
        expect = ["lr", "nb", "tree"]
    else:
        cols = expect = ["lr", "nb", "tree"]
    fitted = clone(est).fit(pd.DataFrame(X, columns=cols), y)
    assert list(fitted.weights_) == expect
    assert list(fitted.feature_names_in_) == cols
    if is_classifier(est):  # no common prefix: the first column's name
        cols = ["a", "b", "c", "d", "e", "f"]
        fitted = clone(est).fit(pd.DataFrame(X, columns=cols), y)
        assert list(fitted.weights_) == ["a", "c", "e"]


@pytest.mark.parametrize("labels", [[10, 11, 12], ["a1", "a2", "a3"],
                                    [7, 70, 700]])
def test_names_of_a_layers_columns_are_its_learners(labels):
    """Columns named as a proba=True layer names them, ``<learner>_<label>``,
    give the layer's learner names, however alike the labels are (a common
    prefix of ``lr_10, lr_11, lr_12`` is ``lr_1``)."""
    pd = pytest.importorskip("pandas")
    X, y = make_classification(90, 5, n_informative=3, n_classes=3,
                               random_state=0)
    y = np.asarray(labels, dtype=object if isinstance(labels[0], str)
                   else None)[y]
    layer = SuperLearner(folds=3, backend="sequential", n_jobs=1).add(
        [("lr", LogisticRegression()), ("lr_1", GaussianNB())], proba=True)
    P = layer.fit_transform(X, y)
    frame = pd.DataFrame(P, columns=layer.get_feature_names_out())
    for est in (ConvexLogLossClassifier(), EnsembleSelectionClassifier(),
                DiscreteSuperLearnerClassifier()):
        fitted = clone(est).fit(frame, y)
        assert list(fitted.weights_) == ["lr", "lr_1"]


@pytest.mark.parametrize("est", CLASSIFIERS, ids=repr)
def test_classifiers_refuse_what_is_not_probabilities(est):
    multiclass = get_tags(est).classifier_tags.multi_class
    X, y = _proba_blocks(n=60, L=2, K=3 if multiclass else 2)
    with pytest.raises(ValueError, match="Negative values"):
        clone(est).fit(X - 0.5, y)
    with pytest.raises(ValueError, match="above 1"):
        clone(est).fit(X * 2, y)
    with pytest.raises(ValueError, match="sum to"):
        clone(est).fit(X * 0.9, y)
    with pytest.raises(ValueError, match="probability columns per learner"):
        clone(est).fit(X[:, :-1], y)
    if multiclass:
        with pytest.raises(ValueError, match="binary"):
            clone(est).set_params(proba_columns="positive").fit(X[:, :2], y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clone(est).fit(X, np.zeros(60))
    with pytest.raises(ValueError, match="2 classes with positive"):
        clone(est).fit(X, y, sample_weight=(y == 1).astype(float))
    Xb, yb = _proba_blocks(n=60, L=2, K=2)
    fitted = clone(est).fit(Xb, yb)
    with pytest.raises(ValueError, match="sum to"):
        fitted.predict_proba(Xb * 0.5)  # checked at predict time too


@pytest.mark.parametrize("est", ALL, ids=repr)
def test_clone_get_params_pickle(est):
    X, y = _data_for(est)
    params = est.get_params()
    other = clone(est)
    assert other.get_params() == params and other is not est
    fitted = clone(est).fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    method = "predict_proba" if is_classifier(est) else "predict"
    assert np.array_equal(getattr(again, method)(X),
                          getattr(fitted, method)(X))
    assert again.weights_ == fitted.weights_


@pytest.mark.parametrize("est", CLASSIFIERS, ids=repr)
def test_classifiers_with_string_labels(est):
    X, y = _proba_blocks(n=80, L=3, K=2, seed=3)
    labels = np.array(["no", "yes"])
    a = clone(est).fit(X, labels[y])
    b = clone(est).fit(X, y)
    assert list(a.classes_) == ["no", "yes"]
    assert np.array_equal(a.coef_, b.coef_)
    assert np.array_equal(a.predict(X), labels[b.predict(X)])


###############################################################################
# In a SuperLearner

def _meta(ens):
    return ens.final_estimator_


def _cvp(est, X, y, method):
    p = cross_val_predict(clone(est), X, y, cv=KFold(3), method=method)
    return p.reshape(len(p), -1)


# named learners, listed in the order of the layer's columns (by name)
BASE_REG = [("ols", LinearRegression()), ("ridge", Ridge(alpha=3.0)),
            ("tree", DecisionTreeRegressor(max_depth=3, random_state=0))]


@pytest.mark.parametrize("meta", REGRESSORS, ids=repr)
def test_superlearner_regression_end_to_end(meta):
    X, y = make_regression(90, 5, n_informative=4, noise=10.0, random_state=0)
    X_new = make_regression(15, 5, random_state=1)[0]
    ens = SuperLearner(folds=3, backend="sequential", n_jobs=1)
    # added, and named, in another order than the columns': matched by name
    ens.add(BASE_REG[::-1]).add_meta(clone(meta).set_params(
        names=["tree", "ridge", "ols"]))
    ens.fit(X, y)
    C = np.hstack([_cvp(e, X, y, "predict") for _, e in BASE_REG])
    assert np.array_equal(ens.oof_predictions_["layer-1"], C)
    ref = clone(meta).set_params(names=["ols", "ridge", "tree"]).fit(C, y)
    assert _meta(ens).weights_ == ref.weights_
    assert list(_meta(ens).weights_) == ["ols", "ridge", "tree"]
    T = np.hstack([clone(e).fit(X, y).predict(X_new)[:, None]
                   for _, e in BASE_REG])
    np.testing.assert_array_equal(ens.predict(X_new), ref.predict(T))


BASE_CLF = [("lr", LogisticRegression()), ("nb", GaussianNB()),
            ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]


@pytest.mark.parametrize("meta", CLASSIFIERS, ids=repr)
def test_superlearner_proba_layer_end_to_end(meta):
    """A proba=True layer hands add_meta learner-major, class-minor blocks;
    the meta learner in the ensemble is the one fitted on them by hand."""
    binary = isinstance(meta, ConvexAUCClassifier)
    X, y = make_classification(120, 6, n_informative=4, n_redundant=0,
                               n_classes=2 if binary else 3, random_state=0)
    labels = np.array(["ant", "bee", "cat"])[:len(np.unique(y))]
    X_new = make_classification(20, 6, random_state=1)[0]
    ens = SuperLearner(folds=3, backend="sequential", n_jobs=1)
    ens.add(BASE_CLF[::-1], proba=True).add_meta(clone(meta).set_params(
        names=["tree", "nb", "lr"]))
    ens.fit(X, labels[y])
    K = len(labels)
    C = np.hstack([_cvp(e, X, y, "predict_proba") for _, e in BASE_CLF])
    P = ens.oof_predictions_["layer-1"]
    assert P.shape == (120, 3 * K)
    assert np.array_equal(P, C)  # columns: lr's K classes, nb's, tree's
    ref = clone(meta).set_params(names=["lr", "nb", "tree"]).fit(C, y)
    assert _meta(ens).weights_ == ref.weights_
    assert np.array_equal(_meta(ens).classes_, labels)  # the user's labels
    T = np.hstack([clone(e).fit(X, y).predict_proba(X_new)
                   for _, e in BASE_CLF])
    np.testing.assert_array_equal(ens.predict_proba(X_new),
                                  ref.predict_proba(T))
    np.testing.assert_array_equal(ens.predict(X_new), labels[ref.predict(T)])


def test_meta_names_that_are_not_the_learners_are_refused():
    """Names the layer's columns cannot be matched to (another learner, one
    too few) are refused, not put on the weights by position."""
    from mlcore.exceptions import LayerSpecificationError
    X, y = make_regression(60, 4, random_state=0)
    for names in (["ols", "ridge", "forest"], ["ols", "ridge"],
                  ["ols", "ols", "tree"]):
        ens = SuperLearner(folds=3, backend="sequential", n_jobs=1)
        ens.add(BASE_REG).add_meta(NNLSRegressor(names=names))
        with pytest.raises(LayerSpecificationError,
                           match=r"columns are, in order, \['ols', 'ridge', "
                                 r"'tree'\]"):
            ens.fit(X, y)


def test_superlearner_without_proba_is_refused_by_probability_metas():
    X, y = make_classification(60, 4, random_state=0)
    ens = SuperLearner(folds=2, backend="sequential", n_jobs=1)
    ens.add([LogisticRegression(), GaussianNB()])  # labels, not probabilities
    ens.add_meta(ConvexLogLossClassifier())
    with pytest.raises(ValueError, match="proba=True"):
        ens.fit(X, y)


###############################################################################
# scikit-learn's estimator checks

_NOT_PROBABILITIES = (
    "the check fits on arbitrary features (negative values, values above 1, "
    "blocks whose rows do not sum to 1, or a column count that is not a "
    "multiple of the number of classes); these estimators read class "
    "probabilities and refuse such X with a ValueError that says why. The "
    "same check runs in test_sklearn_checks_on_probabilities, behind a stage "
    "that turns the features into probabilities")
_CLASSIFIER_XFAILS = [
    "check_classifier_data_not_an_array", "check_classifiers_classes",
    "check_classifiers_train", "check_dict_unchanged",
    "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_dtypes", "check_estimators_fit_returns_self",
    "check_estimators_nan_inf", "check_estimators_overwrite_params",
    "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_fit2d_1feature", "check_fit2d_predict1d",
    "check_fit_check_is_fitted", "check_fit_idempotent",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_pipeline_consistency",
    "check_readonly_memmap_input",
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weights_list", "check_sample_weights_not_an_array",
    "check_sample_weights_not_overwritten",
    "check_sample_weights_pandas_series",
    "check_sample_weights_shape", "check_supervised_y_2d",
]


def _expected_failed_checks(est):
    if not is_classifier(est):
        return {}
    out = dict.fromkeys(_CLASSIFIER_XFAILS, _NOT_PROBABILITIES)
    if hasattr(est, "max_iter"):
        out["check_non_transformer_estimators_n_iter"] = _NOT_PROBABILITIES
    return out


_CHECKED = [
    NNLSRegressor(), NNLSRegressor(convex="rescale"),
    NNLSRegressor(convex="constrained", fit_intercept=True),
    EnsembleSelectionRegressor(),
    EnsembleSelectionRegressor(init_size=1, n_bags=3, random_state=0),
    DiscreteSuperLearnerRegressor(), ConvexLogLossClassifier(),
    ConvexAUCClassifier(), EnsembleSelectionClassifier(),
    DiscreteSuperLearnerClassifier(),
]


@parametrize_with_checks(_CHECKED,
                         expected_failed_checks=_expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        # the checks' random targets leave every NNLS weight at 0 at times:
        # convex="rescale" then warns that it falls back
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        check(estimator)


class _OnProbabilities(ClassifierMixin, BaseEstimator):
    """Base learners for the estimator checks: learner j turns the first
    j+1 features into class probabilities (a Gaussian kernel on the
    distance to each class mean); the meta learner combines them. Lets
    scikit-learn's classifier checks run on valid probabilities."""

    def __init__(self, meta=None):
        self.meta = meta

    def _probas(self, X):
        blocks = []
        for j in range(X.shape[1]):
            d = ((X[:, None, :j + 1] - self.means_[None, :, :j + 1]) ** 2
                 ).sum(axis=2) / self.scale_
            e = np.exp(-(d - d.min(axis=1, keepdims=True)))
            blocks.append(e / e.sum(axis=1, keepdims=True))
        return np.hstack(blocks)

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        # weighted, so that weights and repeated rows give the same blocks
        w = _check_sample_weight(sample_weight, X)
        self.means_ = np.array([
            np.average(X[y_enc == k], axis=0, weights=w[y_enc == k])
            if w[y_enc == k].sum() > 0 else X[y_enc == k].mean(axis=0)
            for k in range(len(self.classes_))])
        var = np.average((X - np.average(X, axis=0, weights=w)) ** 2, axis=0,
                         weights=w)
        self.scale_ = max(float(var.sum()), 1e-12)
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        self.meta_ = clone(self.meta).fit(self._probas(X), y, **kw)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.meta_.predict_proba(self._probas(X))

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.meta_.predict(self._probas(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = \
            get_tags(self.meta).classifier_tags.multi_class
        return tags


@parametrize_with_checks([_OnProbabilities(clone(e)) for e in _CHECKED
                          if is_classifier(e)], xfail_strict=True)
def test_sklearn_checks_on_probabilities(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check(estimator)
