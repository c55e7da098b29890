"""What a fitted ensemble relies on: its input features and its learners.

* :func:`permutation_importance`: how much the whole ensemble's score drops
  when one input feature is shuffled, as
  :func:`sklearn.inspection.permutation_importance` computes it (same
  permutations for the same ``random_state``). The predictions of all
  permuted copies run side by side (see :mod:`mlcore._lockstep`): each layer
  predicts every copy in one pool.
* :func:`learner_contributions`: how much the meta learner's
  cross-validated score drops when one learner of the layer before it is
  left out. The learners' out-of-fold predictions are stored at fit, so
  only the meta learner is refitted, on the same folds, without that
  learner's columns; all (left-out learner x fold) fits run in one pool.
* :func:`meta_weights`: the meta learner's weights (``weights_`` of the
  :mod:`mlcore.meta` learners, else ``coef_``) named by the learners.

:func:`mlcore.visualization.importance_plot` and
:func:`mlcore.visualization.contribution_plot` draw the tables.
"""
import numbers
from functools import partial

import numpy as np

from . import _lockstep
from ._names import generated_names
from ._subtasks import _predict_block, take
from .backend import delayed
from .exceptions import LearnerError
from .risk import _get_scorer, _pandas

try:
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.utils import check_array, check_random_state
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover
    raise ImportError("mlcore.inspection needs scikit-learn: pip install "
                      "'mlcore[sklearn]'") from exc

__all__ = ["permutation_importance", "learner_contributions", "meta_weights"]

# Permuted copies of X held at once: at most this many, and this many bytes.
_MAX_COPIES = 64
_MAX_COPY_BYTES = 256 << 20


