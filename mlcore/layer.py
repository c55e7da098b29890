"""The task graph: learners, preprocessing cases, groups and layers.

A :class:`Layer` is the task that :class:`mlcore.backend.ParallelProcessing`
runs. It owns one or more :class:`Group` objects, each an indexer (how the
rows are split into folds) with the :class:`Learner` objects and the
preprocessing cases (:class:`Transformer`) fitted on those folds.

Calling a layer runs two flat pools of subtasks (see
:mod:`mlcore._subtasks`) on the engine's ``parallel``:

1. every (preprocessing case x split) fit, when the layer has preprocessing;
2. every (learner x split) fit, full refits included, each writing its
   out-of-fold predictions in place into the layer's output array ``P``.

The engine decides where the subtasks run (see :mod:`mlcore._scheduler`);
the layer only says which process-wide resources they use, how many bytes
of input rows each works on, and whether its input is tiny.
"""
import numbers
from collections import namedtuple

import numpy as np

from . import _progress
from ._scheduler import exclusive_key, is_small
from ._spec import (ANY_CASE, check_name, estimators_by_case, mlens_names,
                    preprocessing_cases, unnamed_steps)
from ._store import cache_load
from ._tolerance import Dropped, Failure, Guarded, budget_for, check_budget
from ._subtasks import (SubResult, _fit_learner, _fit_pipeline,
                        _predict_bag, _predict_learner, harden, run, votes,
                        working_set)
from ._userwarnings import warn
from .backend import delayed
from .exceptions import (LayerSpecificationError, LearnerError,
                         LearnerFailedWarning, LearnerTypeError,
                         LearnerValueError, NotFittedError)
from .index import check_index
from .metrics import default_scorer

__all__ = ["Learner", "Transformer", "Group", "make_group", "Layer",
           "LenientScorer", "ScoreFailed",
           "KeptColumns",
           "LearnerError", "LearnerValueError", "LearnerTypeError",
           "SubResult"]


class Transformer(object):
    """A preprocessing case: transformers applied in order, fitted once per
    split and shared by every learner of the case.

    Parameters
    ----------
    steps : transformer or list of transformers
        scikit-learn style objects with ``fit``/``transform``, or
        ``(name, transformer)`` pairs (ML-Ensemble's named steps).
    name : str
        Case name.
    """

    def __init__(self, steps, name):
        steps = unnamed_steps(steps)
        for step in steps:
            if not hasattr(step, "transform"):
                raise LayerSpecificationError(
                    "preprocessing step %r has no transform method" % (step,))
        self.steps = steps
        self.name = check_name(name, "preprocessing case")

    def __repr__(self):
        return "Transformer(%r, steps=%r)" % (self.name, self.steps)


class Learner(object):
    """A base estimator of a layer.

    Parameters
    ----------
    estimator : estimator
        scikit-learn style object; cloned for every split.
    name : str
    preprocess : str, optional
        Name of the preprocessing case whose output it is fitted on.
    proba : bool
        Output class probabilities (one column per class) instead of
        predictions.
    """

    def __init__(self, estimator, name, preprocess=None, proba=False):
        if not hasattr(estimator, "fit"):
            raise LayerSpecificationError("%r has no fit method" % (estimator,))
        self.estimator = estimator
        self.name = check_name(name, "learner")
        self.preprocess = preprocess
        self.proba = bool(proba)

    @property
    def key(self):
        return self.name if self.preprocess is None else "%s__%s" % (
            self.preprocess, self.name)

    def __repr__(self):
        return "Learner(%r, %r, preprocess=%r, proba=%r)" % (
            self.name, self.estimator, self.preprocess, self.proba)


class Group(object):
    """An indexer with the learners and preprocessing cases fitted on its
    splits.

    Parameters
    ----------
    indexer : indexer, int or scikit-learn splitter
        See :func:`mlcore.index.check_index`.
    learners : list of Learner
    transformers : list of Transformer, optional
    name : str, optional
    """

    def __init__(self, indexer, learners, transformers=None, name=None):
        self.indexer = check_index(indexer)
        self.learners = list(learners)
        self.transformers = list(transformers or [])
        self.name = name
        cases = {t.name for t in self.transformers}
        for lr in self.learners:
            if lr.preprocess is not None and lr.preprocess not in cases:
                raise LayerSpecificationError(
                    "learner %r uses preprocessing case %r, which the group "
                    "does not define (cases: %s)"
                    % (lr.name, lr.preprocess, sorted(cases)))

    def __repr__(self):
        return "Group(%r, learners=%r, transformers=%r)" % (
            self.indexer, self.learners, self.transformers)


