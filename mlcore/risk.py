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
        Indexed by ``(layer, learner)``, the rows of
        ``ensemble.data_frame()``: learners named as in ``ensemble.data``
        (``case.learner`` for a learner behind a preprocessing case), the
        partitions of a :class:`~mlcore.ensemble.Subsemble` on rows of
        their own (``learner--partition``). Columns

        * ``folds``: the number of fold scores ``k``;
        * ``mean``, ``se``, ``min``, ``max``: of the fold scores, ``se``
          being the sample standard deviation over ``sqrt(k)``;
        * ``fit_time``, ``predict_time``: mean seconds per fit (the fit on
          all rows included) and per out-of-fold prediction;
        * ``failed``, only when a learner was dropped at fit
          (``raise_on_exception=False``): why it failed, on a row of its
          own after its layer's learners (``folds`` 0, NaN); None for the
          others.

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
    by_layer = {layer.name: [] for layer in ensemble.layers_}
    for layer, key, name, records in fit_rows(ensemble):
        scores = [] if _in_sample(layer) else [
            r[5] for r in records if r[5] is not None]
        # as Layer.predict_times_: the fits that predicted held-out rows
        predict = [r[4] for r in records if r[2] != 0 or r[5] is not None]
        by_layer[layer.name].append((name, [len(scores)] + summarize(
            scores) + [_mean([r[3] for r in records]), _mean(predict)], None))
    for layer in ensemble.layers_:
        taken = {row[0] for row in by_layer[layer.name]}
        for key, reason in (getattr(layer, "failed_learners_", None)
                            or {}).items():
            by_layer[layer.name].append((_failed_name(layer, key, taken),
                                         [0] + [np.nan] * 6, reason))
    entries = [e for layer in ensemble.layers_ for e in by_layer[layer.name]]
    table = pd.DataFrame(
        [e[1] for e in entries],
        columns=["folds"] + _SUMMARY + ["fit_time", "predict_time"],
        index=pd.MultiIndex.from_tuples(
            [(layer.name, e[0]) for layer in ensemble.layers_
             for e in by_layer[layer.name]], names=["layer", "learner"]))
    if any(e[2] is not None for e in entries):
        table["failed"] = [e[2] for e in entries]
    return table


def _failed_name(layer, key, taken):
    """The row name of learner ``key``, dropped from ``layer`` at fit: as
    ``ensemble.data`` would have named it (``case.learner`` behind a case of
    preprocessing steps, else ``learner``, unless another row has that
    name)."""
    case, _, name = key.rpartition("__")
    if not case:
        return key
    steps = {t.name: t.steps for g in layer.groups for t in g.transformers}
    if steps.get(case) or name in taken:
        return "%s.%s" % (case, name)
    return name


