"""Cross-validated risk of an ensemble and of its learners.

* :func:`risk_table`: what a fit already measured, per layer and learner:
  the mean, standard error, minimum and maximum of the fold scores, and the
  fit and predict times, the meta learner's own cross-validated score
  included.
* :func:`cross_validate_ensemble`: the risk of the whole ensemble, by
  nested cross-validation, next to the risk of each base learner and of the
  discrete Super Learner (the base learner with the best inner
  cross-validated score), as R's ``CV.SuperLearner`` reports it. Every
  outer fold's ensemble is fitted side by side with the others (see
  :mod:`mlcore._lockstep`): the first layer of all outer folds is one flat
  pool of (outer fold x learner x inner fold) fits, then the next layer,
  and so on.
"""
import math
from functools import partial

import numpy as np

from . import _lockstep
from .backend import delayed
from .exceptions import LearnerError

try:
    from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin,
                              clone, is_classifier, is_regressor)
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover
    raise ImportError("mlcore.risk needs scikit-learn: pip install "
                      "'mlcore[sklearn]'") from exc

__all__ = ["risk_table", "cross_validate_ensemble", "EnsembleCVResult"]

_SUMMARY = ["mean", "se", "min", "max"]


def _pandas(what):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("%s returns a pandas DataFrame: pip install pandas"
                          % what) from exc
    return pd


