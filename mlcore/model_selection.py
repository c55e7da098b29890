"""Model selection: cross-validated randomized search over estimators and
preprocessing cases, run on :class:`mlcore.backend.ParallelEvaluation`.

The successor of ``mlens.model_selection``. :class:`Evaluator` scores every
``(preprocessing case, estimator, parameter draw)`` on the folds of an
indexer; :class:`Benchmark` (and :func:`benchmark`) does the same with
default parameters only. :class:`BaseEval`, their base class, and the
module path ``mlcore.model_selection.model_selection`` are ML-Ensemble's,
kept for compatibility.

How a fit runs
--------------
1. The driver validates the specification and draws the parameters (seeded
   from ``random_state``, so a fixed seed gives the same draws).
2. :meth:`ParallelEvaluation.process` permutes the rows when ``shuffle`` is
   set (``check_random_state(random_state).permutation(n)``), fits the
   evaluator's indexer on the permuted data and calls
   ``evaluator(parallel, args, case)``.
3. Phase 1, one flat pool: every ``(case, fold)`` preprocessing pipeline is
   fitted once on the fold's training rows and stored in the estimation cache
   ``args['dir']`` (a list in memory, or pickle files in a directory for
   process backends).
4. Phase 2, one flat pool: every ``(case, estimator, draw, fold)`` fit loads
   its fold's fitted pipeline from the cache, fits a clone of the estimator
   with the draw's parameters on the transformed training rows and scores the
   test and training rows.

Subtasks are module-level functions, so process backends (``'loky'``,
``'multiprocessing'``) can pickle them; the inputs reach those workers as
memory-mapped files.

Differences from ML-Ensemble
----------------------------
* ``shuffle`` and ``random_state`` are honoured (ML-Ensemble's engine
  ignored them, so the default ``shuffle=True`` never shuffled).
* ``scorer`` may be a plain function ``f(y_true, y_pred)``, a scikit-learn
  scorer object (``sklearn.metrics.make_scorer``/``get_scorer``) or a scorer
  name (ML-Ensemble accepted only its vendored ``make_scorer``).
* Any scikit-learn splitter can be the ``cv``, including ones whose test sets
  overlap or leave rows out (``ShuffleSplit``, ``RepeatedKFold``).
* A failing fit either raises an error naming the estimator, draw and fold,
  or, with ``error_score`` set, records ``error_score`` with a warning.
"""
import numbers
import re
import time
import warnings

import numpy as np

from . import _progress
from ._scheduler import exclusive_key, is_small
from ._spec import (ANY_CASE, check_name, estimators_by_case, is_pair,
                    named, preprocessing_cases, unnamed_steps)
from ._compat import submodule
from ._store import share
from ._subtasks import _evaluate_draw, _fit_preprocessing, run
from .backend import ParallelEvaluation, delayed
from .exceptions import LayerSpecificationError
from .index import BaseIndex, SplitterIndex, check_index
from .metrics import Data
from .metrics.metrics import is_estimator_scorer

__all__ = ["BaseEval", "Evaluator", "Benchmark", "benchmark"]

try:  # scikit-learn is needed to fit, but not to import this module
    from sklearn.exceptions import FitFailedWarning
except ImportError:  # pragma: no cover
    class FitFailedWarning(RuntimeWarning):
        """An estimator failed to fit on a fold; error_score was recorded."""

# How a metric's name tells a loss: scikit-learn's naming, ``*_score`` for
# scores (d2_absolute_error_score, d2_log_loss_score included) and
# ``*_error``, ``*_loss``, ``*_deviance`` for losses; then the words of
# error measures anywhere in the name (mlcore's rmse, mape, wape).
_SCORE_NAME = re.compile(r"(^|_)score$", re.IGNORECASE)
_LOSS_NAME = re.compile(r"(error|loss|rmse|mse|mae|mape|wape|deviance)",
                        re.IGNORECASE)


def is_loss_name(name):
    """Whether a metric named ``name`` is a loss (smaller is better): not
    for a name ending in ``score``, else for a name with ``error``,
    ``loss``, ``rmse``, ``mse``, ``mae``, ``mape``, ``wape`` or
    ``deviance`` in it."""
    return not _SCORE_NAME.search(name) and bool(_LOSS_NAME.search(name))

_FIELDS = ("test_score", "train_score", "fit_time", "pred_time")


###############################################################################
# Scorers

