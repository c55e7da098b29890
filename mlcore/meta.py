"""Meta learners of the Super Learner literature.

scikit-learn estimators that combine the out-of-fold predictions of base
learners, for :meth:`~mlcore.ensemble.SuperLearner.add_meta` or any other
stacking tool:

* :class:`NNLSRegressor`: non-negative least squares, optionally a convex
  combination (R ``SuperLearner``'s ``method.NNLS`` and ``method.CC_LS``);
* :class:`ConvexLogLossClassifier`: the convex combination of class
  probabilities with the smallest log-loss (``method.CC_nloglik``);
* :class:`ConvexAUCClassifier`: the convex combination of positive-class
  probabilities with the largest AUC, for binary targets (``method.AUC``);
* :class:`EnsembleSelectionRegressor`, :class:`EnsembleSelectionClassifier`:
  Caruana et al.'s greedy forward selection with replacement, with optional
  sorted initialisation and bagging;
* :class:`DiscreteSuperLearnerRegressor`,
  :class:`DiscreteSuperLearnerClassifier`: the single learner with the best
  cross-validated risk.

The eight estimators share their input reading, metrics and weight
reporting, so they stay in one module (about a third of it docstrings).

Input layout
------------
Each column of ``X`` (regressors) or each block of columns (classifiers)
holds one base learner's predictions, learners one after another:

* regressors read one column per learner;
* classifiers read one block of ``K`` columns per learner, ``K`` being the
  number of classes in ``y``: columns ``j*K`` to ``j*K + K - 1`` are learner
  ``j``'s probabilities of the classes in the order of ``classes_``. This is
  what a layer added with ``proba=True`` passes to ``add_meta`` (learner by
  learner, then class by class). With ``proba_columns="positive"`` a binary
  classifier reads one column per learner instead, the probability of
  ``classes_[1]`` (what scikit-learn's ``StackingClassifier`` passes for
  binary targets). Values must be probabilities: in [0, 1], each block's rows
  summing to 1; anything else is refused with a ValueError.

In a Subsemble, every (learner, partition) pair is one learner here. The
input must hold predictions only: do not propagate raw features into the
layer these estimators read.

Weights
-------
After ``fit``, ``weights_`` is a dict ``{learner name: weight}`` in learner
order and ``coef_`` the same weights as an array. Names come from the
``names`` parameter, else from ``feature_names_in_`` (a DataFrame's columns:
for classifiers, the learner of a block named ``<learner>_<class label>``
for each class in order, as a layer's ``get_feature_names_out`` names them,
``"lr"`` for ``"lr_0", "lr_1"``, else the block's first column name), else
the learner's position 0, 1, ... As the meta learner of an mlcore ensemble
(``add_meta``), given ``names`` are matched to the learners of the layer
before it by name, in any order (that layer's columns are in the order of
the learners' names), and names that are not those learners are refused;
without ``names``, :func:`mlcore.inspection.meta_weights` names the
weights. A dict, not a pandas Series, so that the type does not
depend on whether pandas is installed; ``pandas.Series(est.weights_)`` makes
one.
"""
import itertools
import math
import numbers
import warnings

import numpy as np
from scipy.optimize import minimize, nnls

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import (_check_sample_weight,
                                          check_is_fitted, validate_data)
except ImportError as exc:  # pragma: no cover
    raise ImportError("mlcore.meta needs scikit-learn: pip install "
                      "'mlcore[sklearn]'") from exc

__all__ = ["NNLSRegressor", "ConvexLogLossClassifier", "ConvexAUCClassifier",
           "EnsembleSelectionRegressor", "EnsembleSelectionClassifier",
           "DiscreteSuperLearnerRegressor", "DiscreteSuperLearnerClassifier"]

_EPS = np.finfo(np.float64).eps
# Probabilities computed in float32 (a layer's dtype may be float32) are off
# by a few float32 ulps; anything beyond these bounds is not a probability.
_RANGE_TOL = 1e-6
_SUM_TOL = 1e-5
# Candidate predictions evaluated at once are chunked to this many values.
_CHUNK = 1 << 22


###############################################################################
# Solvers

def _nnls(A, b):
    """scipy's NNLS, retried with more iterations before giving up."""
    try:
        return nnls(A, b)[0]
    except RuntimeError:
        try:
            return nnls(A, b, maxiter=100 * max(A.shape[1], 1))[0]
        except RuntimeError:
            raise RuntimeError(
                "non-negative least squares did not converge on a %d x %d "
                "problem; check the input for near-duplicate or huge columns"
                % A.shape) from None


def _simplex_lstsq(A, b):
    """argmin ||b - A w|| over the simplex (w >= 0, sum(w) = 1), exactly.

    On the simplex ``b - A w = D w`` with ``D = b 1' - A``, so this is the
    point of smallest norm in the convex hull of D's columns. With
    ``u >= 0`` and ``s = sum(u)``, ``||D u||^2 + (s - 1)^2`` equals
    ``s^2 ||D w||^2 + (s - 1)^2`` for ``w = u / s``: its minimiser has
    ``w`` the minimum-norm weights and ``s = 1 / (1 + ||D w||^2) > 0``. That
    is one NNLS problem, solved by scipy's active-set method.
    """
    n, L = A.shape
    if L == 1:
        return np.ones(1)
    D = b[:, None] - A
    scale = np.abs(D).max()
    if scale > 0:  # the minimiser does not depend on the scale of D
        D = D / scale
    E = np.vstack([D, np.ones((1, L))])
    f = np.zeros(n + 1)
    f[-1] = 1.0
    u = _nnls(E, f)
    return u / u.sum()