def make_group(indexer, estimators, preprocessing=None, learner_kwargs=None,
               transformer_kwargs=None, name=None):
    """Build a :class:`Group` from estimators and preprocessing.

    Parameters
    ----------
    indexer : indexer, int or scikit-learn splitter
    estimators : estimator, list, or dict
        A list of estimators (or ``(name, estimator)`` pairs); or a dict
        mapping preprocessing case names to such lists.
    preprocessing : list or dict, optional
        A list of transformers or ``(name, transformer)`` pairs (one case,
        applied to every learner), or a dict mapping case names to such
        lists.
    learner_kwargs : dict, optional
        Passed to every :class:`Learner` (e.g. ``proba=True``).
    transformer_kwargs : dict, optional
        Accepted for ML-Ensemble compatibility; unused.
    name : str, optional

    Returns
    -------
    Group
        The learners in ML-Ensemble's order, which is the order of their
        output columns: by name, and with a dict of estimators by
        ``'<case>__<name>'`` (the dict's key as given).
    """
    learner_kwargs = dict(learner_kwargs or {})
    several = isinstance(preprocessing, dict)
    transformers = [Transformer(steps, case) for case, steps in
                    preprocessing_cases(preprocessing or None)]
    keys = [str(k) for k in estimators] if isinstance(estimators, dict) \
        else [""]
    # ML-Ensemble numbers repeated names in the order of the sorted cases
    by_case = sorted(zip(keys, estimators_by_case(estimators)),
                     key=lambda entry: entry[0])
    names = mlens_names([ests for _, (_, ests) in by_case],
                        taken=[t.name for t in transformers])
    learners, order = [], []
    for (key, (case, _)), pairs in zip(by_case, names):
        if case is ANY_CASE:
            if several:
                raise LayerSpecificationError(
                    "with a dict of preprocessing cases, estimators must be "
                    "a dict mapping case names to estimators")
            case = transformers[0].name if transformers else None
        elif case is not None and not several:
            raise LayerSpecificationError(
                "estimators map to preprocessing case %r, but "
                "preprocessing is not a dict of cases" % case)
        for est_name, est in pairs:
            learners.append(Learner(est, est_name, preprocess=case,
                                    **learner_kwargs))
            order.append(est_name if not isinstance(estimators, dict) else
                         "%s__%s" % (key, est_name))
    flat = [lr.key for lr in learners]
    if len(set(flat)) != len(flat):
        raise LayerSpecificationError(
            "duplicate learner names: %s; name the estimators with "
            "(name, estimator) pairs" % sorted(flat))
    if not learners:
        raise LayerSpecificationError("a group needs at least one estimator")
    learners = [lr for _, lr in sorted(zip(order, learners),
                                       key=lambda pair: pair[0])]
    return Group(indexer, learners, transformers, name=name)


class ScoreFailed(object):
    """What :class:`LenientScorer` gives for a fold it could not score:
    the scorer's name, the error and the shape of the output it was given
    (a plain object, so that it comes back from worker processes)."""

    def __init__(self, scorer, exc, shape):
        self.scorer, self.shape = scorer, shape
        self.error = "%s: %s" % (type(exc).__name__, exc)

    def message(self, layer):
        return ("scorer %s failed on the output of the meta layer %s (%s, "
                "an array of shape %s), so the meta layer has no score: %s. "
                "As in ML-Ensemble, whose data has no meta layer row, the "
                "fit goes on; give the meta layer a scorer of its output "
                "with add_meta(..., scorer=...) to score it."
                % (self.scorer, layer, "class probabilities" if len(
                    self.shape) == 2 and self.shape[1] > 1 else
                   "predicted labels or values", self.shape, self.error))