def fit_rows(ensemble):
    """``(layer, learner key, row name, fit records)`` per learner of every
    layer (per partition, for a layer fitted per partition), in learner
    order, named as the rows of ``ensemble.data_frame()``."""
    from .ensemble import _data_entries, _data_names
    from .metrics.utils import _has_partitions
    entries = [e for layer in ensemble.layers_
               for e in _data_entries(layer, base_only=False)]
    parted = _has_partitions(entries)  # as Data names the rows
    out = []
    for layer in ensemble.layers_:
        names = _data_names(layer)
        records = getattr(layer, "fit_records_", None) or []
        for lr in layer.learners:
            own = [r for r in records if r[0] == lr.key]
            for part in sorted({r[1] for r in own}) or [0]:
                name = names[lr.key] + ("--%d" % part if parted else "")
                out.append((layer, lr.key, name,
                            [r for r in own if r[1] == part]))
    return out


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
                            return_estimators=False, sample_weight=None,
                            greater_is_better=None):
    """Nested cross-validation of an ensemble, its base learners and the
    discrete Super Learner.

    Each outer fold fits a clone of ``ensemble`` on its training rows (with
    the ensemble's own inner folds) and scores, on its test rows, the
    ensemble, each base learner as the ensemble predicts with it (its fit
    on all the outer training rows; for a layer fitted with
    ``refit=False``, the average of its inner fold models) and the
    discrete Super Learner: the
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
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        A 2-D ``y`` as the ensemble's ``fit`` takes it (multi-output
        regression, multilabel classification).
    cv : int, splitter or iterable, default=5
        Outer folds, as in :func:`sklearn.model_selection.cross_validate`
        (an int gives ``StratifiedKFold`` for a classifier, ``KFold``
        otherwise).
    scoring : str, callable or None, default=None
        A scikit-learn scorer name, a scorer ``scorer(estimator, X, y)``
        (``sklearn.metrics.make_scorer``, ``get_scorer``), or a metric
        ``f(y_true, y_pred)`` called on ``predict``'s output, as
        :class:`mlcore.model_selection.Evaluator` takes it (a callable with
        two required arguments is read as a metric). None: accuracy for
        classification, R^2 for regression. Scores are always greater is
        better: a metric that is a loss is negated.
    groups : array-like of shape (n_samples,), optional
        Group labels, for the outer splitter and passed on to the
        ensemble's ``fit`` (inner splitters that take groups).
    return_estimators : bool, default=False
        Keep each outer fold's fitted ensemble.
    sample_weight : array-like of shape (n_samples,), optional
        Passed to the ensemble's ``fit`` with each outer fold's training
        rows, and to ``scoring`` with its test rows (the ensemble and the
        base learners) or its training rows (the inner scores of the
        discrete Super Learner).
    greater_is_better : bool or None, default=None
        For a metric ``f(y_true, y_pred)``: whether larger is better.
        None: True unless its name says it is a loss (``error``, ``loss``,
        ``mse``, ... in a name that does not end in ``score``), as for the
        Evaluator. Scorer objects and names are greater is better
        already.

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
    scorer = _get_scorer(scoring, classifier, greater_is_better,
                         "cross_validate_ensemble")
    X, y, groups = indexable(X, y, groups)
    sample_weight = _check_weights(sample_weight, y,
                                   "cross_validate_ensemble")
    splits = list(check_cv(cv, y, classifier=classifier).split(X, y, groups))
    template = clone(ensemble).set_params(verbose=False)
    data = (X, y, groups, sample_weight)
    calls = [partial(_outer_fold, clone(template), data, train, test,
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


def _check_weights(sample_weight, y, owner):
    """``sample_weight`` as a float array of one weight per row of ``y``
    (None stays None)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or len(w) != len(y):
        raise ValueError("%s: sample_weight must hold one weight per row of "
                         "y (%d), got shape %s" % (owner, len(y), w.shape))
    return w


def _get_scorer(scoring, classifier, greater_is_better=None,
                owner="scoring"):
    """A scikit-learn style scorer ``scorer(estimator, X, y[,
    sample_weight])``, greater is better, for ``scoring`` (None: accuracy
    or R^2); a metric ``f(y_true, y_pred)`` is wrapped by
    ``sklearn.metrics.make_scorer`` as the Evaluator reads it (a loss by
    its name, unless ``greater_is_better`` says)."""
    from sklearn.metrics import get_scorer, make_scorer
    from .metrics.metrics import is_estimator_scorer
    from .model_selection import _check_scorer
    if scoring is None:
        scoring = "accuracy" if classifier else "r2"
    if isinstance(scoring, str) or is_estimator_scorer(scoring):
        try:
            return _check_scorer(scoring, greater_is_better)[0]
        except ValueError as exc:  # a ValueError lists the valid names
            raise ValueError("%s: %s" % (owner, exc)) from exc
    if not callable(scoring):
        raise TypeError("%s: scoring must be a scorer name, a scorer "
                        "scorer(estimator, X, y), a metric f(y_true, "
                        "y_pred) or None; got %r (one metric only)"
                        % (owner, scoring))
    if not _is_metric(scoring):
        if greater_is_better is False:
            raise ValueError(
                "%s: greater_is_better=False is for a metric f(y_true, "
                "y_pred); a scorer(estimator, X, y) must return greater is "
                "better values (make_scorer(metric, greater_is_better=False)"
                " negates a loss)" % owner)
        return scoring
    metric, _, greater = _check_scorer(scoring, greater_is_better)
    return make_scorer(metric, greater_is_better=greater)


def _is_metric(func):
    """Whether the callable ``func`` reads as a metric ``f(y_true,
    y_pred)`` (two required positional arguments) rather than a scorer
    ``scorer(estimator, X, y)``."""
    import inspect
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY,
                  inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return False
    required = [p for p in params if p.kind in positional and
                p.default is inspect.Parameter.empty]
    return len(required) == 2


def score_with(scorer, estimator, X, y, sample_weight=None):
    """``scorer(estimator, X, y)`` as a float, with ``sample_weight`` when
    given."""
    if sample_weight is None:
        return float(scorer(estimator, X, y))
    return float(scorer(estimator, X, y, sample_weight=sample_weight))