def _convex_loglik(A, s, tol, max_iter):
    """Weights on the simplex maximising ``sum_i s_i log(A[i] @ w)``.

    ``A[i, j]`` is learner j's probability of row i's true class. Projected
    Newton: the quadratic model of the objective over the simplex is a
    simplex-constrained least-squares problem, solved exactly by
    :func:`_simplex_lstsq`; a backtracking line search on the segment keeps
    every iterate feasible. Stops when the Frank-Wolfe duality gap, an upper
    bound on the distance to the optimum, is below ``tol`` per unit of
    sample weight. Returns (w, iterations, converged).
    """
    keep = s > 0
    # Rows where every learner gives the true class probability 0 add the
    # same (infinite) loss to every weighting: they cannot change the argmin.
    keep &= A.max(axis=1) > 0
    A, s = A[keep], s[keep]
    L = A.shape[1]
    w = np.full(L, 1.0 / L)
    if A.shape[0] == 0 or L == 1:
        return w, 0, True
    total = s.sum()
    root = np.sqrt(s)

    def objective(v):
        p = A @ v
        if np.any(p <= 0):
            return np.inf
        return -float(s @ np.log(p))

    f = objective(w)
    for it in range(max_iter):
        p = A @ w
        g = -(A.T @ (s / p))
        if w @ g - g.min() <= tol * total:
            return w, it, True
        v = _simplex_lstsq(A * (root / p)[:, None], 2.0 * root)
        d = v - w
        slope = float(g @ d)
        if not slope < 0:  # rounding: fall back to the Frank-Wolfe vertex
            d = -w.copy()
            d[np.argmin(g)] += 1.0
            slope = float(g @ d)
        # Near the optimum the decrease is below the rounding of f: allow
        # for that, or the last Newton steps would be refused.
        slack = 8 * _EPS * abs(f)
        t = 1.0
        while True:
            w_new = w + t * d
            f_new = objective(w_new)
            if f_new <= f + 1e-4 * t * slope + slack:
                break
            t *= 0.5
            if t < 1e-14:
                return w, it, False
        w = np.clip(w_new, 0.0, None)
        w /= w.sum()
        f = objective(w)
    p = A @ w
    g = -(A.T @ (s / p))
    return w, max_iter, bool(w @ g - g.min() <= tol * total)


def _auc_columns(y, S, sw=None):
    """AUC of each column of the scores ``S`` (n, m) for binary ``y`` (0/1),
    with sample weights; tied scores count one half, as in
    ``sklearn.metrics.roc_auc_score``.

    Per column: sort the negatives, then find each positive's place among
    them; a positive scores the weight of the negatives below it plus half
    of those tied with it.
    """
    w = np.ones(len(y)) if sw is None else sw
    pos = y == 1
    wp, wn = w[pos], w[~pos]
    Sp = np.ascontiguousarray(S[pos].T)  # one contiguous row per column
    Sn = np.ascontiguousarray(S[~pos].T)
    out = np.empty(S.shape[1])
    for c in range(S.shape[1]):
        order = np.argsort(Sn[c])
        neg = Sn[c][order]
        cum = np.concatenate([[0.0], np.cumsum(wn[order])])
        p = Sp[c]
        lo = cum[np.searchsorted(neg, p, "left")]
        hi = cum[np.searchsorted(neg, p, "right")]
        out[c] = wp @ (lo + 0.5 * (hi - lo))
    return out / (wp.sum() * wn.sum())


# Decimals to which combined scores are rounded before they are ranked.
_TIE_DECIMALS = 12


def _tie_round(S):
    """Scores ``S`` rounded to ``_TIE_DECIMALS`` decimals, so that
    combinations equal but for rounding noise tie when ranked."""
    return np.round(S, _TIE_DECIMALS)


def _check_both_classes(y, sw, est):
    """Refuse a binary ``y`` (positions 0 and 1) without rows of both
    classes of positive weight: an AUC is not defined then (``y`` may lack
    a class when the classes are given)."""
    if np.count_nonzero(np.bincount(y, weights=sw, minlength=2)) < 2:
        raise ValueError("%s: the AUC needs samples of both classes (with "
                         "positive sample_weight) in y" % type(est).__name__)


def _simplex_grid(L, m):
    """Every weight vector with entries in {0, 1/m, ..., 1} summing to 1,
    the most even first."""
    rows = []
    for bars in itertools.combinations(range(m + L - 1), L - 1):
        edges = np.r_[-1, bars, m + L - 1]
        rows.append(np.diff(edges) - 1)
    W = np.asarray(rows, dtype=np.float64) / m
    spread = ((W - 1.0 / L) ** 2).sum(axis=1)
    return W[np.argsort(spread, kind="stable")]


def _grid_steps(L, max_points):
    """The finest grid step 1/m whose simplex grid has at most
    ``max_points`` points (at least the vertices)."""
    if L == 1:
        return 1
    m = 1
    while math.comb(m + L, L - 1) <= max_points:
        m += 1
    return m


###############################################################################
# Metrics evaluated on many candidate predictions at once