class LenientScorer(default_scorer):
    """A meta layer's scorer: a :class:`mlcore.metrics.default_scorer`
    that gives a :class:`ScoreFailed` instead of raising when the user's
    scorer cannot score the meta learner's output (a scorer of the base
    learners' probabilities given the meta learner's labels, or the other
    way round). ML-Ensemble never failed a fit for that: its meta layer
    has no score.

    Parameters
    ----------
    scorer : mlcore.metrics.default_scorer
        The scorer of the ensemble, for the meta layer's classes.
    """

    def __init__(self, scorer):
        super().__init__(scorer.classification, scorer.scorer, scorer.classes,
                         proba=scorer.proba)

    def __call__(self, y, block):
        try:
            return super().__call__(y, block)
        except Exception as exc:
            return ScoreFailed(self.name, exc, np.shape(block))


###############################################################################
class FitContext(object):
    """Row bookkeeping shared by the layers of one ensemble call.

    ``params`` holds fit parameters aligned with the ensemble's input rows
    (``sample_weight``, ``groups``); ``rows`` maps the current layer's input
    rows to those rows (None: identity). Each layer updates ``rows`` for the
    next one when it shuffles or outputs fewer rows.
    """

    def __init__(self, params=None, n=None):
        self.params = {k: v for k, v in (params or {}).items() if v is not None}
        self.rows = None
        self.n = n

    def take(self, name):
        value = self.params.get(name)
        if value is None or self.rows is None:
            return value
        return value[self.rows]