def _outer_fold(model, data, train, test, scorer):
    """Fit ``model`` on one outer fold's training rows and score it and its
    base learners on the test rows (runs in a driver thread)."""
    from sklearn.utils import _safe_indexing
    X, y, groups, w = data
    Xtr, ytr = _safe_indexing(X, train), _safe_indexing(y, train)
    Xte, yte = _safe_indexing(X, test), _safe_indexing(y, test)
    wtr, wte = (None, None) if w is None else (w[train], w[test])
    params = {} if groups is None else {
        "groups": _safe_indexing(groups, train)}
    if wtr is not None:
        params["sample_weight"] = wtr
    model.fit(Xtr, ytr, **params)
    full = score_with(scorer, model, Xte, yte, wte)
    learners = base_learners(model)
    # the learners were fitted on the validated array, not on a DataFrame
    Xte = model._validate_X(Xte, reset=False)
    scores = _lockstep.dispatch([
        delayed(_score_learner)(name, scorer, est, Xte, yte, wte)
        for name, est in learners.items() if est is not None])
    scores = iter(scores)
    outer = {name: (next(scores) if est is not None else np.nan)
             for name, est in learners.items()}
    inner = inner_scores(model, np.asarray(ytr), scorer, wtr)
    return full, outer, inner, model


def _score_learner(name, scorer, estimator, X, y, sample_weight=None):
    """``scorer(estimator, X, y)`` as a float; a failure names the
    learner."""
    try:
        return score_with(scorer, estimator, X, y, sample_weight)
    except Exception as exc:
        raise LearnerError.from_exception(
            "learner %r failed while scoring the outer test rows: %s: %s"
            % (name, type(exc).__name__, exc), exc) from exc


def base_learners(model):
    """``{learner name: estimator}`` of the first layer of a fitted
    ensemble (names as in ``model.data``): each learner's fit on all rows
    (behind its fitted preprocessing, as a ``Pipeline``), or, for a layer
    fitted with ``refit=False``, the average of its fold models, as the
    layer predicts with them; None for a learner fitted per partition, or
    for a regressor in a classification ensemble (fitted on class
    positions, which a classification scorer cannot score)."""
    return {name: est for name, _, est in _first_layer(model)}


def _first_layer(model):
    """``(name, learner, estimator)`` of each first-layer learner, as
    :func:`base_learners` gives them."""
    from sklearn.pipeline import Pipeline
    from .ensemble import _data_names
    layer = model.layers_[0]
    names = _data_names(layer)
    classifier = getattr(model, "classes_", None) is not None
    out = []
    for lr in layer.learners:
        fits = [key for key in layer.estimators_ if key[0] == lr.key and
                key[2] == 0]
        est = layer.estimators_.get((lr.key, 0, 0))
        if not layer.refit:
            est = _fold_average(layer, lr)
        elif len(fits) != 1:
            est = None
        elif lr.preprocess is not None:
            steps = layer.pipelines_[(lr.preprocess, 0, 0)]
            est = Pipeline([("step%d" % i, s) for i, s in enumerate(steps)]
                           + [(lr.name, est)])
        if est is not None and classifier and is_regressor(
                est.estimators[0] if isinstance(est, _BagRegressor)
                else est):
            est = None
        out.append((names[lr.key], lr, est))
    return out


def _fold_average(layer, lr):
    """The learner ``lr`` of a layer fitted with ``refit=False`` as the
    layer predicts new data with it, the average of its fold models (None
    for a learner fitted per partition)."""
    splits = [s for g, group in enumerate(layer.groups)
              if lr in group.learners for s in layer.splits_[g]]
    if any(s.partition != 0 for s in splits):
        return None
    cls = _BagRegressor if layer.classes is None else _BagClassifier
    return cls(lr.key, [layer.estimators_[(lr.key, s.partition, s.fold)]
                        for s in splits],
               [layer._pipeline(lr, s) for s in splits], lr.proba,
               layer.classes, layer._width(lr, 1), layer.n_outputs)


class _BagRegressor(RegressorMixin, BaseEstimator):
    """The average of a learner's fold models, as a layer fitted with
    ``refit=False`` predicts with it (:func:`mlcore._subtasks._predict_bag`
    computes it), for a scikit-learn scorer."""

    def __init__(self, name, estimators, pipelines, proba, classes, width,
                 n_outputs):
        self.name, self.estimators, self.pipelines = name, estimators, \
            pipelines
        self.proba, self.classes, self.width = proba, classes, width
        self.n_outputs = n_outputs

    def _bag(self, X, proba, width):
        from ._subtasks import _predict_bag
        return _predict_bag(None, self.name, self.estimators, self.pipelines,
                            X, None, proba, self.classes, 0, True, 0, width,
                            n_outputs=self.n_outputs).prediction

    def predict(self, X):
        pred = self._bag(X, self.proba, self.width)
        return pred[:, 0] if pred.shape[1] == 1 else pred