class _Metric(object):
    """A named metric and the candidate combinations it scores.

    ``losses(y, base, count, preds, sw)`` scores every candidate
    ``(base + preds[:, j]) / (count + 1)`` (the ensemble ``base / count``
    with learner j added once more), lower is better. Built-in metrics are
    vectorised over candidates rather than calling scikit-learn's metric
    once per candidate, whose input validation dominates greedy selection
    (learners x steps x bags calls). Measured for 50 steps over 10 learners,
    log-loss, same weights: 1,000 rows 0.015 s against 2.9 s for a loop over
    ``sklearn.metrics.log_loss``; 20,000 rows 0.33 s against 5.0 s.
    """

    REGRESSION = {"mse": False, "mae": False}
    CLASSIFICATION = {"log_loss": False, "accuracy": True, "brier": False,
                      "auc": True}

    def __init__(self, metric, greater_is_better, classification, n_classes,
                 classes=None):
        known = self.CLASSIFICATION if classification else self.REGRESSION
        if isinstance(metric, str):
            if metric not in known:
                raise ValueError("unknown metric %r; use one of %s or a "
                                 "callable" % (metric, sorted(known)))
            if greater_is_better is not None and \
                    bool(greater_is_better) != known[metric]:
                raise ValueError("greater_is_better=%r contradicts metric %r"
                                 % (greater_is_better, metric))
            if metric == "auc" and n_classes != 2:
                raise ValueError("metric 'auc' is for binary targets; y has "
                                 "%d classes" % n_classes)
            self.greater = known[metric]
        elif callable(metric):
            if greater_is_better is None:
                raise ValueError(
                    "with a callable metric, say which way is better: "
                    "greater_is_better=True for a score such as "
                    "accuracy_score, False for a loss such as log_loss")
            self.greater = bool(greater_is_better)
        else:
            raise ValueError("metric must be a string or a callable, got %r"
                             % (metric,))
        self.metric = metric
        self.classification = classification
        self.classes = classes

    def losses(self, y, base, count, preds, sw):
        m = preds.shape[1]
        per = int(np.prod(preds.shape[::2]))  # values per candidate
        step = max(1, _CHUNK // max(per, 1))
        out = np.empty(m)
        for lo in range(0, m, step):
            out[lo:lo + step] = self._chunk(y, base, count,
                                            preds[:, lo:lo + step], sw)
        return -out if self.greater else out

    def _chunk(self, y, base, count, preds, sw):
        n = preds.shape[0]
        metric = self.metric
        if metric == "log_loss":
            rows = np.arange(n)
            true = (base[rows, y][:, None] + preds[rows, :, y]) / (count + 1)
            return np.average(-np.log(np.clip(true, _EPS, 1 - _EPS)), axis=0,
                              weights=sw)
        cand = (base[:, None] + preds) / (count + 1)
        if metric == "mse":
            return np.average((cand - y[:, None]) ** 2, axis=0, weights=sw)
        if metric == "mae":
            return np.average(np.abs(cand - y[:, None]), axis=0, weights=sw)
        if metric == "accuracy":
            return np.average(cand.argmax(axis=2) == y[:, None], axis=0,
                              weights=sw)
        if metric == "brier":
            K = cand.shape[2]
            onehot = np.eye(K)[y]
            sq = ((cand - onehot[:, None, :]) ** 2).sum(axis=2)
            if K == 2:  # as sklearn.metrics.brier_score_loss for binary y
                sq = sq / 2.0
            return np.average(sq, axis=0, weights=sw)
        if metric == "auc":
            return _auc_columns(y, _tie_round(cand[:, :, 1]), sw)
        # a user callable, one candidate at a time
        kw = {} if sw is None else {"sample_weight": sw}
        y_true = y if self.classes is None else self.classes[y]
        return np.array([float(metric(y_true, cand[:, j], **kw))
                         for j in range(cand.shape[1])])


###############################################################################
# Shared machinery

def _learner_of(block, labels):
    """The learner name of a block of columns named ``<learner>_<class>``,
    one per class of ``labels`` in order (as a layer's
    ``get_feature_names_out`` names them), else None. Read from the class
    labels, not from a common prefix, which cuts into labels that share
    their first characters (``lr_10``, ``lr_11``)."""
    stems = set()
    for column, label in zip(block, labels):
        suffix = "_" + label
        if not column.endswith(suffix) or column == suffix:
            return None
        stems.add(column[:-len(suffix)])
    return stems.pop() if len(stems) == 1 else None


def _block_names(columns, n_learners, width, classes=None):
    """One name per learner from the input's column names."""
    columns = [str(c) for c in columns]
    if width == 1:
        return columns
    blocks = [columns[j * width:(j + 1) * width] for j in range(n_learners)]
    if classes is not None and len(classes) == width:
        labels = [str(getattr(c, "item", lambda: c)()) for c in classes]
        names = [_learner_of(b, labels) for b in blocks]
        if all(names) and len(set(names)) == len(names):
            return names
    return [b[0] for b in blocks]


class _MetaLearner(BaseEstimator):
    """Names, sample weights and the named weights of every meta learner."""

    def _keep_params(self, params):
        """Store the ``__init__`` arguments in ``params`` (its ``locals()``)
        as they are, as scikit-learn's ``get_params``/``clone`` expect."""
        for name, value in params.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    def _learner_names(self, n_learners, width, classes=None):
        if self.names is not None:
            names = list(self.names)
            if len(names) != n_learners:
                raise ValueError(
                    "names has %d entries, but X holds %d learners (%d "
                    "column(s) per learner)" % (len(names), n_learners, width))
            if len(set(names)) != len(names):
                raise ValueError("names must be unique, got %r" % (names,))
            return names
        columns = getattr(self, "feature_names_in_", None)
        if columns is not None:
            return _block_names(columns, n_learners, width, classes)
        return list(range(n_learners))

    def _set_weights(self, w, names):
        self.coef_ = np.asarray(w, dtype=np.float64)
        self.weights_ = dict(zip(names, self.coef_.tolist()))

    def _check_target(self, y):
        """Refuse a multi-output ``y`` before scikit-learn's validation,
        saying why: every meta learner here weighs the learners' predictions
        of one target."""
        try:
            shape = np.asarray(y).shape  # (not np.shape: array-likes)
        except (TypeError, ValueError):
            return  # scikit-learn's validation says what is wrong
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise ValueError(
                "%s combines the learners' predictions of one target: y must "
                "be 1-D, got shape %s (a multi-output y). Use a meta learner "
                "that fits a 2-D y (e.g. sklearn.linear_model.LinearRegression"
                ") for several outputs." % (type(self).__name__, shape))

    @staticmethod
    def _sample_weight(sample_weight, X):
        """None (unweighted) or validated non-negative weights that do not
        sum to zero."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=np.float64,
                                    ensure_non_negative=True)


class _RegressorBase(RegressorMixin, _MetaLearner):
    """One column per learner; the prediction is ``X @ coef_ +
    intercept_``."""

    def _fit_input(self, X, y, sample_weight):
        self._check_target(y)
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        sw = self._sample_weight(sample_weight, X)
        names = self._learner_names(X.shape[1], 1)
        return X, y.astype(np.float64), sw, names

    def predict(self, X):
        """The weighted combination of the learners' predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_learners)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + getattr(self, "intercept_", 0.0)


_PROBA_COLUMNS = ("all", "positive")


class _ClassifierBase(ClassifierMixin, _MetaLearner):
    """Blocks of class probabilities, one per learner; the prediction is the
    weighted sum of the blocks."""

    def _width(self, n_classes):
        if self.proba_columns not in _PROBA_COLUMNS:
            raise ValueError("proba_columns must be one of %s, got %r"
                             % (_PROBA_COLUMNS, self.proba_columns))
        if self.proba_columns == "positive":
            if n_classes != 2:
                raise ValueError(
                    "proba_columns='positive' (one column per learner) is for "
                    "binary targets; y has %d classes" % n_classes)
            return 1
        return n_classes

    def _blocks(self, X, n_classes):
        """(n, learners, classes) probabilities from validated ``X``."""
        width = self._width(n_classes)
        n, d = X.shape
        name = type(self).__name__
        if X.min() < -_RANGE_TOL:
            raise ValueError(
                "Negative values in data passed to %s: X must hold class "
                "probabilities (a layer added with proba=True)" % name)
        if X.max() > 1 + _RANGE_TOL:
            raise ValueError(
                "X holds values above 1 (max %r), but %s reads class "
                "probabilities (a layer added with proba=True)"
                % (float(X.max()), name))
        if d % width:
            raise ValueError(
                "%s reads %d probability columns per learner (one per class), "
                "but X has %d columns (n_features=%d): pass the learners' "
                "class probabilities side by side (a layer added with "
                "proba=True)" % (name, width, d, d))
        B = np.clip(X, 0.0, 1.0).reshape(n, d // width, width)
        if width == 1:
            return np.concatenate([1.0 - B, B], axis=2)
        err = np.abs(B.sum(axis=2) - 1.0)
        if err.size and err.max() > _SUM_TOL:
            i, j = np.unravel_index(np.argmax(err), err.shape)
            raise ValueError(
                "the probabilities of learner %d (columns %d to %d) sum to %r "
                "in row %d, not 1: X must hold each learner's probabilities "
                "of all %d classes (a layer added with proba=True)"
                % (j, j * width, (j + 1) * width - 1, float(B[i, j].sum()), i,
                   width))
        return B

    def _fit_input(self, X, y, sample_weight):
        self._check_target(y)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, y_enc = self._encode(y)
        if len(classes) > 2 and not self.__sklearn_tags__(
                ).classifier_tags.multi_class:
            raise ValueError(
                "Only binary classification is supported by %s with these "
                "parameters (the AUC is a binary metric); y has %d classes"
                % (type(self).__name__, len(classes)))
        sw = self._sample_weight(sample_weight, X)
        if self.classes is None and sw is not None and np.count_nonzero(
                np.bincount(y_enc, weights=sw)) < 2:
            raise ValueError(
                "%s needs samples of at least 2 classes with positive "
                "sample_weight" % type(self).__name__)
        if self.classes is None:
            self._check_width(X, classes)
        B = self._blocks(X, len(classes))
        names = self._learner_names(B.shape[1], self._width(len(classes)),
                                    classes)
        self.classes_ = classes
        return B, y_enc, sw, names

    def _encode(self, y):
        """(classes, positions of ``y`` in them): the ``classes`` parameter
        when set (y may lack some of them), else the classes of ``y``."""
        name = type(self).__name__
        if self.classes is None:
            classes, y_enc = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    "%s needs samples of at least 2 classes in y; got 1 "
                    "class: %r (if y may lack classes, as a cross-validation "
                    "fold may, set classes)" % (name, classes[0]))
            return classes, y_enc
        classes = np.asarray(self.classes)
        if classes.ndim != 1 or len(classes) < 2:
            raise ValueError("%s: classes must be a 1-D sequence of at least "
                             "2 labels, got %r" % (name, self.classes))
        order = np.argsort(classes, kind="stable")
        ranked = classes[order]
        if (ranked[1:] == ranked[:-1]).any():
            raise ValueError("%s: classes must be unique, got %r"
                             % (name, self.classes))
        try:
            pos = np.minimum(np.searchsorted(ranked, y), len(ranked) - 1)
            known = ranked[pos] == y
        except TypeError:  # labels that do not compare with the classes
            known = np.zeros(len(y), dtype=bool)
        if not np.all(known):
            raise ValueError("%s: y holds labels that are not in classes "
                             "%r: %r" % (name, classes.tolist(),
                                         sorted(set(np.asarray(y)[~known]
                                                    .tolist()))[:5]))
        return classes, order[pos]

    def _check_width(self, X, classes):
        """Refuse, saying why, input whose rows hold the probabilities of
        more classes than ``y`` has (the rows' sums tell the number of
        learners): its ``y`` lacks some classes, and without the
        ``classes`` parameter the columns cannot be matched to labels."""
        if self.proba_columns != "all" or not X.size:
            return
        totals = X.sum(axis=1)
        learners = int(round(float(totals.mean())))
        if learners < 1 or X.shape[1] % learners or np.abs(
                totals - learners).max() > _SUM_TOL * learners:
            return  # not probability blocks: _blocks says what is wrong
        width = X.shape[1] // learners
        if width > len(classes):
            raise ValueError(
                "%s: X holds the probabilities of %d classes per learner (%d "
                "learners), but y has only %d classes (%r): y lacks some "
                "classes, as a cross-validation fold of a rare class may. "
                "Set classes to every class label, in the order of the "
                "columns (the mlcore ensembles set it for their layers)."
                % (type(self).__name__, width, learners, len(classes),
                   classes.tolist()))

    def predict_proba(self, X):
        """The weighted combination of the learners' class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_learners * n_classes)
            (or (n_samples, n_learners) with ``proba_columns="positive"``)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), columns in the order of
        ``classes_``
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._weighted(self._blocks(X, len(self.classes_)))

    def _weighted(self, B):
        """The weighted sum of the blocks ``B`` (n, learners, classes)."""
        return np.einsum("nlk,l->nk", B, self.coef_)

    def predict(self, X):
        """The class of highest combined probability."""
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags


###############################################################################
# Non-negative least squares

_CONVEX = (False, "rescale", "constrained")


class NNLSRegressor(_RegressorBase):
    """Non-negative least-squares combination of regression predictions.

    The weights minimise ``sum_i s_i (y_i - b - x_i @ w)^2`` over ``w >= 0``
    (``s``: sample weights; ``b``: the intercept, 0 unless
    ``fit_intercept``), with an optional sum-to-one constraint.

    Parameters
    ----------
    convex : {False, "rescale", "constrained"}, default=False
        False: the non-negative least-squares weights. ``"rescale"``: those
        weights divided by their sum, as R SuperLearner's ``method.NNLS``
        (when every weight is 0 the sum is undefined; the constrained
        solution is used, with a warning). ``"constrained"``: the
        least-squares weights over the simplex (``w >= 0``, ``sum(w) = 1``;
        R's ``method.CC_LS``), solved exactly.
    fit_intercept : bool, default=False
        Fit an unconstrained intercept (off, as in R's ``method.NNLS``).
    names : sequence of str, optional
        Learner names for ``weights_`` (one per column).

    Attributes
    ----------
    coef_ : ndarray of shape (n_learners,)
    intercept_ : float
    weights_ : dict
        ``{learner name: weight}``.
    n_features_in_, feature_names_in_
        As in scikit-learn.
    """

    def __init__(self, convex=False, fit_intercept=False, names=None):
        self._keep_params(locals())

    def fit(self, X, y, sample_weight=None):
        """Fit the weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_learners)
            The learners' (out-of-fold) predictions, one column each.
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        if not any(self.convex is c or (isinstance(self.convex, str) and
                                        self.convex == c) for c in _CONVEX):
            raise ValueError("convex must be False, 'rescale' or "
                             "'constrained', got %r" % (self.convex,))
        X, y, sw, names = self._fit_input(X, y, sample_weight)
        if self.fit_intercept:
            x_mean = np.average(X, axis=0, weights=sw)
            y_mean = float(np.average(y, weights=sw))
            X, y = X - x_mean, y - y_mean
        if sw is not None:
            root = np.sqrt(sw)
            X, y = X * root[:, None], y * root
        if self.convex == "constrained":
            w = _simplex_lstsq(X, y)
        else:
            w = _nnls(X, y)
            if self.convex == "rescale":
                if w.sum() > 0:
                    w = w / w.sum()
                else:
                    warnings.warn(
                        "every non-negative least-squares weight is 0, so "
                        "they cannot be rescaled to sum to 1; using the "
                        "least-squares convex combination "
                        "(convex='constrained')",
                        UserWarning, stacklevel=2)
                    w = _simplex_lstsq(X, y)
        self._set_weights(w, names)
        self.intercept_ = (y_mean - float(x_mean @ self.coef_)
                           if self.fit_intercept else 0.0)
        return self


###############################################################################
# Convex combinations of class probabilities

class ConvexLogLossClassifier(_ClassifierBase):
    """The convex combination of class probabilities with the smallest
    log-loss.

    Finds weights ``w >= 0``, ``sum(w) = 1`` minimising the (sample-weighted)
    log-loss of ``sum_j w_j P_j``, ``P_j`` being learner j's block of class
    probabilities. The objective is convex; it is solved by projected Newton
    steps whose subproblems are solved exactly, to a certified accuracy
    (the duality gap bounds the distance to the optimal mean log-loss).

    Parameters
    ----------
    proba_columns : {"all", "positive"}, default="all"
        ``"all"``: one column per class per learner (the layout of a
        ``proba=True`` layer). ``"positive"``: binary targets only, one
        column per learner holding the probability of ``classes_[1]``.
    tol : float, default=1e-10
        Stop when the mean log-loss is provably within ``tol`` of its
        minimum.
    max_iter : int, default=100
        Newton steps at most (a ConvergenceWarning says when they ran out).
    names : sequence of str, optional
        Learner names for ``weights_``.
    classes : array-like, optional
        Every class label, in the order of each learner's probability
        columns (the sorted labels, as scikit-learn classifiers order
        them). Set it when ``y`` may lack some classes, as the training
        rows of a cross-validation fold of a rare class may: the input
        still holds a column per class. None: the classes of ``y``. The
        mlcore ensembles set it for the layers they fit.

    Attributes
    ----------
    classes_ : ndarray
    coef_ : ndarray of shape (n_learners,)
    weights_ : dict
    n_iter_ : int
    n_features_in_, feature_names_in_
    """

    def __init__(self, proba_columns="all", tol=1e-10, max_iter=100,
                 names=None, classes=None):
        self._keep_params(locals())

    def fit(self, X, y, sample_weight=None):
        """Fit the weights on the learners' (out-of-fold) probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_learners * n_classes)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        B, y_enc, sw, names = self._fit_input(X, y, sample_weight)
        n = B.shape[0]
        A = B[np.arange(n), :, y_enc]
        s = np.ones(n) if sw is None else sw
        w, self.n_iter_, converged = _convex_loglik(A, s, float(self.tol),
                                                    int(self.max_iter))
        if not converged:
            warnings.warn("%s did not reach tol=%g in %d Newton steps"
                          % (type(self).__name__, self.tol, self.max_iter),
                          ConvergenceWarning, stacklevel=2)
        self._set_weights(w, names)
        return self


class ConvexAUCClassifier(_ClassifierBase):
    """The convex combination of positive-class probabilities with the
    largest AUC (binary targets).

    The AUC of ``sum_j w_j p_j`` (``p_j``: learner j's probability of
    ``classes_[1]``) is a step function of the weights, so it is searched,
    not differentiated: every point of the simplex grid with step ``1/grid``
    is evaluated (rank-based, sample-weighted AUC, ties counting one half),
    then the best one is refined by Nelder-Mead, whose result is kept only
    if its AUC is strictly larger. Among weightings with equal AUC, the most
    even one (closest to equal weights) is kept. The result is the grid's
    optimum, refined locally: not a certified global maximum for more than
    a few learners.

    ``predict_proba`` returns the combined probabilities, which are ranked
    well but not calibrated. They are rounded to 12 decimals, as the fit
    ranks them: combinations that are equal but for rounding noise tie, so
    that ``auc_`` is the AUC of ``predict_proba``'s output.

    Parameters
    ----------
    proba_columns : {"all", "positive"}, default="all"
        See :class:`ConvexLogLossClassifier`.
    grid : int or None, default=None
        Grid steps per unit weight. None: the finest grid with at most
        ``max_grid_points`` points (1999 steps for 2 learners, 61 for 3,
        4 for 10; the vertices only, i.e. the best single learner, when
        nothing finer fits).
    max_grid_points : int, default=2000
    refine : bool, default=True
        Refine the best grid point with Nelder-Mead.
    classes : array-like, optional
        Every class label, for a ``y`` that may lack one (see
        :class:`ConvexLogLossClassifier`).
    names : sequence of str, optional

    Attributes
    ----------
    classes_, coef_, weights_, n_features_in_, feature_names_in_
    auc_ : float
        The (sample-weighted) AUC of the chosen weights on the training
        data: ``roc_auc_score(y, predict_proba(X)[:, 1])``.
    """

    def __init__(self, proba_columns="all", grid=None, max_grid_points=2000,
                 refine=True, names=None, classes=None):
        self._keep_params(locals())

    def fit(self, X, y, sample_weight=None):
        """Fit the weights on the learners' (out-of-fold) probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_learners * 2)
            (or (n_samples, n_learners) with ``proba_columns="positive"``)
        y : array-like of shape (n_samples,), two classes
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        B, y_enc, sw, names = self._fit_input(X, y, sample_weight)
        _check_both_classes(y_enc, sw, self)
        Q = B[:, :, 1]
        L = Q.shape[1]
        if self.grid is None:
            m = _grid_steps(L, int(self.max_grid_points))
        elif isinstance(self.grid, numbers.Integral) and self.grid >= 1:
            m = int(self.grid)
        else:
            raise ValueError("grid must be None or a positive int, got %r"
                             % (self.grid,))
        W = _simplex_grid(L, m)
        step = max(1, _CHUNK // max(Q.shape[0], 1))
        auc = np.concatenate([
            _auc_columns(y_enc, _tie_round(Q @ W[lo:lo + step].T), sw)
            for lo in range(0, len(W), step)])
        best = int(np.argmax(auc))
        w, best_auc = W[best], float(auc[best])
        if self.refine and L > 1:
            w, best_auc = self._nelder_mead(Q, y_enc, sw, w, best_auc, m)
        self._set_weights(w, names)
        # the AUC of what predict_proba gives, computed as it computes it
        self.auc_ = float(_auc_columns(y_enc, self._weighted(B)[:, 1:],
                                       sw)[0])
        return self

    def _weighted(self, B):
        # Equal probabilities combined in another order differ in their
        # last bits, which would break ties between rows by rounding noise:
        # the ranking (the AUC) is that of the rounded combination.
        return _tie_round(super()._weighted(B))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    @staticmethod
    def _nelder_mead(Q, y, sw, w0, auc0, m):
        def to_simplex(theta):
            a = np.abs(theta)
            total = a.sum()
            return a / total if total > 0 else None

        def loss(theta):
            v = to_simplex(theta)
            if v is None:
                return 0.0
            return -float(_auc_columns(y, _tie_round(Q @ v)[:, None],
                                       sw)[0])

        L = len(w0)
        simplex = np.vstack([w0] + [w0 + np.eye(L)[i] / m for i in range(L)])
        res = minimize(loss, w0, method="Nelder-Mead",
                       options={"initial_simplex": simplex,
                                "maxiter": 200 * L, "xatol": 1e-6,
                                "fatol": 1e-12})
        v = to_simplex(res.x)
        if v is not None:
            auc = -loss(res.x)
            if auc > auc0 + 1e-12:
                return v, auc
        return w0, auc0


###############################################################################
# Caruana's ensemble selection

def _greedy(metric, y, preds, sw, members, n_iter, init_size, best_prefix):
    """One run of forward selection with replacement among ``members``.

    Returns the learner indices picked, in order (the best prefix when
    ``best_prefix``).
    """
    base = np.zeros(preds.shape[:1] + preds.shape[2:])
    count = 0
    path, trace = [], []
    sub = preds[:, members]  # one copy, not one per step
    if init_size:
        single = metric.losses(y, base, 0, sub, sw)
        for j in members[np.argsort(single, kind="stable")[:init_size]]:
            base = base + preds[:, j]
            count += 1
            path.append(int(j))
        # the initial ensemble's own loss: its average plus nothing
        zero = np.zeros_like(preds[:, :1])
        trace.append(float(metric.losses(y, base / count, 0, zero, sw)[0]))
    for _ in range(n_iter):
        losses = metric.losses(y, base, count, sub, sw)
        k = int(np.argmin(losses))
        j = int(members[k])
        base = base + preds[:, j]
        count += 1
        path.append(j)
        trace.append(float(losses[k]))
    if best_prefix and trace:
        offset = len(path) - len(trace)  # the init ensemble is one entry
        path = path[:offset + int(np.argmin(trace)) + 1]
    return path


class _MetricCombiner(object):
    """The fit shared by the metric-driven combiners (ensemble selection and
    the discrete Super Learner): read the learners' predictions, then
    ``_combine`` them under ``metric``."""

    def fit(self, X, y, sample_weight=None):
        """Fit on the learners' (out-of-fold) predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_learners)
            The learners' predictions; for the classifiers, their class
            probabilities, of shape (n_samples, n_learners * n_classes).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        preds, y_fit, sw, names = self._fit_input(X, y, sample_weight)
        if isinstance(self, ClassifierMixin):
            if isinstance(self.metric, str) and self.metric == "auc":
                _check_both_classes(y_fit, sw, self)
            self._combine(y_fit, preds, sw, names, True, len(self.classes_),
                          self.classes_)
        else:
            self._combine(y_fit, preds, sw, names, False, None)
        return self


# The parameter texts of the metric-driven classifiers' docstrings.
_CLASSIFIER_DOC = dict(
    default="log_loss",
    metrics=('``"log_loss"``, ``"accuracy"``, ``"brier"`` '
             '(as ``sklearn.metrics.brier_score_loss``) or ``"auc"`` (binary)'),
    callable=(" with the original labels and the combined class "
              "probabilities (n_samples, n_classes)"),
    extra=("\n    proba_columns : {\"all\", \"positive\"}, default=\"all\""
           "\n        See :class:`ConvexLogLossClassifier`."
           "\n    classes : array-like, optional"
           "\n        Every class label, for a ``y`` that may lack some (see"
           "\n        :class:`ConvexLogLossClassifier`)."),
    attrs="\n    classes_")


class _SelectionBase(_MetricCombiner):
    """Shared fit of the ensemble-selection estimators."""

    def _combine(self, y, preds, sw, names, classification, n_classes,
                 classes=None):
        L = preds.shape[1]
        metric = _Metric(self.metric, self.greater_is_better,
                         classification, n_classes, classes)
        n_iter, init_size = self.n_iter, self.init_size
        for name, v in (("n_iter", n_iter), ("init_size", init_size)):
            if not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError("%s must be a non-negative int, got %r"
                                 % (name, v))
        if n_iter + init_size == 0:
            raise ValueError("n_iter and init_size are both 0: nothing would "
                             "be selected")
        if init_size > L:
            raise ValueError("init_size=%d, but there are only %d learners"
                             % (init_size, L))
        if self.n_bags is None:
            bags = [np.arange(L)]
        else:
            if not isinstance(self.n_bags, numbers.Integral) or \
                    self.n_bags < 1:
                raise ValueError("n_bags must be None or a positive int, got "
                                 "%r" % (self.n_bags,))
            if not 0 < self.bag_fraction <= 1:
                raise ValueError("bag_fraction must be in (0, 1], got %r"
                                 % (self.bag_fraction,))
            rng = check_random_state(self.random_state)
            size = max(1, int(round(self.bag_fraction * L)))
            bags = [np.sort(rng.choice(L, size, replace=False))
                    for _ in range(self.n_bags)]
        w = np.zeros(L)
        self.selection_ = []
        for members in bags:
            path = _greedy(metric, y, preds, sw, members, n_iter,
                           min(init_size, len(members)), self.best_prefix)
            counts = np.bincount(path, minlength=L)
            w += counts / counts.sum()
            self.selection_.append([names[j] for j in path])
        self._set_weights(w / len(bags), names)


_SELECTION_DOC = """
    Greedy forward selection with replacement (Caruana, Niculescu-Mizil,
    Crew and Ksikes, 2004): starting from the ``init_size`` best single
    learners (one copy each), each of ``n_iter`` steps adds one more copy of
    the learner whose addition gives the ensemble average the best
    ``metric``; ties go to the learner that comes first. With
    ``best_prefix`` the ensemble kept is the best one met along the way (the
    shortest among equals), else the one after the last step. A learner's
    weight is its share of the copies. With ``n_bags``, the selection runs
    on ``n_bags`` random subsets of ``bag_fraction`` of the learners and the
    weights are averaged over the bags.

    Parameters
    ----------
    metric : str or callable, default=%(default)r
        %(metrics)s, or a callable ``metric(y_true, y_pred)`` (called with
        ``sample_weight=`` when sample weights are given)%(callable)s.
    greater_is_better : bool, optional
        Required with a callable metric (True for a score, False for a
        loss); known for the named metrics.
    n_iter : int, default=50
        Selection steps after initialisation.
    init_size : int, default=0
        Start from this many best single learners.
    best_prefix : bool, default=True
    n_bags : int, optional
        Bag the selection (None: one run over every learner).
    bag_fraction : float, default=0.5
        Share of the learners in each bag.
    random_state : int, RandomState or None
        Draws the bags.%(extra)s
    names : sequence of str, optional
        Learner names for ``weights_``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_learners,)
    weights_ : dict
    selection_ : list of lists
        Per bag, the learners picked in order (names).
    n_features_in_, feature_names_in_%(attrs)s
    """


class EnsembleSelectionRegressor(_SelectionBase, _RegressorBase):
    __doc__ = ("Caruana-style ensemble selection for regression.\n"
               + _SELECTION_DOC % dict(
                   default="mse", metrics='``"mse"`` or ``"mae"``',
                   callable=" with 1-D predictions", extra="", attrs=""))

    def __init__(self, metric="mse", greater_is_better=None, n_iter=50,
                 init_size=0, best_prefix=True, n_bags=None, bag_fraction=0.5,
                 random_state=None, names=None):
        self._keep_params(locals())


class _MetricTags(object):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = self.metric != "auc"
        return tags


class EnsembleSelectionClassifier(_SelectionBase, _MetricTags,
                                  _ClassifierBase):
    __doc__ = ("Caruana-style ensemble selection for classification.\n"
               + _SELECTION_DOC % _CLASSIFIER_DOC)

    def __init__(self, metric="log_loss", greater_is_better=None, n_iter=50,
                 init_size=0, best_prefix=True, n_bags=None, bag_fraction=0.5,
                 random_state=None, proba_columns="all", names=None,
                 classes=None):
        self._keep_params(locals())


###############################################################################
# The discrete Super Learner

class _DiscreteBase(_MetricCombiner):
    def _combine(self, y, preds, sw, names, classification, n_classes,
                 classes=None):
        metric = _Metric(self.metric, self.greater_is_better, classification,
                         n_classes, classes)
        base = np.zeros(preds.shape[:1] + preds.shape[2:])
        losses = metric.losses(y, base, 0, preds, sw)
        best = int(np.argmin(losses))
        scores = -losses if metric.greater else losses
        self.scores_ = dict(zip(names, scores.tolist()))
        self.best_ = names[best]
        w = np.zeros(preds.shape[1])
        w[best] = 1.0
        self._set_weights(w, names)


_DISCRETE_DOC = """
    Computes each learner's cross-validated risk (its ``metric`` on its
    out-of-fold predictions) and predicts with the best learner alone; ties
    go to the learner that comes first.

    Parameters
    ----------
    metric : str or callable, default=%(default)r
        %(metrics)s, or a callable ``metric(y_true, y_pred)`` (called with
        ``sample_weight=`` when sample weights are given)%(callable)s.
    greater_is_better : bool, optional
        Required with a callable metric; known for the named metrics.%(extra)s
    names : sequence of str, optional
        Learner names for ``weights_``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_learners,)
        1 for the chosen learner, 0 for the others.
    weights_ : dict
    scores_ : dict
        ``{learner name: metric value}`` (as the metric defines it, e.g.
        accuracy, not error rate).
    best_ : str or int
        Name of the chosen learner.
    n_features_in_, feature_names_in_%(attrs)s
    """


class DiscreteSuperLearnerRegressor(_DiscreteBase, _RegressorBase):
    __doc__ = ("The discrete Super Learner for regression: the single "
               "learner with the\n    best cross-validated risk.\n"
               + _DISCRETE_DOC % dict(
                   default="mse", metrics='``"mse"`` or ``"mae"``',
                   callable=" with 1-D predictions", extra="", attrs=""))

    def __init__(self, metric="mse", greater_is_better=None, names=None):
        self._keep_params(locals())



class DiscreteSuperLearnerClassifier(_DiscreteBase, _MetricTags,
                                     _ClassifierBase):
    __doc__ = ("The discrete Super Learner for classification: the single "
               "learner with\n    the best cross-validated risk.\n"
               + _DISCRETE_DOC % dict(
                   _CLASSIFIER_DOC,
                   callable=(" with the original labels and a learner's class "
                             "probabilities (n_samples, n_classes)")))

    def __init__(self, metric="log_loss", greater_is_better=None,
                 proba_columns="all", names=None, classes=None):
        self._keep_params(locals())