class Layer(object):
    """One layer of an ensemble: the task the backend runs.

    Parameters
    ----------
    name : str
    groups : list of Group
    propagate_features : list of int, optional
        Input columns copied into the first columns of the output.
    shuffle : bool
        Shuffle the rows before fitting (the backend permutes them).
    random_state : int, optional
        Seed of the shuffle.
    dtype : numpy dtype
        dtype of the output array.
    scorer : callable, optional
        ``scorer(y_true, y_pred)`` for the fold predictions.
    classes : ndarray, optional
        Class labels (encoded) for probability outputs; set by the ensemble.
    refit : bool
        Fit each learner on all rows of its partition to predict new data.
        False: no such fit runs; new data is predicted with the average of
        the partition's fold models (class probabilities for classifiers).
    n_outputs : int
        Columns of ``y``: each learner writes one column per output (for a
        multilabel ``y``, labels 0 and 1, or with ``proba`` the probability
        of label 1).
    raise_on_exception : bool
        False: a learner that fails on any fold (an exception, output of
        the wrong shape, non-finite values, a fit over its time budget) is
        dropped from the layer with a
        :class:`mlcore.exceptions.LearnerFailedWarning`. The fit's output
        still has its columns (the engine allocated it before the fits):
        the ensembles run :class:`KeptColumns` next, which passes on the
        others only. The output of a full fit is checked on a sample of
        its training rows (it predicts none at fit time). A layer whose
        learners all fail raises LearnerError.
    max_fit_time : float, dict or None
        Seconds one subtask of a learner (its fit on a fold and the
        prediction of the fold's held-out rows) may take, and one fit of a
        preprocessing case; a dict gives them by learner name and by case
        name (learners and cases it does not name have no budget). A
        learner over its budget fails, and so do the learners of a case
        over its budget (see :mod:`mlcore._tolerance`).

    Attributes (after fit)
    ----------------------
    estimators_ : dict
        ``{(learner key, partition, fold): fitted estimator}``.
    pipelines_ : dict
        ``{(case, partition, fold): [fitted transformers]}``.
    splits_ : dict
        ``{group index: [Split]}``: the folds, generated once at fit
        (without the full fits when ``refit`` is False).
    scores_, fit_times_, predict_times_ : dict
        ``{learner key: [per split values]}``.
    fit_records_ : list of tuple
        ``(learner key, partition, fold, fit time, predict time, score)``
        of every fit, in the order of the splits.
    failed_learners_ : dict
        ``{learner key: why it failed}`` of the learners dropped at fit
        (``raise_on_exception=False``); they are no longer in ``groups``.
    kept_columns_ : list of int or None
        After a fit that dropped learners, the columns of the fit's output
        that the other learners (and the propagated features) wrote, in
        order; None when no learner was dropped.
    """

    __no_output__ = False
    # Defaults for layers pickled before these settings existed.
    refit = True
    n_outputs = 1
    # mlcore's protocol fixes (see mlcore.backend): keyword arguments
    # reach the layer, and its shuffled outputs come back in input order.
    forward_kwargs = True
    restore_order = True
    raise_on_exception = True
    max_fit_time = None
    kept_columns_ = None
    _dropped = None

    def __init__(self, name, groups=None, propagate_features=None,
                 shuffle=False, random_state=None, dtype=np.float64,
                 scorer=None, classes=None, verbose=0, refit=True,
                 n_outputs=1, raise_on_exception=True, max_fit_time=None):
        self.name = check_name(name, "layer")
        self.raise_on_exception = bool(raise_on_exception)
        self.max_fit_time = check_budget(max_fit_time)
        self.refit = bool(refit)
        self.n_outputs = int(n_outputs)
        self.groups = list(groups or [])
        self.propagate_features = (None if propagate_features is None
                                   else list(propagate_features))
        self.shuffle = bool(shuffle)
        self.random_state = random_state
        self.dtype = np.dtype(dtype)
        self.scorer = scorer
        self.classes = classes
        self.verbose = verbose
        self.context = None
        self.proba_override = None
        self.handback = False

    # -- protocol -----------------------------------------------------------
    @property
    def n_feature_prop(self):
        return 0 if not self.propagate_features else len(self.propagate_features)

    @property
    def learners(self):
        return [lr for g in self.groups for lr in g.learners]

    def _proba(self, learner):
        if self.proba_override is not None:
            return self.proba_override
        return learner.proba

    def _width(self, learner, partitions):
        if self.n_outputs > 1:
            return partitions * self.n_outputs
        mult = len(self.classes) if self._proba(learner) else 1
        return partitions * mult

    def setup(self, X, y, job):
        """Fit the indexers (fit) and assign output columns."""
        if not self.groups:
            raise LayerSpecificationError("layer %r has no estimators" % self.name)
        n = X.shape[0]
        ctx = self.context
        if job == "fit":
            if self.shuffle and ctx is not None and ctx.params:
                if not isinstance(self.random_state, (numbers.Integral, np.integer)):
                    raise LayerSpecificationError(
                        "shuffle with fit parameters needs an int random_state")
                perm = np.random.RandomState(self.random_state).permutation(n)
                ctx.rows = perm if ctx.rows is None else ctx.rows[perm]
            groups = ctx.take("groups") if ctx is not None else None
            self.splits_ = {}
            offsets, n_test = set(), set()
            for g_idx, group in enumerate(self.groups):
                group.indexer.fit(X, y, job="fit", groups=groups)
                self.splits_[g_idx] = self._fits(group.indexer)
                offsets.add(group.indexer.row_offset)
                n_test.add(group.indexer.n_test_samples)
            if len(offsets) != 1 or len(n_test) != 1:
                raise LayerSpecificationError(
                    "the groups of layer %r predict different rows at fit "
                    "time (row offsets %s, rows %s): use one indexer per layer"
                    % (self.name, sorted(offsets), sorted(n_test)))
            self._fit_offset = offsets.pop()
            self._fit_rows = n_test.pop()
            self._n_fit = n
        elif not hasattr(self, "splits_"):
            raise NotFittedError("layer %r is not fitted" % self.name)
        if job == "transform" and n != self._n_fit:
            raise ValueError("transform replays the fit-time predictions: X "
                             "must be the training data (%d rows), got %d rows"
                             % (self._n_fit, n))
        self._check_propagation(X)
        self._n_in = n
        self._job = job
        self._set_columns()

    def _set_columns(self):
        """The first output column of every learner, and the width."""
        col = self.n_feature_prop
        self.columns_ = {}
        for group in self.groups:
            partitions = group.indexer.partitions
            for lr in group.learners:
                self.columns_[lr.key] = col
                col += self._width(lr, partitions)
        self._n_cols = col

    def _fits(self, indexer):
        """The splits of ``indexer`` this layer fits: all of them, or
        without ``refit`` only the fold fits, each partition's full fit
        being replaced by the average of its fold models."""
        splits = list(indexer.generate())
        if self.refit:
            return splits
        for part in range(indexer.partitions or 1):
            own = [s for s in splits if s.partition == part]
            if any(s.fold == 0 and s.test is not None for s in own) or \
                    not any(s.fold for s in own):
                raise LayerSpecificationError(
                    "layer %r has refit=False, which predicts new data with "
                    "the average of the fold models, but its indexer %r has "
                    "no fold models to average: its one fit per partition "
                    "is also the one that predicts (a blend or a full "
                    "layer). Use refit=False on layers with folds."
                    % (self.name, indexer))
        return [s for s in splits if s.fold != 0]

    def _repeats(self):
        """How many fold fits predict each row at fit time (a layer of
        repeated folds averages them)."""
        return max(getattr(g.indexer, "n_repeats", 1) for g in self.groups)

    def _check_propagation(self, X):
        """Raise before any fit when the output's dtype cannot hold the
        propagated input columns: a cast that would drop imaginary parts,
        truncate floats to integers or overflow a narrower float."""
        if not self.n_feature_prop:
            return
        dtype = getattr(X, "dtype", None)
        if dtype is None:
            return
        if not np.can_cast(dtype, self.dtype, "same_kind"):
            raise LayerSpecificationError(
                "layer %r propagates input columns of dtype %s into an "
                "output of dtype %s, which cannot hold them: use a float "
                "dtype at least as wide as the input's"
                % (self.name, dtype, self.dtype))
        if self.dtype.kind == "f" and dtype.kind == "f" and \
                self.dtype.itemsize < dtype.itemsize:
            if hasattr(X, "tocsr"):
                cols = np.asarray(self.propagate_features)
                data = X.tocsc()[:, cols].data
            else:
                data = np.asarray(X)[:, self.propagate_features]
            top = np.finfo(self.dtype).max
            if data.size and np.nanmax(np.abs(data)) > top:
                raise LayerSpecificationError(
                    "layer %r propagates input values up to %r, beyond the "
                    "largest %s value (%r) of its output: use a wider dtype"
                    % (self.name, float(np.nanmax(np.abs(data))), self.dtype,
                       float(top)))

    def shape(self, job):
        rows = self._n_in if job == "predict" else self._fit_rows
        return (rows, self._n_cols)

    def row_offset(self, job):
        return 0 if job == "predict" else self._fit_offset

    # -- running ------------------------------------------------------------
    def __call__(self, args, parallel):
        job = args["job"]
        if job == "fit":
            return self._fit(args, parallel)
        return self._predict(args, parallel, job)

    def _inputs(self, args):
        """X, y, P and the cache of a call, and what the subtasks get of P
        and the cache: nothing in hand-back mode (the engine asks for it on
        a distributed backend), where they return their results."""
        main = args["main"]
        handback = self.handback or bool(args.get("handback", False))
        P, cache = main["P"], args["dir"]
        return _Inputs(main["X"], main.get("y"), P, cache, handback,
                       None if handback else P, None if handback else cache)

    def _learner_splits(self):
        """(learner, split, first output column) of every learner fit."""
        for g_idx, group in enumerate(self.groups):
            for lr in group.learners:
                col0, width = self.columns_[lr.key], self._width(lr, 1)
                for s in self.splits_[g_idx]:
                    yield lr, s, col0 + s.partition * width

    def _pipeline(self, lr, s):
        if lr.preprocess is None:
            return None
        return self.pipelines_[(lr.preprocess, s.partition, s.fold)]

    def _key(self, name, s):
        return "%s.%s.%d.%d" % (self.name, name, s.partition, s.fold)

    def _fit(self, args, parallel):
        inp = self._inputs(args)
        small = is_small(inp.X)
        self._expect_fits()
        self.failed_learners_, self.kept_columns_ = {}, None
        try:
            self._fit_pipelines(parallel, inp, small)
            self._fit_learners(parallel, inp, small)
        finally:
            self._dropped = None
        self._drop_failed()
        self._update_context()

    def _guard(self, job, kind, name, s, budget=None):
        """``job`` as it runs when failures are tolerated or fits have a
        time budget (see :class:`mlcore._tolerance.Guarded`). Tolerated
        failures include a full fit that cannot predict: its output is
        checked on a sample of its training rows."""
        if self.raise_on_exception and budget is None:
            return job
        func, args, kwargs = job
        full = s.test is None
        check = not self.raise_on_exception and kind == "learner" and full
        return (Guarded(func, self._key(name, s), kind, name, s.partition,
                        s.fold, not self.raise_on_exception, budget,
                        self._dropped, full=full, check=check), args, kwargs)

    def _fold_failures(self, results, names):
        """Record in ``failed_learners_`` the first failure of each learner
        among ``results``; ``names`` maps a result's name to the learners
        it fails (a preprocessing case fails all of its learners)."""
        for res in results:
            if not isinstance(res, Failure) or res.reason is None:
                continue
            for key in names(res.name):
                self.failed_learners_.setdefault(key, res.reason)

    def _expect_fits(self):
        """Tell a progress display how many fits this layer will run."""
        progress = _progress.current()
        if progress is not None:
            n_pipe = sum(len(group.transformers) * len(self.splits_[g])
                         for g, group in enumerate(self.groups))
            progress.expect(n_pipe + sum(1 for _ in self._learner_splits()))

    def _fit_pipelines(self, parallel, inp, small):
        """Every (preprocessing case x split) fit; sets ``pipelines_``."""
        self._dropped = Dropped()
        fits = [(tr, s) for g_idx, group in enumerate(self.groups)
                for tr in group.transformers for s in self.splits_[g_idx]]
        jobs = [self._guard(delayed(_fit_pipeline)(
                    self._key("%s.__pipe__" % tr.name, s), tr.name, tr.steps,
                    inp.X, inp.y, s.train, s.partition, s.fold,
                    inp.cache_sub, None, inp.handback, full=s.test is None),
                    "preprocessing case", tr.name, s,
                    budget_for(self.max_fit_time, tr.name, tr.name))
                for tr, s in fits]
        self.pipelines_ = {}
        results = run(parallel, jobs, small=small, sizes=[
            working_set(inp.X, s.train) for _, s in fits])
        self._fold_failures(results, lambda case: [
            lr.key for lr in self.learners if lr.preprocess == case])
        for res in results:
            if isinstance(res, Failure):
                continue
            fitted = res.estimator if inp.handback else cache_load(inp.cache,
                                                                  res.key)
            self.pipelines_[(res.name, res.partition, res.fold)] = fitted

    def _fit_learners(self, parallel, inp, small):
        """Every (learner x split) fit, full refits included; sets
        ``estimators_`` and the scores and times."""
        self._dropped = Dropped()
        ctx = self.context
        params = {}
        if ctx is not None and "sample_weight" in ctx.params:
            params["sample_weight"] = ctx.take("sample_weight")
        keep = self._repeats() > 1
        jobs, targets, keys, sizes = [], [], [], []
        for lr, s, col in self._learner_splits():
            if lr.key in self.failed_learners_:
                continue  # its preprocessing failed
            out_rows = None if s.test is None else _shift(s.test,
                                                          self._fit_offset)
            targets.append((out_rows, col))
            keys.append(exclusive_key(lr.estimator))
            sizes.append(working_set(inp.X, s.train))
            jobs.append(self._guard(delayed(_fit_learner)(
                self._key(lr.key, s), lr.key, lr.estimator,
                self._pipeline(lr, s), inp.X, inp.y, s.train, s.test,
                inp.P_sub, out_rows, col, self._proba(lr), self.classes,
                self.scorer, params, inp.cache_sub, s.partition, s.fold,
                inp.handback, width=self._width(lr, 1), dtype=self.dtype,
                n_outputs=self.n_outputs, keep=keep), "learner", lr.key, s,
                budget_for(self.max_fit_time, lr.key, lr.name)))
        results = run(parallel, jobs, keys=keys, small=small, sizes=sizes)
        self._fold_failures(results, lambda key: [key])
        # the fits of failed learners are left out, as if never added
        kept = [(res, target) for res, target in zip(results, targets)
                if res.name not in self.failed_learners_]
        results = [res for res, _ in kept]
        targets = [target for _, target in kept]
        self.estimators_ = {}
        self.scores_, self.fit_times_, self.predict_times_ = {}, {}, {}
        self.fit_records_ = []
        failed = [res.score for res in results
                  if isinstance(res.score, ScoreFailed)]
        results = [res._replace(score=None)
                   if isinstance(res.score, ScoreFailed) else res
                   for res in results]
        for res, target in zip(results, targets):
            self._record_fit(res, target, inp, write=not keep)
        if failed:
            warn(failed[0].message(self.name), UserWarning)
        if keep:
            self._write_average(inp, results, targets)

    def _write_average(self, inp, results, targets):
        """Write the average of the repeated folds' predictions of every
        row into ``P``: the blocks are summed in fold order, in float64,
        and divided by the number of repeats; classifiers that pass on
        labels average class probabilities (see
        :func:`mlcore._subtasks.harden`)."""
        sums = {}
        for res, (out_rows, col) in zip(results, targets):
            if res.prediction is None:
                continue
            block = sums.get(col)
            if block is None:
                block = sums[col] = np.zeros(
                    (self._fit_rows, res.prediction.shape[1]))
            block[out_rows] += res.prediction
        learner_at = {col: lr for lr, _, col in self._learner_splits()}
        repeats = self._repeats()
        for col, total in sums.items():
            lr = learner_at[col]
            avg = total / repeats
            est = next(est for (key, _, _), est in self.estimators_.items()
                       if key == lr.key)
            if votes(est, self._proba(lr), self.classes):
                avg = harden(avg, self.n_outputs)
            inp.P[:, col:col + avg.shape[1]] = avg

    def _drop_failed(self):
        """Take the learners that failed at this fit out of the layer, with
        a warning each; set ``kept_columns_`` to the output columns of the
        others."""
        failed = self.failed_learners_
        if not failed:
            return
        if all(lr.key in failed for lr in self.learners):
            raise LearnerError(
                "every learner of layer %r failed, and a layer needs at "
                "least one (raise_on_exception=False drops failing "
                "learners): %s" % (self.name, "; ".join(
                    failed[lr.key] for lr in self.learners)))
        self._warn_dropped()
        kept = list(range(self.n_feature_prop))
        for group in self.groups:
            partitions = group.indexer.partitions
            for lr in group.learners:
                if lr.key not in failed:
                    start = self.columns_[lr.key]
                    kept.extend(range(start,
                                      start + self._width(lr, partitions)))
            group.learners = [lr for lr in group.learners
                              if lr.key not in failed]
        self.kept_columns_ = kept
        self._set_columns()

    def _warn_dropped(self):
        """One LearnerFailedWarning per cause: a learner's own failure, or
        that of a preprocessing case, naming every learner it drops."""
        failed, causes = self.failed_learners_, {}
        for lr in self.learners:
            if lr.key in failed:
                causes.setdefault(failed[lr.key], []).append(lr)
        for reason, lrs in causes.items():
            case = lrs[0].preprocess
            if case is not None and reason.startswith(
                    "preprocessing case %r" % case):
                what = "Its learners %s are" % ", ".join(
                    repr(lr.key) for lr in lrs) if len(lrs) > 1 else \
                    "Its learner %r is" % lrs[0].key
            else:
                what = "The learner is"
            warn("layer %r: %s. %s dropped from the layer "
                 "(raise_on_exception=False)."
                 % (self.name, reason.rstrip("."), what), LearnerFailedWarning)

    def _record_fit(self, res, target, inp, write=True):
        est = res.estimator if inp.handback else cache_load(inp.cache, res.key)
        self.estimators_[(res.name, res.partition, res.fold)] = est
        if write:
            _write_back(inp, res, target)
        self.fit_records_.append(tuple(res[2:8]))
        self.fit_times_.setdefault(res.name, []).append(res.fit_time)
        if res.fold != 0 or res.score is not None:
            self.predict_times_.setdefault(res.name, []).append(
                res.predict_time)
        if res.score is not None:
            self.scores_.setdefault(res.name, []).append(res.score)

    def _update_context(self):
        """Tell the next layer which ensemble rows this layer output."""
        ctx = self.context
        if ctx is None:
            return
        rows, offset, n_out = ctx.rows, self._fit_offset, self._fit_rows
        if rows is None and (offset or n_out != self._n_in):
            rows = np.arange(ctx.n if ctx.n is not None else self._n_in)
        if rows is not None:
            ctx.rows = rows[offset:offset + n_out]

    def _predict(self, args, parallel, job):
        inp = self._inputs(args)
        if job == "predict" and not self.refit:
            return self._predict_bags(inp, parallel)
        offset = 0 if job == "predict" else self._fit_offset
        keep = job != "predict" and self._repeats() > 1
        jobs, targets = [], []
        for lr, s, col in self._learner_splits():
            if job == "predict":
                if s.fold != 0:
                    continue
                rows, out_rows = None, slice(None)
            else:
                if s.test is None:
                    continue
                rows, out_rows = s.test, _shift(s.test, offset)
            targets.append((out_rows, col))
            jobs.append(delayed(_predict_learner)(
                self._key(lr.key, s), lr.key,
                self.estimators_[(lr.key, s.partition, s.fold)],
                self._pipeline(lr, s), inp.X, rows, inp.P_sub, out_rows, col,
                self._proba(lr), self.classes, s.partition, s.fold, job,
                inp.handback, width=self._width(lr, 1), dtype=self.dtype,
                n_outputs=self.n_outputs, keep=keep))
        results = run(parallel, jobs, small=is_small(inp.X))
        if keep:
            return self._write_average(inp, results, targets)
        for res, target in zip(results, targets):
            _write_back(inp, res, target)

    def _predict_bags(self, inp, parallel):
        """Predict new data with the average of each partition's fold
        models (a layer fitted with ``refit=False``): one subtask per
        learner and partition."""
        bags = {}
        for lr, s, col in self._learner_splits():
            bag = bags.setdefault((lr.key, s.partition), (lr, col, [], []))
            bag[2].append(self.estimators_[(lr.key, s.partition, s.fold)])
            bag[3].append(self._pipeline(lr, s))
        jobs, targets = [], []
        for (key, part), (lr, col, ests, pipes) in bags.items():
            targets.append((slice(None), col))
            jobs.append(delayed(_predict_bag)(
                "%s.%s.%d.bag" % (self.name, key, part), key, ests, pipes,
                inp.X, inp.P_sub, self._proba(lr), self.classes, part,
                inp.handback, col, self._width(lr, 1), dtype=self.dtype,
                n_outputs=self.n_outputs))
        for res, target in zip(run(parallel, jobs, small=is_small(inp.X)),
                               targets):
            _write_back(inp, res, target)

    # -- reporting ----------------------------------------------------------
    def data(self):
        """Per-learner CV score and fit/predict times (mean, std)."""
        rows = {}
        for lr in self.learners:
            entry = {}
            for label, values in (("score", self.scores_.get(lr.key)),
                                  ("fit_time", self.fit_times_.get(lr.key)),
                                  ("predict_time",
                                   self.predict_times_.get(lr.key))):
                if values:
                    entry[label + "-m"] = float(np.mean(values))
                    entry[label + "-s"] = float(np.std(values))
            rows[lr.key] = entry
        return rows