class _BagClassifier(ClassifierMixin, _BagRegressor):
    """:class:`_BagRegressor` of a classifier: labels, and the average of
    the fold models' class probabilities."""

    @property
    def classes_(self):
        return self.classes

    def predict(self, X):
        block = self._bag(X, self.proba, self.width)
        if self.n_outputs > 1:  # one column per label: 0/1 or P(1)
            return self.classes[(block > 0.5).astype(np.intp)]
        pos = block.argmax(axis=1) if self.proba else block[:, 0]
        return self.classes[pos.astype(np.intp)]

    def _has_proba(self):
        return self.n_outputs == 1 and all(
            hasattr(est, "predict_proba") for est in self.estimators)

    @available_if(_has_proba)
    def predict_proba(self, X):
        return self._bag(X, True, len(self.classes))


def inner_scores(model, y, scorer, sample_weight=None):
    """``{learner name: score}``: ``scorer`` on each first-layer learner's
    out-of-fold predictions at fit (``model.oof_predictions_``), pooled
    over the folds (rows weighted by ``sample_weight``, the fit's); NaN
    where the scorer needs an output the learner did not pass on
    (probabilities from a learner added without ``proba=True``), or where
    :func:`base_learners` gives None."""
    from .ensemble import _output_rows
    layer = model.layers_[0]
    P = model.oof_predictions_[layer.name]
    rows = _output_rows(model.layers_[:1], len(y))
    if rows is not None:
        y = y[rows]
        sample_weight = None if sample_weight is None else \
            sample_weight[rows]
    classes = getattr(model, "classes_", None)
    n_outputs = getattr(model, "n_outputs_", 1)
    out = {}
    for name, lr, est in _first_layer(model):
        if est is None:
            out[name] = np.nan
            continue
        col = layer.columns_[lr.key]
        block = P[:, col:col + layer._width(lr, 1)]
        replay = (_ReplayClassifier.of_block(block, lr.proba, classes,
                                             n_outputs)
                  if classes is not None else _ReplayRegressor(block))
        try:
            out[name] = score_with(scorer, replay,
                                   np.arange(len(y))[:, None], y,
                                   sample_weight)
        except AttributeError:  # e.g. roc_auc on label predictions
            out[name] = np.nan
    return out


class _ReplayRegressor(RegressorMixin, BaseEstimator):
    """Gives a learner's stored predictions for row numbers ``X[:, 0]``,
    so that a scikit-learn scorer scores out-of-fold predictions (one
    column per output of a multi-output ``y``)."""

    def __init__(self, block):
        self.block = block

    def predict(self, X):
        pred = np.asarray(self.block[np.asarray(X)[:, 0]], dtype=float)
        return pred[:, 0] if pred.shape[1] == 1 else pred


class _ReplayClassifier(ClassifierMixin, BaseEstimator):
    """As :class:`_ReplayRegressor`, for a classifier: stored labels (for
    ``predict``) and, when there are any, class probabilities (for
    ``predict_proba``, columns in the order of ``classes``)."""

    def __init__(self, labels, proba, classes):
        self.labels, self.proba, self.classes = labels, proba, classes
        self.classes_ = classes

    @classmethod
    def of_block(cls, block, proba, classes, n_outputs=1):
        """The replay of a learner's block of a layer's output: its labels,
        or its class probabilities (``proba``) and the label of the largest
        one. For a multilabel ``y`` (``n_outputs > 1``) the block has one
        column per label, the label (0 or 1) or, with ``proba``, its
        probability of 1; it replays labels only."""
        if n_outputs > 1:
            block = np.asarray(block, dtype=float)
            return cls((block > 0.5 if proba else block).astype(np.intp),
                       None, classes)
        if proba:
            block = np.asarray(block, dtype=float)
            return cls(classes[block.argmax(axis=1)], block, classes)
        return cls(block[:, 0], None, classes)

    def predict(self, X):
        return self.labels[np.asarray(X)[:, 0]]

    @available_if(lambda self: self.proba is not None)
    def predict_proba(self, X):
        # only for learners that passed probabilities on
        return self.proba[np.asarray(X)[:, 0]]


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