###############################################################################
def permutation_importance(ensemble, X, y, scoring=None, n_repeats=5,
                           random_state=None):
    """Permutation importance of the input features for the whole ensemble.

    For each feature, its column is shuffled ``n_repeats`` times (each
    shuffle permuting the previous one) and the ensemble scored on the
    result; a feature's importance is the score on ``X`` minus the score
    with that feature shuffled. The shuffles are those of
    :func:`sklearn.inspection.permutation_importance` with the same
    ``random_state`` (every feature gets the same sequence), so the numbers
    are the same.

    Parameters
    ----------
    ensemble : fitted mlcore ensemble
    X : array-like or DataFrame of shape (n_samples, n_features)
        Dense data (held-out rows, ideally).
    y : array-like of shape (n_samples,)
    scoring : str, callable or None, default=None
        A scikit-learn scorer (greater is better). None: accuracy for
        classification, R^2 for regression.
    n_repeats : int, default=5
    random_state : int, RandomState or None, default=None

    Returns
    -------
    pandas.DataFrame
        One row per feature (``feature_names_in_``, a DataFrame's columns,
        else ``x0, x1, ...``), in input order: ``importance_mean``,
        ``importance_std`` (``ddof=0``, as scikit-learn), then the
        importance of each repeat (``repeat_1`` ...). ``attrs['baseline']``
        holds the score on ``X``.
    """
    check_is_fitted(ensemble, "layers_")
    if not isinstance(n_repeats, numbers.Integral) or isinstance(
            n_repeats, bool) or n_repeats < 1:
        raise ValueError("n_repeats must be an int >= 1, got %r"
                         % (n_repeats,))
    if not hasattr(X, "iloc"):
        X = check_array(X, ensure_all_finite="allow-nan", dtype=None)
    scorer = _get_scorer(scoring, is_classifier(ensemble))
    seed = check_random_state(random_state).randint(
        np.iinfo(np.int32).max + 1)
    n_features = X.shape[1]
    copies = max(1, min(_MAX_COPIES, _MAX_COPY_BYTES // max(1, _nbytes(X))))
    baseline = None
    scores = []
    for start in range(0, n_features, copies):
        features = range(start, min(n_features, start + copies))
        calls = [partial(_permuted_scores, ensemble, X, y, j, seed,
                         n_repeats, scorer) for j in features]
        labels = ["permuted feature %d" % j for j in features]
        if baseline is None:
            calls.insert(0, partial(scorer, ensemble, X, y))
            labels.insert(0, "the unpermuted data")
        out = _lockstep.map_calls(calls, labels, ensemble.backend,
                                  ensemble.n_jobs)
        if baseline is None:
            baseline, out = float(out[0]), out[1:]
        scores.extend(out)
    importances = baseline - np.asarray(scores, dtype=float)
    return _importance_table(importances, _feature_names(ensemble, X),
                             baseline)


def _nbytes(X):
    return int(X.memory_usage(index=False).sum()) if hasattr(
        X, "memory_usage") else X.nbytes


def _permuted_scores(ensemble, X, y, column, seed, n_repeats, scorer):
    """Scores with column ``column`` shuffled ``n_repeats`` times in a row,
    each shuffle permuting the previous one (runs in a driver thread)."""
    rng = check_random_state(seed)
    X = X.copy()
    order = np.arange(X.shape[0])
    out = []
    for _ in range(n_repeats):
        rng.shuffle(order)
        if hasattr(X, "iloc"):
            shuffled = X.iloc[order, column]
            shuffled.index = X.index
            X[X.columns[column]] = shuffled
        else:
            X[:, column] = X[order, column]
        out.append(float(scorer(ensemble, X, y)))
    return out


def _feature_names(ensemble, X):
    names = getattr(ensemble, "feature_names_in_", None)
    if names is None and hasattr(X, "columns"):
        names = np.asarray(X.columns, dtype=object)
    return list(names) if names is not None else list(
        generated_names(X.shape[1]))


def _importance_table(importances, names, baseline):
    pd = _pandas("permutation_importance")
    n_repeats = importances.shape[1]
    table = pd.DataFrame(
        importances, index=pd.Index(names, name="feature"),
        columns=["repeat_%d" % (r + 1) for r in range(n_repeats)])
    table.insert(0, "importance_std", importances.std(axis=1))
    table.insert(0, "importance_mean", importances.mean(axis=1))
    table.attrs["baseline"] = baseline
    return table


###############################################################################
def learner_contributions(ensemble, y):
    """The drop in the meta learner's cross-validated score when each
    learner of the layer before it is left out.

    The meta layer's input is the stored out-of-fold predictions of the
    layer before it (``oof_predictions_``); for each learner of that layer,
    the meta learner is refitted on the same folds without that learner's
    columns and scored as at fit. Those columns are exactly what a full
    refit of the ensemble without the learner would pass on, when the other
    learners are fitted the same way (their ``random_state`` set), so no
    base learner is refitted.

    Parameters
    ----------
    ensemble : fitted mlcore ensemble
        Its last layer is one meta learner cross-validated on its input
        (:class:`~mlcore.ensemble.SuperLearner` and
        :class:`~mlcore.ensemble.Subsemble` meta layers are).
    y : array-like of shape (n_samples,)
        The targets the ensemble was fitted on (the ensemble does not keep
        them). Sample weights of the fit are not used.

    Returns
    -------
    pandas.DataFrame
        One row per learner (its name in ``ensemble.data``):
        ``score_without`` (the meta learner's mean fold score without it)
        and ``contribution`` (the score with every learner minus
        ``score_without``; larger: the ensemble relies more on the
        learner). ``attrs['baseline']`` holds the score with every learner,
        the meta learner's score of :func:`mlcore.risk.risk_table`.
        Scores are the meta layer's ``scorer``.
    """
    check_is_fitted(ensemble, "layers_")
    meta, base = _meta_layers(ensemble)
    y = np.asarray(y)
    n = ensemble.layers_[0]._n_fit
    if y.ndim != 1 or len(y) != n:
        raise ValueError("y must be the targets the ensemble was fitted on: "
                         "%d values, got shape %s" % (n, y.shape))
    rows = _engine_rows(ensemble.layers_[:-1], n)
    y = y[rows]
    P = _numeric_input(ensemble, base, rows)
    template = _meta_template(ensemble, meta)
    lr = meta.learners[0]
    variants = [None] + [b.key for b in base.learners]
    splits = [s for s in meta.splits_[0] if s.test is not None]
    jobs = [delayed(_meta_fold)(key, template, P[:, _kept(base, key, P)], y,
                                s.train, s.test, meta._proba(lr),
                                meta.classes, meta.scorer, s.fold)
            for key in variants for s in splits]
    scores = np.asarray(_lockstep.run_pool(jobs, ensemble.backend,
                                           ensemble.n_jobs))
    means = scores.reshape(len(variants), len(splits)).mean(axis=1)
    pd = _pandas("learner_contributions")
    table = pd.DataFrame({"score_without": means[1:],
                          "contribution": means[0] - means[1:]},
                         index=pd.Index(variants[1:], name="learner"))
    table.attrs["baseline"] = float(means[0])
    return table


def _meta_layers(ensemble):
    """(meta layer, the layer before it), or a ValueError saying why the
    ensemble has no cross-validated meta learner."""
    from .ensemble import _in_sample
    layers = ensemble.layers_
    if len(layers) < 2:
        raise ValueError("learner_contributions needs a meta layer after "
                         "the base learners; the ensemble has 1 layer")
    meta = layers[-1]
    if len(meta.learners) != 1 or meta.groups[0].indexer.partitions != 1:
        raise ValueError("learner_contributions needs a last layer of one "
                         "meta learner (add_meta); %s has %d learner(s)"
                         % (meta.name, len(meta.learners)))
    if _in_sample(meta) or not any(s.test is not None
                                   for s in meta.splits_[0]):
        raise ValueError(
            "the meta layer of %s is fitted once on all its rows and has no "
            "cross-validated score to compare with; SuperLearner and "
            "Subsemble cross-validate theirs" % type(ensemble).__name__)
    return meta, layers[-2]


def _engine_rows(layers, n):
    """The training rows, in the order in which the layer after ``layers``
    saw them at fit (shuffles and row offsets applied in turn)."""
    rows = np.arange(n)
    for layer in layers:
        if layer.shuffle:
            if isinstance(layer.random_state, np.random.RandomState):
                raise ValueError(
                    "%s was shuffled by a RandomState whose draw is spent: "
                    "the order of its rows cannot be rebuilt; use an int "
                    "random_state" % layer.name)
            rows = rows[np.random.RandomState(layer.random_state)
                        .permutation(len(rows))]
        offset = layer.row_offset("fit")
        rows = rows[offset:offset + layer.shape("fit")[0]]
    return rows


def _numeric_input(ensemble, layer, rows):
    """The output of ``layer`` at fit as the next layer read it: in the
    order of ``rows`` (``oof_predictions_`` has them in input order), with
    class positions where ``oof_predictions_`` shows labels."""
    P = ensemble.oof_predictions_[layer.name]
    if hasattr(P, "toarray"):
        P = P.toarray()
    P = np.array(P, dtype=object if P.dtype == object else P.dtype)
    classes = getattr(ensemble, "classes_", None)
    if classes is not None:
        for lr in layer.learners:
            full = layer.estimators_.get((lr.key, 0, 0))
            if lr.proba or getattr(full, "classes_", None) is None:
                continue
            col = layer.columns_[lr.key]
            width = layer._width(lr, layer.groups[0].indexer.partitions)
            P[:, col:col + width] = np.searchsorted(classes,
                                                    P[:, col:col + width])
    P = P.astype(layer.dtype)
    # input order -> the order the next layer saw (ranks among the rows)
    return P[np.searchsorted(np.sort(rows), rows)]


def _kept(layer, key, P):
    """Column positions of ``P`` without learner ``key``'s block (all of
    them for None)."""
    keep = np.ones(P.shape[1], dtype=bool)
    if key is not None:
        lr = [lr for lr in layer.learners if lr.key == key][0]
        col = layer.columns_[key]
        keep[col:col + layer._width(
            lr, layer.groups[0].indexer.partitions)] = False
    return np.flatnonzero(keep)


def _meta_template(ensemble, meta):
    """The meta learner as the fit cloned it for each fold (regressors in a
    classification ensemble are fitted on class positions)."""
    from .ensemble import _PositionTarget
    template = meta.learners[0].estimator
    if meta.classes is not None and is_regressor(template):
        template = _PositionTarget(template, meta.classes)
    return template


def _meta_fold(key, estimator, X, y, train, test, proba, classes, scorer,
               fold):
    """Fit a clone of the meta learner on one fold's training rows of ``X``
    and score its predictions of the test rows with the layer's scorer."""
    try:
        est = clone(estimator).fit(take(X, train), take(y, train))
        pred = _predict_block(est, take(X, test), proba, classes)
        return scorer(take(y, test), pred)
    except Exception as exc:
        without = "every learner" if key is None else "all but %r" % key
        raise LearnerError.from_exception(
            "the meta learner failed on fold %d with %s: %s: %s"
            % (fold, without, type(exc).__name__, exc), exc) from exc


###############################################################################
def meta_weights(ensemble):
    """The weights of a fitted ensemble's meta learner, named by the
    learners of the layer before it.

    Parameters
    ----------
    ensemble : fitted mlcore ensemble
        Its meta learner has ``weights_`` (the :mod:`mlcore.meta` learners)
        or a one-row ``coef_`` (linear models).

    Returns
    -------
    pandas.Series
        One weight per learner when the meta learner weighs learners (the
        :mod:`mlcore.meta` learners name them by position, as they read an
        array); else one per input column, named as
        ``layers_[-2].get_feature_names_out()``.
    """
    pd = _pandas("meta_weights")
    est = ensemble.final_estimator_
    base = ensemble.layers_[-2] if len(ensemble.layers_) > 1 else None
    learners = [lr.key for lr in base.learners] if base is not None else []
    weights = getattr(est, "weights_", None)
    if weights is not None:
        keys = list(weights)
        if keys == list(range(len(learners))):
            keys = learners
        return pd.Series(list(weights.values()), index=pd.Index(
            keys, name="learner"), name="weight")
    coef = np.asarray(getattr(est, "coef_", None))
    if coef.ndim == 2 and coef.shape[0] == 1:
        coef = coef[0]
    if coef.ndim != 1:
        raise ValueError("the meta learner %r has neither weights_ nor a "
                         "one-row coef_" % (est,))
    names = base.get_feature_names_out() if base is not None else None
    return pd.Series(coef, index=pd.Index(names, name="column"),
                     name="weight")