def summarize(values):
    """``[mean, se, min, max]`` of ``values``: the standard error is the
    sample standard deviation (``ddof=1``) over ``sqrt(k)``, NaN for fewer
    than two values; all NaN for none."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    k = len(values)
    if not k:
        return [np.nan] * 4
    se = float(np.std(values, ddof=1) / math.sqrt(k)) if k > 1 else np.nan
    return [float(values.mean()), se, float(values.min()),
            float(values.max())]


###############################################################################
def risk_table(ensemble):
    """The fold scores and times a fit recorded, one row per layer and
    learner.

    Parameters
    ----------
    ensemble : fitted mlcore ensemble

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(layer, learner)`` (the learner names of
        ``ensemble.data``), with columns

        * ``folds``: the number of fold scores ``k``;
        * ``mean``, ``se``, ``min``, ``max``: of the fold scores, ``se``
          being the sample standard deviation over ``sqrt(k)``;
        * ``fit_time``, ``predict_time``: mean seconds per fit (the fit on
          all rows included) and per out-of-fold prediction.

        Scores are the ensemble's ``scorer`` (default: accuracy for
        classification, R^2 for regression) on each fold's held-out rows.
        The meta layer of a :class:`~mlcore.ensemble.SuperLearner` or
        :class:`~mlcore.ensemble.Subsemble` is cross-validated on the folds
        of its input, so its row is the meta learner's own out-of-sample
        score. A layer fitted once on all its rows has no score (``folds``
        0, NaN).
    """
    from .ensemble import _in_sample
    pd = _pandas("risk_table")
    check_is_fitted(ensemble, "layers_")
    rows, index = [], []
    for layer in ensemble.layers_:
        in_sample = _in_sample(layer)
        for lr in layer.learners:
            scores = [] if in_sample else layer.scores_.get(lr.key, [])
            rows.append([len(scores)] + summarize(scores) + [
                _mean(layer.fit_times_.get(lr.key)),
                _mean(layer.predict_times_.get(lr.key))])
            index.append((layer.name, lr.key))
    return pd.DataFrame(
        rows, columns=["folds"] + _SUMMARY + ["fit_time", "predict_time"],
        index=pd.MultiIndex.from_tuples(index, names=["layer", "learner"]))


def _mean(values):
    return float(np.mean(values)) if values else np.nan


###############################################################################
class EnsembleCVResult(object):
    """The outer-fold scores of :func:`cross_validate_ensemble`.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per outer fold (``1`` to ``k``); columns ``'ensemble'`` (the
        whole ensemble), ``'discrete SL'`` (the base learner the inner
        cross-validation picked in that fold), then one per base learner
        (first-layer learner, by its name in ``ensemble.data``).
    chosen : pandas.Series
        The base learner the discrete Super Learner picked in each fold.
    inner_scores : pandas.DataFrame
        Each base learner's inner cross-validated score (the scoring on its
        out-of-fold predictions of the outer training rows), per fold.
    estimators : list or None
        The fitted ensemble of each outer fold (``return_estimators=True``).
    """

    def __init__(self, scores, chosen, inner_scores, estimators=None):
        self.scores = scores
        self.chosen = chosen
        self.inner_scores = inner_scores
        self.estimators = estimators

    def summary(self):
        """Mean, standard error (``ddof=1`` standard deviation over
        ``sqrt(k)``), minimum and maximum of each column of
        :attr:`scores` over the outer folds.

        Returns
        -------
        pandas.DataFrame
            One row per column of :attr:`scores`.
        """
        pd = _pandas("summary")
        return pd.DataFrame(
            [summarize(self.scores[c].dropna()) for c in self.scores],
            index=pd.Index(list(self.scores.columns), name="algorithm"),
            columns=_SUMMARY)

    def __repr__(self):
        return "%s(%d outer folds)\n%s" % (type(self).__name__,
                                           len(self.scores), self.summary())


def cross_validate_ensemble(ensemble, X, y, cv=5, scoring=None, groups=None,
                            return_estimators=False):
    """Nested cross-validation of an ensemble, its base learners and the
    discrete Super Learner.

    Each outer fold fits a clone of ``ensemble`` on its training rows (with
    the ensemble's own inner folds) and scores, on its test rows, the
    ensemble, each base learner (its fit on all the outer training rows,
    which the ensemble predicts with) and the discrete Super Learner: the
    base learner with the best ``scoring`` on its inner out-of-fold
    predictions, pooled over the inner folds. The numbers are those of a
    loop over the outer folds calling ``clone(ensemble).fit``, but all
    outer folds run side by side on the ensemble's workers: the first layer
    of every outer fold is one pool of fits, then the second, and so on.

    Parameters
    ----------
    ensemble : mlcore ensemble
        Unfitted (it is cloned; its ``backend`` and ``n_jobs`` run the
        fits).
    X : array-like, sparse matrix or DataFrame of shape (n_samples, \
n_features)
    y : array-like of shape (n_samples,)
    cv : int, splitter or iterable, default=5
        Outer folds, as in :func:`sklearn.model_selection.cross_validate`
        (an int gives ``StratifiedKFold`` for a classifier, ``KFold``
        otherwise).
    scoring : str, callable or None, default=None
        A scikit-learn scorer (name or ``scorer(estimator, X, y)``, greater
        is better). None: accuracy for classification, R^2 for regression.
    groups : array-like of shape (n_samples,), optional
        Group labels, for the outer splitter and passed on to the
        ensemble's ``fit`` (inner splitters that take groups).
    return_estimators : bool, default=False
        Keep each outer fold's fitted ensemble.

    Returns
    -------
    EnsembleCVResult
        Its ``summary()`` gives the mean, standard error, minimum and
        maximum of every column, as R's ``summary(CV.SuperLearner(...))``.

    Notes
    -----
    Base learners are the learners of the first layer. A learner fitted per
    partition (a :class:`~mlcore.ensemble.Subsemble`) is not one estimator:
    it has no column, and the discrete Super Learner is not reported then.
    """
    from sklearn.model_selection import check_cv
    from sklearn.utils import indexable
    _check_ensemble(ensemble)
    classifier = is_classifier(ensemble)
    scorer = _get_scorer(scoring, classifier)
    X, y, groups = indexable(X, y, groups)
    splits = list(check_cv(cv, y, classifier=classifier).split(X, y, groups))
    template = clone(ensemble).set_params(verbose=False)
    calls = [partial(_outer_fold, clone(template), X, y, groups, train, test,
                     scorer) for train, test in splits]
    labels = ["outer fold %d of cross_validate_ensemble" % (i + 1)
              for i in range(len(splits))]
    folds = _lockstep.map_calls(calls, labels, ensemble.backend,
                                ensemble.n_jobs)
    return _result(folds, return_estimators)


def _check_ensemble(ensemble):
    from .ensemble import BaseEnsemble
    if not isinstance(ensemble, BaseEnsemble):
        raise TypeError("cross_validate_ensemble needs an mlcore ensemble "
                        "(SuperLearner, BlendEnsemble, ...), got %r"
                        % (ensemble,))
    if not ensemble.layers:
        raise ValueError("the ensemble has no layers: call add() first")


def _get_scorer(scoring, classifier):
    """A scikit-learn scorer for ``scoring`` (None: accuracy or R^2)."""
    from sklearn.metrics import get_scorer
    if scoring is None:
        return get_scorer("accuracy" if classifier else "r2")
    if isinstance(scoring, str):
        return get_scorer(scoring)  # a ValueError lists the valid names
    if callable(scoring):
        return scoring
    raise TypeError("scoring must be a scorer name, a callable "
                    "scorer(estimator, X, y) or None; got %r (one metric "
                    "only)" % (scoring,))


def _outer_fold(model, X, y, groups, train, test, scorer):
    """Fit ``model`` on one outer fold's training rows and score it and its
    base learners on the test rows (runs in a driver thread)."""
    from sklearn.utils import _safe_indexing
    Xtr, ytr = _safe_indexing(X, train), _safe_indexing(y, train)
    Xte, yte = _safe_indexing(X, test), _safe_indexing(y, test)
    params = {} if groups is None else {
        "groups": _safe_indexing(groups, train)}
    model.fit(Xtr, ytr, **params)
    full = float(scorer(model, Xte, yte))
    learners = base_learners(model)
    # the learners were fitted on the validated array, not on a DataFrame
    Xte = model._validate_X(Xte, reset=False)
    scores = _lockstep.dispatch([
        delayed(_score_learner)(name, scorer, est, Xte, yte)
        for name, est in learners.items() if est is not None])
    scores = iter(scores)
    outer = {name: (next(scores) if est is not None else np.nan)
             for name, est in learners.items()}
    inner = inner_scores(model, np.asarray(ytr), scorer)
    return full, outer, inner, model


def _score_learner(name, scorer, estimator, X, y):
    """``scorer(estimator, X, y)`` as a float; a failure names the
    learner."""
    try:
        return float(scorer(estimator, X, y))
    except Exception as exc:
        raise LearnerError.from_exception(
            "learner %r failed while scoring the outer test rows: %s: %s"
            % (name, type(exc).__name__, exc), exc) from exc


def base_learners(model):
    """``{learner name: estimator}`` of the first layer of a fitted
    ensemble: each learner's fit on all rows (behind its fitted
    preprocessing, as a ``Pipeline``), or None for a learner fitted per
    partition, or for a regressor in a classification ensemble (fitted on
    class positions, which a classification scorer cannot score)."""
    from sklearn.pipeline import Pipeline
    layer = model.layers_[0]
    classifier = getattr(model, "classes_", None) is not None
    out = {}
    for lr in layer.learners:
        fits = [key for key in layer.estimators_ if key[0] == lr.key and
                key[2] == 0]
        est = layer.estimators_.get((lr.key, 0, 0))
        if len(fits) != 1 or (classifier and is_regressor(est)):
            out[lr.key] = None
            continue
        if lr.preprocess is not None:
            steps = layer.pipelines_[(lr.preprocess, 0, 0)]
            est = Pipeline([("step%d" % i, s) for i, s in enumerate(steps)]
                           + [(lr.name, est)])
        out[lr.key] = est
    return out


def inner_scores(model, y, scorer):
    """``{learner name: score}``: ``scorer`` on each first-layer learner's
    out-of-fold predictions at fit (``model.oof_predictions_``), pooled
    over the folds; NaN where the scorer needs an output the learner did
    not pass on (probabilities from a learner added without
    ``proba=True``), or where :func:`base_learners` gives None."""
    from .ensemble import _output_rows
    layer = model.layers_[0]
    P = model.oof_predictions_[layer.name]
    rows = _output_rows(model.layers_[:1], len(y))
    y = y if rows is None else y[rows]
    classes = getattr(model, "classes_", None)
    out = {}
    for name, est in base_learners(model).items():
        if est is None:
            out[name] = np.nan
            continue
        lr = [lr for lr in layer.learners if lr.key == name][0]
        col = layer.columns_[name]
        block = P[:, col:col + layer._width(lr, 1)]
        replay = (_ReplayClassifier(block, lr.proba, classes)
                  if classes is not None else _ReplayRegressor(block))
        try:
            out[name] = float(scorer(replay, np.arange(len(y))[:, None], y))
        except AttributeError:  # e.g. roc_auc on label predictions
            out[name] = np.nan
    return out


class _ReplayRegressor(RegressorMixin, BaseEstimator):
    """Gives a learner's stored predictions for row numbers ``X[:, 0]``,
    so that a scikit-learn scorer scores out-of-fold predictions."""

    def __init__(self, block):
        self.block = block

    def predict(self, X):
        return np.asarray(self.block[np.asarray(X)[:, 0], 0], dtype=float)


class _ReplayClassifier(ClassifierMixin, BaseEstimator):
    """As :class:`_ReplayRegressor`, for a classifier: its labels, or its
    class probabilities (``proba``) and the label of the largest one."""

    def __init__(self, block, proba, classes):
        self.block, self.proba, self.classes = block, proba, classes
        self.classes_ = classes

    def predict(self, X):
        rows = np.asarray(X)[:, 0]
        if self.proba:
            return self.classes[np.asarray(self.block[rows], dtype=float)
                                .argmax(axis=1)]
        return self.block[rows, 0]

    @available_if(lambda self: self.proba)
    def predict_proba(self, X):
        # only for learners that passed probabilities on
        return np.asarray(self.block[np.asarray(X)[:, 0]], dtype=float)


def _result(folds, return_estimators):
    pd = _pandas("cross_validate_ensemble")
    index = pd.RangeIndex(1, len(folds) + 1, name="fold")
    rows, chosen, inner = [], [], []
    for full, outer, inner_fold, _ in folds:
        pick = _best(inner_fold)
        chosen.append(pick)
        rows.append(dict([("ensemble", full), ("discrete SL", outer[pick]
                          if pick is not None else np.nan)], **outer))
        inner.append(inner_fold)
    return EnsembleCVResult(
        pd.DataFrame(rows, index=index), pd.Series(chosen, index=index,
                                                   name="chosen"),
        pd.DataFrame(inner, index=index),
        [fold[3] for fold in folds] if return_estimators else None)


def _best(scores):
    """The name with the largest score (the first of ties), or None when
    no score is a number."""
    best = None
    for name, value in scores.items():
        if not np.isnan(value) and (best is None or value > scores[best]):
            best = name
    return best
