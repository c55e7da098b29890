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
from ._subtasks import _fit_learner, _predict_block, apply_steps, \
    fit_steps, take
from .backend import delayed
from .exceptions import LearnerError
from .risk import _check_weights, _get_scorer, _pandas, score_with

try:
    from sklearn.base import is_classifier, is_regressor
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
                           random_state=None, sample_weight=None,
                           greater_is_better=None):
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
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    scoring : str, callable or None, default=None
        A scikit-learn scorer name, a scorer ``scorer(estimator, X, y)``
        or a metric ``f(y_true, y_pred)``, as
        :func:`mlcore.risk.cross_validate_ensemble` takes them (greater is
        better: a loss metric is negated). None: accuracy for
        classification, R^2 for regression.
    n_repeats : int, default=5
    random_state : int, RandomState or None, default=None
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the rows of ``X`` in every score, as
        :func:`sklearn.inspection.permutation_importance` passes them.
    greater_is_better : bool or None, default=None
        For a metric ``f(y_true, y_pred)``: whether larger is better
        (None: read from its name, as the Evaluator does).

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
    scorer = _get_scorer(scoring, is_classifier(ensemble), greater_is_better,
                         "permutation_importance")
    w = _check_weights(sample_weight, y, "permutation_importance")
    seed = check_random_state(random_state).randint(
        np.iinfo(np.int32).max + 1)
    n_features = X.shape[1]
    copies = max(1, min(_MAX_COPIES, _MAX_COPY_BYTES // max(1, _nbytes(X))))
    baseline = None
    scores = []
    for start in range(0, n_features, copies):
        features = range(start, min(n_features, start + copies))
        calls = [partial(_permuted_scores, ensemble, X, y, j, seed,
                         n_repeats, scorer, w) for j in features]
        labels = ["permuted feature %d" % j for j in features]
        if baseline is None:
            calls.insert(0, partial(score_with, scorer, ensemble, X, y, w))
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


def _permuted_scores(ensemble, X, y, column, seed, n_repeats, scorer,
                     sample_weight=None):
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
        out.append(score_with(scorer, ensemble, X, y, sample_weight))
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
def learner_contributions(ensemble, y, scoring=None, greater_is_better=None,
                          sample_weight=None):
    """The drop in the meta learner's cross-validated score when each
    learner of the layer before it is left out.

    The meta layer's input is the stored out-of-fold predictions of the
    layer before it (``oof_predictions_``); for each learner of that layer,
    the meta learner is refitted on the same folds without that learner's
    columns, exactly as the fit fitted it (a clone of the meta estimator,
    behind a refit of the meta layer's preprocessing, with the fit's sample
    weights), and scored on each fold's held-out rows. Those columns are
    exactly what a full refit of the ensemble without the learner would
    pass on, when the other learners are fitted the same way (their
    ``random_state`` set), so no base learner is refitted.

    Parameters
    ----------
    ensemble : fitted mlcore ensemble
        Its last layer is one meta learner cross-validated on its input
        (:class:`~mlcore.ensemble.SuperLearner` and
        :class:`~mlcore.ensemble.Subsemble` meta layers are), after a layer
        of at least two learners (or one, with propagated features).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets the ensemble was fitted on (the ensemble does not keep
        them).
    scoring : str, callable or None, default=None
        None: the meta layer's own scorer, as at fit (the ensemble's
        ``scorer``; default accuracy for classification, R^2 for
        regression), so that ``attrs['baseline']`` is the meta learner's
        score of :func:`mlcore.risk.risk_table`. Else a scikit-learn scorer
        name, a scorer ``scorer(estimator, X, y)`` or a metric ``f(y_true,
        y_pred)``, as :func:`mlcore.risk.cross_validate_ensemble` takes
        them, applied to the meta learner's predictions of each fold's
        held-out rows.
    greater_is_better : bool or None, default=None
        Whether a larger score is better, for the layer's own scorer
        (``scoring=None``) or a metric. None: True for the default scorer
        and for scorer names and objects (which negate losses); for a
        function, True unless its name says it is a loss (``error``,
        ``loss``, ``mse``, ... in a name that does not end in ``score``),
        as :class:`mlcore.model_selection.Evaluator` reads it.
    sample_weight : array-like of shape (n_samples,), optional
        The sample weights the ensemble was fitted with (required then, and
        refused otherwise): the meta learner is refitted with them, as the
        fit did. A ``scoring`` also weighs the held-out rows with them; the
        layer's own scorer, as at fit, does not.

    Returns
    -------
    pandas.DataFrame
        One row per learner (its name in ``ensemble.data``):
        ``score_without`` (the mean fold score without it, in the scorer's
        own units) and ``contribution``, the drop in score when the learner
        is left out, oriented so that a positive contribution means the
        learner helps: ``baseline - score_without`` for a score,
        ``score_without - baseline`` for a loss. ``attrs['baseline']``
        holds the mean fold score with every learner and
        ``attrs['greater_is_better']`` the orientation used.

    Raises
    ------
    ValueError
        For an ensemble without such a meta layer, a learner whose columns
        are the meta learner's only input (nothing would be left to refit
        on), or ``y`` or ``sample_weight`` that are not the fit's.
    """
    from .ensemble import _data_names
    check_is_fitted(ensemble, "layers_")
    meta, base = _meta_layers(ensemble)
    n = ensemble.layers_[0]._n_fit
    y = _fit_targets(ensemble, y, n)
    w = _fit_weights(ensemble, sample_weight, n)
    rows = _engine_rows(ensemble.layers_[:-1], n)
    y, w = y[rows], (None if w is None else w[rows])
    P = _numeric_input(ensemble, base, rows)
    names = _data_names(base)
    variants = [None] + [b.key for b in base.learners]
    kept = {key: _kept(base, key, P) for key in variants}
    for key in variants[1:]:
        if not len(kept[key]):
            raise ValueError(
                "learner_contributions: learner %r is the meta learner's only "
                "input, so there is nothing to refit it on without that "
                "learner; contributions need at least two learners (or "
                "propagated features) in %s" % (names[key], base.name))
    if scoring is None:
        scorer, greater = None, _layer_direction(meta, greater_is_better)
    else:
        scorer = _get_scorer(scoring, is_classifier(ensemble),
                             greater_is_better, "learner_contributions")
        greater = True
    fold_fit = _MetaFit(meta)
    splits = [s for s in meta.splits_[0] if s.test is not None]
    # C order, as the engine's output: numpy gives a column selection in
    # Fortran order, on which BLAS-based learners round differently
    inputs = {key: np.ascontiguousarray(P[:, cols])
              for key, cols in kept.items()}
    jobs = [delayed(_meta_fold)(None if key is None else names[key],
                                fold_fit, inputs[key], y, w, s, scorer)
            for key in variants for s in splits]
    scores = np.asarray(_lockstep.run_pool(jobs, ensemble.backend,
                                           ensemble.n_jobs), dtype=float)
    # one mean per row, as risk_table takes it (a reduction along an axis
    # of a 2-D array may round differently)
    means = np.array([row.mean() for row in
                      scores.reshape(len(variants), len(splits))])
    drop = means[0] - means[1:]
    pd = _pandas("learner_contributions")
    table = pd.DataFrame({"score_without": means[1:],
                          "contribution": drop if greater else -drop},
                         index=pd.Index([names[k] for k in variants[1:]],
                                        name="learner"))
    table.attrs["baseline"] = float(means[0])
    table.attrs["greater_is_better"] = greater
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


def _fit_targets(ensemble, y, n):
    """``y`` as the fit passed it to the layers, checked against the fit:
    ``n`` rows, one column per output of a multi-output fit."""
    from .ensemble import _multilabel, _targets
    outputs = getattr(ensemble, "n_outputs_", 1)
    y = np.asarray(y)
    shape = (n,) if outputs == 1 else (n, outputs)
    if y.shape != shape and not (outputs == 1 and y.shape == (n, 1)):
        raise ValueError(
            "learner_contributions: y must be the targets the ensemble was "
            "fitted on: %d values, shape %s; got shape %s"
            % (n, shape, y.shape))
    y = _targets(y)
    if outputs > 1 and getattr(ensemble, "classes_", None) is not None:
        return _multilabel(y, "learner_contributions")
    if getattr(ensemble, "classes_", None) is None and y.dtype.kind in "biu":
        return y.astype(np.float64)  # as the fit's y
    return y


def _fit_weights(ensemble, sample_weight, n):
    """The fit's sample weights as float64, checked against what the fit
    recorded (a digest); None for an unweighted fit."""
    from .ensemble import _fingerprint
    recorded = getattr(ensemble, "_fit_weights", False)  # False: unknown
    if sample_weight is None:
        if recorded:
            raise ValueError(
                "learner_contributions: the ensemble was fitted with "
                "sample_weight; pass the same sample_weight, with which the "
                "meta learner is refitted as the fit did")
        return None
    w = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError("learner_contributions: sample_weight must hold one "
                         "weight per training row (%d), got shape %s"
                         % (n, w.shape))
    if recorded is None:
        raise ValueError("learner_contributions: the ensemble was fitted "
                         "without sample_weight; refitting its meta learner "
                         "with weights would not measure that ensemble")
    if recorded is not False and recorded != _fingerprint(w):
        raise ValueError("learner_contributions: sample_weight differs from "
                         "the weights the ensemble was fitted with")
    return w


def _layer_direction(meta, greater_is_better):
    """Whether a larger score of the meta layer's own scorer is better."""
    from .metrics import default_scorer
    from .model_selection import _check_scorer
    user = meta.scorer.scorer if isinstance(meta.scorer, default_scorer) \
        else meta.scorer
    if greater_is_better is not None:
        return bool(greater_is_better)
    if user is None:
        return True  # accuracy or R^2
    return _check_scorer(user, None)[2]


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
    from .ensemble import label_columns
    P = ensemble.oof_predictions_[layer.name]
    if hasattr(P, "toarray"):
        P = P.toarray()
    P = np.array(P, dtype=object if P.dtype == object else P.dtype)
    classes = getattr(ensemble, "classes_", None)
    cols = label_columns(layer) if classes is not None else []
    if cols:
        P[:, cols] = np.searchsorted(classes, P[:, cols])
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


class _MetaFit(object):
    """How the meta layer fitted its learner on each fold: the estimator
    (regressors in a classification ensemble fitted on class positions),
    its preprocessing case's steps, and the layer's settings."""

    def __init__(self, meta):
        from .ensemble import _PositionTarget
        lr = meta.learners[0]
        estimator = lr.estimator
        if meta.classes is not None and is_regressor(estimator):
            estimator = _PositionTarget(estimator, meta.classes)
        steps = [t.steps for g in meta.groups for t in g.transformers
                 if t.name == lr.preprocess]
        self.name, self.estimator = lr.key, estimator
        self.steps = steps[0] if steps else None
        self.proba, self.classes = meta._proba(lr), meta.classes
        self.scorer, self.dtype = meta.scorer, meta.dtype
        self.width, self.n_outputs = meta._width(lr, 1), meta.n_outputs
        self.keep = meta._repeats() > 1

    def fit(self, X, y, w, split):
        """The fold fit, as the layer's subtasks run it: (fitted steps or
        None, :class:`mlcore.layer.SubResult` with the estimator and the
        layer's score of the held-out rows)."""
        steps = None
        if self.steps:
            steps = fit_steps(self.steps, take(X, split.train),
                              take(y, split.train))
        params = {} if w is None else {"sample_weight": w}
        res = _fit_learner(None, self.name, self.estimator, steps, X, y,
                           split.train, split.test, None, None, 0,
                           self.proba, self.classes, self.scorer, params,
                           None, 0, split.fold, True, width=self.width,
                           dtype=self.dtype, n_outputs=self.n_outputs,
                           keep=self.keep)
        return steps, res

    def replay(self, est, steps, X):
        """The fitted fold estimator's predictions of ``X`` (held-out rows
        of the meta input), for a scikit-learn scorer: labels and class
        probabilities of a classifier, else its predictions."""
        from .ensemble import _positions_to_labels
        from .risk import _ReplayClassifier, _ReplayRegressor
        if steps:
            X = apply_steps(steps, X)
        m = self.n_outputs
        if self.classes is None:
            return _ReplayRegressor(_predict_block(est, X, False, None, m))
        labels = _positions_to_labels(
            _predict_block(est, X, False, self.classes, m), self.classes)
        proba = None
        if m == 1 and hasattr(est, "predict_proba"):
            proba = _predict_block(est, X, True, self.classes)
        return _ReplayClassifier(labels[:, 0] if m == 1 else labels, proba,
                                 self.classes)


def _meta_fold(without, fold_fit, X, y, w, split, scorer):
    """Refit the meta learner on one fold's training rows of ``X`` (the
    meta input without learner ``without``; None: with every learner) and
    score the held-out rows: the layer's score, or ``scorer``'s."""
    try:
        steps, res = fold_fit.fit(X, y, w, split)
        if scorer is None:
            return res.score
        test = take(X, split.test)
        replay = fold_fit.replay(res.estimator, steps, test)
        return score_with(scorer, replay, np.arange(test.shape[0])[:, None],
                          take(y, split.test),
                          None if w is None else take(w, split.test))
    except Exception as exc:
        which = "every learner" if without is None else "all but %r" % (
            without,)
        raise LearnerError.from_exception(
            "learner_contributions: the meta learner failed on fold %d with "
            "%s: %s: %s" % (split.fold, which, type(exc).__name__, exc),
            exc) from exc


###############################################################################
def meta_weights(ensemble):
    """The weights of a fitted ensemble's meta learner, named by the
    learners of the layer before it.

    Parameters
    ----------
    ensemble : fitted mlcore ensemble
        At least two layers, the last one a single meta learner (``add_meta``)
        that has ``weights_`` (the :mod:`mlcore.meta` learners) or a
        one-row ``coef_`` (linear models).

    Returns
    -------
    pandas.Series
        One weight per learner when the meta learner weighs learners (the
        :mod:`mlcore.meta` learners name them by position, as they read an
        array), named as in ``ensemble.data`` (``learner--partition`` for
        the partitions of a :class:`~mlcore.ensemble.Subsemble`), after
        the propagated input columns (by name) that it weighs too; else one
        per input column, named as ``layers_[-2].get_feature_names_out()``.

    Raises
    ------
    ValueError
        For an ensemble of one layer (no meta learner), a last layer that
        is not one meta learner, or a meta learner without such weights
        (e.g. the ``coef_`` of one row per class or per output).
    """
    from .ensemble import block_names
    pd = _pandas("meta_weights")
    check_is_fitted(ensemble, "layers_")
    if len(ensemble.layers_) < 2:
        raise ValueError("meta_weights needs a meta layer after the base "
                         "learners (add_meta); the ensemble has 1 layer")
    try:
        est = ensemble.final_estimator_
    except AttributeError as exc:
        raise ValueError("meta_weights: %s" % exc) from None
    base = ensemble.layers_[-2]
    weights = getattr(est, "weights_", None)
    if weights is not None:
        keys = list(weights)
        blocks = block_names(base)
        if keys == list(range(len(blocks))):
            keys = blocks
        return pd.Series(list(weights.values()), index=pd.Index(
            keys, name="learner"), name="weight")
    coef = getattr(est, "coef_", None)
    coef = None if coef is None else np.asarray(coef)
    if coef is not None and coef.ndim == 2 and coef.shape[0] == 1:
        coef = coef[0]
    if coef is None or coef.ndim != 1:
        raise ValueError(
            "meta_weights: the meta learner %r has neither weights_ nor a "
            "one-row coef_ (coef_ of shape %s: one row per class or per "
            "output); read ensemble.final_estimator_ itself"
            % (est, None if coef is None else coef.shape))
    return pd.Series(coef, index=pd.Index(base.get_feature_names_out(),
                                          name="column"), name="weight")