def _check_scorer(scorer, greater_is_better):
    """Return ``(scorer, kind, greater_is_better)``.

    ``kind`` is ``'estimator'`` for ``scorer(estimator, X, y)`` objects and
    ``'function'`` for ``f(y_true, y_pred)``.
    """
    if isinstance(scorer, str):
        from sklearn.metrics import get_scorer
        scorer = get_scorer(scorer)
    if is_estimator_scorer(scorer):
        if greater_is_better is False:
            raise ValueError(
                "scikit-learn scorer objects are always 'greater is better' "
                "(losses are negated by make_scorer(greater_is_better=False)); "
                "leave greater_is_better as None or True with %r" % (scorer,))
        return scorer, "estimator", True
    if not callable(scorer):
        raise TypeError("scorer must be a function f(y_true, y_pred), a "
                        "scikit-learn scorer object or a scorer name, got %r"
                        % (scorer,))
    if greater_is_better is None:
        name = getattr(scorer, "__name__", type(scorer).__name__)
        greater_is_better = not is_loss_name(name)
    return scorer, "function", bool(greater_is_better)


###############################################################################
# Aggregation metrics

_SUFFIX = {"mean": "m", "nanmean": "m", "std": "s", "nanstd": "s"}


def _check_metrics(metrics):
    """Return ``[(suffix, function)]``: by default mean (``-m``) and standard
    deviation (``-s``)."""
    if metrics is None:
        return [("m", np.mean), ("s", np.std)]
    if isinstance(metrics, dict):
        items = list(metrics.items())
    else:
        if callable(metrics):
            metrics = [metrics]
        items = []
        for fn in metrics:
            name = getattr(fn, "__name__", None)
            if not name:
                raise ValueError("metric %r has no __name__; pass a dict "
                                 "{suffix: function}" % (fn,))
            items.append((_SUFFIX.get(name, name), fn))
    out, seen = [], set()
    for suffix, fn in items:
        if not isinstance(suffix, str) or not suffix:
            raise ValueError("metric suffixes must be non-empty str, got %r"
                             % (suffix,))
        if not callable(fn):
            raise TypeError("metric %r is not callable" % (fn,))
        if suffix in seen:
            raise ValueError("duplicate metric suffix %r" % suffix)
        seen.add(suffix)
        out.append((suffix, fn))
    if not out:
        raise ValueError("metrics is empty")
    return out


###############################################################################
# Indexing helpers

class _EvalSplitterIndex(SplitterIndex):
    """:class:`SplitterIndex` for evaluation: every split of the splitter is
    kept, even when test sets overlap (``ShuffleSplit``, ``RepeatedKFold``)
    or leave rows out, since evaluation writes no out-of-fold predictions."""

    _out_of_fold = False


def _make_eval_index(cv):
    if (not isinstance(cv, (BaseIndex, type)) and cv is not None
            and not isinstance(cv, (numbers.Integral, str))
            and callable(getattr(cv, "split", None))):
        return _EvalSplitterIndex(cv)
    return check_index(cv)