class KeptColumns(object):
    """The task an ensemble runs after a layer whose fit dropped learners:
    it passes on that layer's output without their columns.

    The engine allocated the layer's output before its fits ran, so the
    columns of the dropped learners are in it. This task copies the others
    (``layer.kept_columns_``) as its propagated features, which the engine
    does for dense and sparse outputs alike; its own output is then what
    the layer would have output had the learners never been added.

    Parameters
    ----------
    layer : Layer
        A layer just fitted, with ``kept_columns_`` set.
    """

    __no_output__ = False
    shuffle = False
    handback = False  # no subtasks: runs on every backend
    row_offset = 0
    # its input holds the layer's rows in the order the layer worked in
    # (shuffled, with ``shuffle``): like the layer, it hands them back in
    # the caller's order
    restore_order = True

    def __init__(self, layer):
        self.name = layer.name
        self.dtype = layer.dtype
        self.propagate_features = list(layer.kept_columns_)
        self._rows = None

    @property
    def n_feature_prop(self):
        return len(self.propagate_features)

    def setup(self, X, y, job):
        self._rows = X.shape[0]

    def shape(self, job):
        return (self._rows, len(self.propagate_features))

    def __call__(self, args, parallel):
        """Nothing to run: the engine copies the kept columns."""


def _shift(rows, offset):
    """Output rows of input rows ``rows`` (a slice or an index array)."""
    if not offset:
        return rows
    if isinstance(rows, slice):
        return slice(rows.start - offset, rows.stop - offset)
    return rows - offset


_Inputs = namedtuple("_Inputs", "X y P cache handback P_sub cache_sub")


def _write_back(inp, res, target):
    """Write a handed-back prediction block into ``P``."""
    if inp.handback and res.prediction is not None:
        out_rows, col = target
        inp.P[out_rows, col:col + res.prediction.shape[1]] = res.prediction