def _scalar(value):
    """A numpy scalar (or 0-d array) as the equivalent Python scalar."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray)
                                         and value.ndim == 0):
        return value.item()
    return value


###############################################################################
class BaseEval(object):
    """The base class of :class:`Evaluator` and :class:`Benchmark`
    (ML-Ensemble's ``mlens.model_selection.BaseEval``).

    Kept for compatibility, for code that checks
    ``isinstance(obj, BaseEval)`` or subclasses it to hold the settings
    below; it runs nothing itself. New code uses :class:`Evaluator` or
    :class:`Benchmark` (or :func:`benchmark`).

    Parameters
    ----------
    verbose : bool or int, default=False
    array_check : None
        Deprecated in ML-Ensemble and ignored; any other value than None
        gives a DeprecationWarning, as it did there.
    backend : str, optional
        Joblib backend; None: :func:`mlcore.config.get_backend` when work
        runs.
    n_jobs : int, default=-1
    dtype : numpy dtype, optional
        None: :func:`mlcore.config.get_dtype` (ML-Ensemble's setting; the
        evaluators' scores are Python floats).
    raise_on_exception : bool, default=True
    """

    def __init__(self, verbose=False, array_check=None, backend=None,
                 n_jobs=-1, dtype=None, raise_on_exception=True):
        if array_check is not None:
            warnings.warn("array_check is deprecated and has no effect",
                          DeprecationWarning, stacklevel=2)
        self.verbose = verbose
        self.backend = backend
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.raise_on_exception = raise_on_exception


class Evaluator(BaseEval):
    """Cross-validated randomized search over estimators and preprocessing
    cases.

    Parameters
    ----------
    scorer : callable or str
        A function ``f(y_true, y_pred)`` applied to ``estimator.predict``; a
        scikit-learn scorer object (``sklearn.metrics.make_scorer``,
        ``get_scorer``), called as ``scorer(estimator, X, y)``; or a
        scikit-learn scorer name such as ``'accuracy'``.
    cv : int, indexer or scikit-learn splitter, default=2
        An int ``k`` gives ``FoldIndex(k)`` (contiguous folds like
        ``KFold(k)`` on the rows as the evaluator sees them, i.e. after the
        shuffle); an indexer of :mod:`mlcore.index` is used as is (its splits
        with test rows are the folds); any object with a ``split`` method
        (``KFold``, ``StratifiedKFold``, ``ShuffleSplit``, ...) is used as
        is, overlapping test sets included.
    shuffle : bool, default=True
        Permute the rows before splitting, with
        ``check_random_state(random_state).permutation(n)`` (done by
        :class:`~mlcore.backend.ParallelEvaluation`).
    random_state : int, RandomState or None
        Seed of the shuffle and of the parameter draws. A fixed int gives
        the same folds and draws on every fit, and the draws of
        ML-Ensemble's Evaluator: each parameter's ``n_iter`` values are
        drawn with ``dist.rvs(size=n_iter, random_state=random_state)``,
        so with an int two parameters of the same distribution get the
        same values (pass ``numpy.random.RandomState(seed)`` to draw them
        from one stream instead, one parameter after the other).
    error_score : float or None, default=None
        None: a failing fit raises :class:`mlcore.layer.LearnerError` naming
        the estimator, the draw and the fold. Otherwise the failed fold is
        recorded with this test and train score (times NaN) and a
        ``FitFailedWarning`` is issued.
    metrics : None, list of callables or dict, default=None
        Aggregates of the per-fold values: by default ``np.mean`` (column
        suffix ``-m``) and ``np.std`` (``-s``). A list of functions uses
        their names as suffixes (``mean`` -> ``m``, ``std`` -> ``s``); a dict
        maps suffixes to functions. The best draw is always chosen by the
        mean test score.
    verbose : bool or int, default=False
        Print progress to stdout (to stderr with ``verbose >= 20``, as in
        ML-Ensemble); ``>= 10`` also makes joblib verbose.
    backend : str, optional
        Joblib backend (``'threading'`` by default, from
        :func:`mlcore.config.get_backend`; ``'loky'``, ``'multiprocessing'``,
        ``'sequential'``).
    n_jobs : int, default=-1
        Number of workers.
    greater_is_better : bool or None, default=None
        Whether a higher score is better, used to pick the best draw. For
        scikit-learn scorer objects always True (they negate losses). For a
        plain function None means True unless its name says it is a loss:
        a name that does not end in ``score`` (scikit-learn's
        ``d2_absolute_error_score`` is a score) and contains ``error``,
        ``loss``, ``rmse``, ``mse``, ``mae``, ``mape``, ``wape`` or
        ``deviance``; set it to be explicit.

    Attributes (after fit)
    ----------------------
    results : mlcore.metrics.Data
        ML-Ensemble's table of the best draw of each ``'case.est'``
        (``'est'`` without preprocessing): columns ``test_score-m``,
        ``test_score-s``, ``train_score-m``, ``train_score-s``,
        ``fit_time-m``, ``fit_time-s``, ``pred_time-m``, ``pred_time-s``
        (one per metric suffix) and ``params``, each a dict of rows:
        ``results['test_score-m']['sc.ridge']``. ``pred_time`` is the time
        to score the test rows; ``results.to_frame()`` (or
        ``pandas.DataFrame(results)``) has one row per estimator.
    cv_results_ : list of dict
        One record per ``(name, draw)``: ``name``, ``case``, ``estimator``,
        ``draw``, ``params``, per-fold lists ``test_score``,
        ``train_score``, ``fit_time``, ``pred_time``, their aggregates
        (``test_score-m``, ...), ``errors`` (per-fold error messages or
        None) and ``rank`` (1 = best draw of that name).
    best_params_ : dict
        ``{name: params of the best draw}``.
    best_draw_ : dict
        ``{name: index of the best draw}``.
    params_ : dict
        ``{name: [params of each draw]}``, the drawn parameters.
    preprocess_times_ : dict
        ``{case: [fit time per fold]}``.
    indexer : BaseIndex
        The indexer, fitted on the (shuffled) rows.
    greater_is_better_ : bool
        The direction used to pick the best draw.

    Examples
    --------
    >>> from scipy.stats import uniform
    >>> from sklearn.linear_model import Ridge
    >>> ev = Evaluator('r2', cv=3, random_state=0)          # doctest: +SKIP
    >>> ev.fit(X, y, [Ridge()], {'ridge': {'alpha': uniform(0, 10)}},
    ...        n_iter=5)                                     # doctest: +SKIP
    >>> ev.results                                           # doctest: +SKIP
    """

    apply_shuffle = True  # the engine applies shuffle (see mlcore.backend)

    def __init__(self, scorer, cv=2, shuffle=True, random_state=None,
                 error_score=None, metrics=None, verbose=False, backend=None,
                 n_jobs=-1, greater_is_better=None):
        self.scorer = scorer
        self.cv = cv
        self.shuffle = shuffle
        self.random_state = random_state
        self.error_score = error_score
        self.metrics = metrics
        self.verbose = verbose
        self.backend = backend
        self.n_jobs = n_jobs
        self.greater_is_better = greater_is_better

    def __repr__(self):
        return ("%s(scorer=%r, cv=%r, shuffle=%r, random_state=%r, "
                "error_score=%r, backend=%r, n_jobs=%r)"
                % (type(self).__name__, self.scorer, self.cv, self.shuffle,
                   self.random_state, self.error_score, self.backend,
                   self.n_jobs))

    # ------------------------------------------------------------------ API

    def fit(self, X, y, estimators=None, param_dicts=None, n_iter=2,
            preprocessing=None):
        """Run the search, the preprocessing, or both.

        As in ML-Ensemble, a call with ``preprocessing`` and no
        ``estimators`` fits the preprocessing cases only, and later calls
        without ``preprocessing`` evaluate their estimators on those cases
        (``fit(X, y, preprocessing=cases)``, then ``fit(X, y, ests,
        params, n_iter)``); the cases are fitted again on each call's folds.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        estimators : estimator, list or dict, optional
            Estimators or ``(name, estimator)`` pairs (unnamed ones are
            named after their lower-cased class, numbered when repeated). A
            list is evaluated on every preprocessing case (on the raw data
            without preprocessing). A dict maps case names to such lists;
            the key None (or ``''``/``'no'``) means no preprocessing.
            None: fit the preprocessing cases only.
        param_dicts : dict, optional
            ``{'est': {param: spec}}`` (every case) or
            ``{'case.est': {param: spec}}`` (one case; takes precedence;
            ML-Ensemble's ``('case', 'est')`` keys work too). A spec is a
            distribution with ``rvs`` (``scipy.stats``), sampled with
            ``spec.rvs(size=n_iter, random_state=...)`` (see
            ``random_state``), or a list/tuple sampled uniformly. An estimator without a parameter dict is evaluated
            once, with its own parameters.
        n_iter : int, default=2
            Draws per estimator that has a parameter dict.
        preprocessing : transformer, list or dict, optional
            A list of transformers or ``(name, transformer)`` pairs (one
            case, named ``'pr'``), or a dict mapping case names to such
            lists. Each case is fitted
            once per fold and shared by every estimator and draw. None: the
            cases of the last call that gave some (none at first); ``{}``
            evaluates on the raw data again.

        Returns
        -------
        self
        """
        X, y = _check_data(X, y)
        if preprocessing is not None:
            self._preprocessing = preprocessing
        preprocessing = getattr(self, "_preprocessing", None)
        if estimators is None:
            if preprocessing is None:
                raise ValueError(
                    "Evaluator.fit needs estimators to evaluate, "
                    "preprocessing cases to fit, or both")
            cases, entries = _format_cases(preprocessing), []
        else:
            n_iter = self._check_n_iter(n_iter)
            cases, entries, order = _format_instances(estimators,
                                                      preprocessing)
        self.scorer_, self._kind, self.greater_is_better_ = _check_scorer(
            self.scorer, self.greater_is_better)
        self._metrics = _check_metrics(self.metrics)
        if entries:
            draws = self._draw(order, _dotted_keys(param_dicts), n_iter)
            self.params_ = {e[0]: draws[e[0]] for e in entries}
        self._cases, self._entries = cases, entries
        self._pipe_errors = {}
        self.indexer = _make_eval_index(self.cv)
        job = "-".join((["preprocess"] if cases else []) +
                       (["evaluate"] if entries else []))
        self._process(X, y, job)
        if entries:
            self._collect()
        return self

    def preprocess(self, X, y, preprocessing=None):
        """Fit the preprocessing cases only, for later :meth:`fit` or
        :meth:`evaluate` calls.

        Kept for code written for ML-Ensemble; the same as ``fit(X, y,
        preprocessing=preprocessing)``.

        Returns
        -------
        self
        """
        return self.fit(X, y, preprocessing=preprocessing)

    def evaluate(self, X, y, estimators, param_dicts=None, n_iter=2):
        """Evaluate estimators on the preprocessing cases of an earlier
        :meth:`preprocess` (or :meth:`fit`) call.

        Kept for code written for ML-Ensemble; the same as ``fit(X, y,
        estimators, param_dicts, n_iter)``.

        Returns
        -------
        self
        """
        return self.fit(X, y, estimators, param_dicts, n_iter)

    @property
    def params(self):
        """The drawn parameters, ``{name: [params of each draw]}``:
        ML-Ensemble's name of :attr:`params_`."""
        return self.params_

    def _process(self, X, y, job):
        """Run ``job`` on the engine, with the progress display."""
        verbose = int(self.verbose) if self.verbose else 0
        t0 = time.perf_counter()
        display = _progress.Progress(
            type(self).__name__, describe=_describe,
            stream=_progress.verbose_stream(verbose, 20)) if verbose else None
        with ParallelEvaluation(self.backend, self.n_jobs,
                                verbose if verbose >= 10 else 0) as engine, \
                _progress.reporting(display):
            engine.process(self, job, X, y)
        if verbose:
            print("%s: %d fits done in %.2fs"
                  % (type(self).__name__, self._n_fits(job, self.n_folds_),
                     time.perf_counter() - t0), flush=True,
                  file=_progress.verbose_stream(verbose, 20))

    # ------------------------------------------------ ParallelEvaluation call

    def __call__(self, parallel, args, case):
        """Run the subtasks in the engine's pool (see the module notes).

        ``case`` is ``'preprocess'`` (phase 1), ``'evaluate'`` (phase 2; any
        preprocessing must already be in the cache) or
        ``'preprocess-evaluate'`` (both).
        """
        if case not in ("preprocess", "evaluate", "preprocess-evaluate"):
            raise ValueError("unknown case %r: use 'preprocess', 'evaluate' or "
                             "'preprocess-evaluate'" % (case,))
        cache = args["dir"]
        X = share(args["main"]["X"], "X_eval", cache)
        y = share(args["main"]["y"], "y_eval", cache)
        splits = self.indexer.fold_fits()
        self.n_folds_ = len(splits)
        data = (X, y, cache, is_small(X))
        progress = _progress.current()
        if progress is not None:
            progress.expect(self._n_fits(case, len(splits)))
        if "preprocess" in case:
            self._preprocess(parallel, splits, data)
        if "evaluate" in case:
            self._evaluate(parallel, splits, data)

    def _n_fits(self, case, n_folds):
        """The subtasks of ``case``: (preprocessing case x fold) and
        (estimator x draw x fold) fits."""
        n = 0
        if "preprocess" in case:
            n += len(self._cases) * n_folds
        if "evaluate" in case:
            n += n_folds * sum(len(self.params_[name])
                               for name, _, _, _ in self._entries)
        return n

    def _log(self, message):
        if self.verbose:
            message = "%s: %s" % (type(self).__name__, message)
            progress = _progress.current()
            if progress is not None:  # keeps a tqdm bar intact
                progress.write(message)
            else:
                print(message, flush=True,
                      file=_progress.verbose_stream(self.verbose, 20))

    def _preprocess(self, parallel, splits, data):
        """Fit every (case, fold) preprocessing pipeline into the cache."""
        X, y, cache, small = data
        catch = self.error_score is not None
        self._pipe_errors = {}
        self.preprocess_times_ = {c: [None] * len(splits) for c in self._cases}
        jobs = [delayed(_fit_preprocessing)(
                    _pipe_key(c, i), c, steps, X, y, s.train, i, cache, catch)
                for c, steps in self._cases.items()
                for i, s in enumerate(splits)]
        self._log("fitting %d preprocessing pipelines" % len(jobs))
        for c, i, t, err in run(parallel, jobs, small=small):
            self.preprocess_times_[c][i] = t
            if err is not None:
                self._pipe_errors[(c, i)] = err

    def _evaluate(self, parallel, splits, data):
        """Fit and score every (case, estimator, draw, fold)."""
        X, y, cache, small = data
        catch = self.error_score is not None
        pipe_errors = getattr(self, "_pipe_errors", {})
        jobs, keys, self._raw = [], [], []
        for name, c, est_name, est in self._entries:
            for d, params in enumerate(self.params_[name]):
                key = _exclusive_key(est, params)
                for i, s in enumerate(splits):
                    if c is not None and (c, i) in pipe_errors:
                        self._raw.append((name, d, i, None, None, np.nan,
                                          np.nan, pipe_errors[(c, i)]))
                        continue
                    keys.append(key)
                    jobs.append(delayed(_evaluate_draw)(
                        name, d, i, est, params,
                        None if c is None else _pipe_key(c, i), cache, X, y,
                        s.train, s.test, self.scorer_, self._kind, catch))
        self._log("fitting %d estimator draws x folds" % len(jobs))
        self._raw.extend(run(parallel, jobs, keys=keys, small=small))

    # ------------------------------------------------------------- internals

    @staticmethod
    def _check_n_iter(n_iter):
        if not isinstance(n_iter, numbers.Integral) or isinstance(n_iter, bool) \
                or n_iter < 1:
            raise ValueError("n_iter must be an int >= 1, got %r" % (n_iter,))
        return int(n_iter)

    def _param_rng(self):
        """The random source of one parameter's draws, as ML-Ensemble
        passed ``random_state`` to each distribution's ``rvs``: an int
        seeds a new RandomState every time, a RandomState is used (and
        advanced) as it is, None is NumPy's global RandomState."""
        rs = self.random_state
        if rs is None or isinstance(rs, np.random.RandomState):
            from sklearn.utils import check_random_state
            return check_random_state(rs)
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return np.random.RandomState(int(rs) & 0xFFFFFFFF)
        raise ValueError("random_state must be None, an int or a "
                         "numpy.random.RandomState, got %r" % (rs,))

    def _draw(self, entries, param_dicts, n_iter):
        """Draw the parameters of every estimator: ``{name: [params]}``.

        As ML-Ensemble drew them: for each estimator (in the order of
        ``entries``) and each of its parameters (in the order of its
        dict), ``n_iter`` values at once, ``dist.rvs(size=n_iter,
        random_state=...)`` with the source of :meth:`_param_rng` (a list
        of values: ``n_iter`` uniform picks). With an int ``random_state``
        every parameter's draws start from the same seed, so an
        estimator's draws do not depend on the other estimators.
        """
        param_dicts = dict(param_dicts or {})
        names = {e[0] for e in entries} | {e[2] for e in entries}
        unknown = sorted(set(param_dicts) - names)
        if unknown:
            raise ValueError("param_dicts keys %s match no estimator; keys are "
                             "'est' or 'case.est' among %s"
                             % (unknown, sorted(names)))
        self._param_rng()  # a bad random_state fails before any draw
        out = {}
        for name, case, est_name, est in entries:
            spec = param_dicts.get(name, param_dicts.get(est_name))
            if not spec:
                out[name] = [{}]
                continue
            if not isinstance(spec, dict):
                raise TypeError("param_dicts[%r] must be a dict of parameter "
                                "-> distribution or list, got %r"
                                % (name, spec))
            valid = set(est.get_params(deep=True))
            bad = sorted(set(spec) - valid)
            if bad:
                raise ValueError("invalid parameters %s for estimator %r (%s)"
                                 % (bad, name, type(est).__name__))
            draws = [{} for _ in range(n_iter)]
            for param, dist in spec.items():
                values = self._draw_values(dist, n_iter, name, param)
                for params, value in zip(draws, values):
                    params[param] = _scalar(value)
            out[name] = draws
        return out

    def _draw_values(self, dist, n_iter, name, param):
        """``n_iter`` draws of one parameter's distribution or list."""
        rng = self._param_rng()
        if hasattr(dist, "rvs"):
            return np.atleast_1d(dist.rvs(size=n_iter, random_state=rng))
        if isinstance(dist, (list, tuple, np.ndarray)):
            if len(dist) == 0:
                raise ValueError("param_dicts[%r][%r] is empty"
                                 % (name, param))
            return [dist[i] for i in rng.randint(len(dist), size=n_iter)]
        raise TypeError(
            "param_dicts[%r][%r] must be a distribution with rvs or a list "
            "of values, got %r (wrap a fixed value in a list)"
            % (name, param, dist))

    def _collect(self):
        """Build cv_results_, results, best_params_ from the raw results."""
        n_folds = self.n_folds_
        table = {}
        for name, case, est_name, est in self._entries:
            for d, params in enumerate(self.params_[name]):
                table[(name, d)] = {
                    "name": name, "case": case, "estimator": est_name,
                    "draw": d, "params": params,
                    "test_score": [None] * n_folds,
                    "train_score": [None] * n_folds,
                    "fit_time": [None] * n_folds,
                    "pred_time": [None] * n_folds,
                    "errors": [None] * n_folds}
        for name, d, i, te, tr, ft, pt, err in self._raw:
            rec = table[(name, d)]
            if err is not None:
                warnings.warn("%s; recording error_score=%r"
                              % (err, self.error_score), FitFailedWarning,
                              stacklevel=3)
                te = tr = self.error_score
                rec["errors"][i] = err
            rec["test_score"][i] = te
            rec["train_score"][i] = tr
            rec["fit_time"][i] = ft
            rec["pred_time"][i] = pt
        self._raw = None
        records = list(table.values())
        for rec in records:
            for field in _FIELDS:
                values = np.asarray(rec[field], dtype=np.float64)
                for suffix, fn in self._metrics:
                    rec["%s-%s" % (field, suffix)] = float(fn(values))
            rec["_mean"] = float(np.mean(np.asarray(rec["test_score"],
                                                    dtype=np.float64)))
        self.cv_results_ = records
        columns = ["%s-%s" % (field, suffix) for field in _FIELDS
                   for suffix, _ in self._metrics] + ["params"]
        self.results = Data({c: {} for c in columns}, decimals=3)
        self.best_params_, self.best_draw_ = {}, {}
        sign = 1.0 if self.greater_is_better_ else -1.0
        for name, case, est_name, est in self._entries:
            recs = [r for r in records if r["name"] == name]
            # NaN (a failed draw with error_score=nan) ranks last; ties keep
            # the earlier draw.
            keys = [(-sign * r["_mean"]) if not np.isnan(r["_mean"])
                    else np.inf for r in recs]
            order = sorted(range(len(recs)), key=lambda j: (keys[j], j))
            for rank, j in enumerate(order, 1):
                recs[j]["rank"] = rank
            best = recs[order[0]]
            for col in columns:
                self.results[col][name] = best[col]
            self.best_params_[name] = best["params"]
            self.best_draw_[name] = best["draw"]
        for rec in records:
            del rec["_mean"]


def _describe(result):
    """``(name, fold, fit seconds)`` of an Evaluator subtask's result, for
    the progress display."""
    if len(result) == 4:  # (case, fold, fit_time, error): preprocessing
        return "%s (preprocessing)" % result[0], result[1], result[2]
    name, draw, fold, fit_time = result[0], result[1], result[2], result[5]
    return name, (draw, fold), fit_time


def _exclusive_key(estimator, params):
    """The exclusive key (see :func:`mlcore._scheduler.exclusive_key`) of
    ``estimator`` with the parameters of a draw."""
    if params:
        from sklearn.base import clone
        estimator = clone(estimator).set_params(**params)
    return exclusive_key(estimator)


def _pipe_key(case, fold):
    return "__pipe__.%s.%d" % (case, fold)


def _checked_estimators(estimators):
    """``[(name, estimator)]``, each named validly and with a fit method."""
    out = named(estimators, "estimator")
    for est_name, est in out:
        check_name(est_name, "estimator")
        if not hasattr(est, "fit"):
            raise LayerSpecificationError("estimator %r has no fit method"
                                          % (est,))
    return out


def _check_data(X, y):
    if X is None or y is None:
        raise ValueError("Evaluator.fit needs X and y")
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    if not hasattr(y, "shape"):
        y = np.asarray(y)
    return X, y


def _dotted_keys(param_dicts):
    """``param_dicts`` with ML-Ensemble's ``(case, est)`` keys written
    ``'case.est'``."""
    if not param_dicts:
        return param_dicts
    return {".".join(k) if isinstance(k, tuple) and len(k) == 2 else k: v
            for k, v in dict(param_dicts).items()}


def _format_cases(preprocessing):
    """An ordered dict case -> list of transformers, each checked."""
    cases = {}
    for case, steps in preprocessing_cases(preprocessing):
        check_name(case, "preprocessing case")
        steps = unnamed_steps(steps)  # (name, transformer) pairs too
        for step in steps:
            if not (hasattr(step, "fit") and hasattr(step, "transform")):
                raise LayerSpecificationError(
                    "preprocessing step %r of case %r needs fit and "
                    "transform methods" % (step, case))
        cases[case] = steps
    return cases


def _format_instances(estimators, preprocessing):
    """Return ``(cases, entries, draw_order)``: ``cases`` an ordered dict
    case -> list of transformers, ``entries`` a list of ``(name, case,
    est_name, estimator)`` with ``name = 'case.est'`` (``'est'`` without a
    case), and ``draw_order`` the entries in the order ML-Ensemble drew
    their parameters: case by case, in the order of the preprocessing
    cases, and within a case by estimator name, or as given when every
    estimator of the list is a ``(name, estimator)`` pair (ML-Ensemble
    then kept the list as it was)."""
    cases = _format_cases(preprocessing)
    rank = {c: i for i, c in enumerate(cases)}
    entries, keys = [], []
    for case, ests in estimators_by_case(estimators):
        if case is ANY_CASE:  # every case
            targets = list(cases) or [None]
        elif case is None or case in cases:
            targets = [case]
        else:
            raise LayerSpecificationError(
                "estimators refer to preprocessing case %r, which is not "
                "defined (cases: %s)" % (case, sorted(cases)))
        pairs = _checked_estimators(ests)
        as_given = isinstance(ests, (list, tuple)) and all(
            is_pair(item) for item in ests)
        for c in targets:
            for pos, (est_name, est) in enumerate(pairs):
                entries.append((est_name if c is None else "%s.%s" % (
                    c, est_name), c, est_name, est))
                keys.append((rank.get(c, len(rank)), pos if as_given else 0,
                             "" if as_given else est_name))
    if not entries:
        raise LayerSpecificationError("no estimators to evaluate")
    names = [e[0] for e in entries]
    if len(set(names)) != len(names):
        raise LayerSpecificationError("duplicate estimator names: %s" % names)
    # Cases no estimator uses are not fitted.
    used = {e[1] for e in entries}
    cases = {c: s for c, s in cases.items() if c in used}
    order = [e for _, e in sorted(zip(keys, entries), key=lambda ke: ke[0])]
    return cases, entries, order


###############################################################################
class Benchmark(BaseEval):
    """Cross-validated scores of estimators with their own parameters, over
    preprocessing cases (an :class:`Evaluator` without a search).

    Parameters
    ----------
    verbose : bool or int, default=False
    shuffle : bool, default=False
    random_state : int, RandomState or None
    metrics : see :class:`Evaluator`
    backend : str, optional
    n_jobs : int, default=-1

    Attributes (after fit)
    ----------------------
    results : mlcore.metrics.Data
        One row per ``'case.est'``, as :attr:`Evaluator.results`.
    evaluator_ : Evaluator
        The evaluator that ran.
    """

    def __init__(self, verbose=False, shuffle=False, random_state=None,
                 metrics=None, backend=None, n_jobs=-1):
        self.verbose = verbose
        self.shuffle = shuffle
        self.random_state = random_state
        self.metrics = metrics
        self.backend = backend
        self.n_jobs = n_jobs

    def fit(self, X, y, scorer, cv, estimators, preprocessing=None,
            error_score=None):
        """Score every estimator on every preprocessing case.

        Parameters are those of :class:`Evaluator` and
        :meth:`Evaluator.fit`. Returns self.
        """
        ev = Evaluator(scorer, cv=cv, shuffle=self.shuffle,
                       random_state=self.random_state, error_score=error_score,
                       metrics=self.metrics, verbose=self.verbose,
                       backend=self.backend, n_jobs=self.n_jobs)
        ev.fit(X, y, estimators, param_dicts=None, n_iter=1,
               preprocessing=preprocessing)
        self.evaluator_ = ev
        self.results = ev.results
        return self


def benchmark(X, y, scorer, cv, estimators, preprocessing=None,
              error_score=None, **kwargs):
    """Run a :class:`Benchmark` and return its ``results`` table.

    ``kwargs`` go to :class:`Benchmark` (``verbose``, ``shuffle``,
    ``random_state``, ``metrics``, ``backend``, ``n_jobs``).
    """
    return Benchmark(**kwargs).fit(X, y, scorer, cv, estimators,
                                   preprocessing=preprocessing,
                                   error_score=error_score).results


###############################################################################
# Nested cross-validation of a whole ensemble

def cross_validate_ensemble(ensemble, X, y, cv=5, scoring=None, groups=None,
                            return_estimators=False, sample_weight=None,
                            greater_is_better=None):
    """Nested cross-validation of an ensemble, of each of its base learners
    and of the discrete Super Learner, with every outer fold's fits in one
    pool per layer.

    See :func:`mlcore.risk.cross_validate_ensemble` (the same function;
    it lives with the other risk estimates, and is imported here when
    called, since scikit-learn is optional for this module).

    Returns
    -------
    mlcore.risk.EnsembleCVResult
    """
    from .risk import cross_validate_ensemble as nested
    return nested(ensemble, X, y, cv=cv, scoring=scoring, groups=groups,
                  return_estimators=return_estimators,
                  sample_weight=sample_weight,
                  greater_is_better=greater_is_better)


__all__ += ["cross_validate_ensemble"]

# ML-Ensemble's module path
submodule(__name__, "model_selection", ["BaseEval", "Evaluator",
                                        "Benchmark", "benchmark"])
