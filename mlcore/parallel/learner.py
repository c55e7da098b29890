"""Learners and transformers: the nodes of ML-Ensemble's low-level API.

A :class:`Learner` wraps an estimator and an indexer; a :class:`Transformer`
wraps a preprocessing :class:`~mlcore.parallel.Pipeline`. Neither fits
anything itself: for a job (``'fit'``, ``'transform'``, ``'predict'``) it
generates *sub-learners* (:class:`SubLearner`, :class:`SubTransformer`),
one per fit of the indexer's splits, which do the work and store what they
fitted in the estimation cache; :meth:`BaseNode.collect` then loads the
fitted estimators back into the node.

For a job, a learner generates

* ``'fit'``: one full fit per partition (index ``(partition, 0)``, trained
  on all rows, or on the partition's rows with several partitions), used at
  predict time; and one fold fit per split of the indexer (index
  ``(partition, fold)``, ``fold >= 1``), each writing its out-of-fold
  predictions into the output array ``P``. With a ``FullIndex`` the full fit
  writes its in-sample predictions instead;
* ``'transform'``: the fold fits again, reproducing the fit-time ``P``;
* ``'predict'``: the full fits, each predicting every row.

Cached entries are named ``<cache_name>.<partition>.<fold>``, where the cache
name is ``<preprocess>.<name>`` for a learner with preprocessing.

This is ML-Ensemble's ``mlens.parallel.learner`` API, for code written for
it. mlcore's ensembles build on :mod:`mlcore.layer`, which runs the same
fits in one flat pool per layer. Differences from ML-Ensemble:

* rows of ``in_index``/``out_index`` are mlcore's (a slice or an index
  array), not ``(start, stop)`` tuples;
* fit and predict failures raise a
  :class:`~mlcore.exceptions.LearnerError` naming the learner, the
  partition and the fold (a ``ValueError``/``TypeError`` stays one);
* ``refit=False`` (from :func:`~mlcore.parallel.run`) reuses a fitted node
  as documented; ML-Ensemble never received the keyword and always refitted;
* a blend's out-of-fold rows are placed by the indexer's ``row_offset``.
"""
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone

from .._joblib import delayed
from .._subtasks import _failure, run as _run_subtasks, take
from ..exceptions import NotFittedError, ParallelProcessingError
from ..index import FullIndex, check_index
from ..utils import print_time
from ..utils.exceptions import FitFailedWarning, NotInitializedError
from ._base import (BackendParams, data_table, entries, format_name, load,
                    save, score)

__all__ = ["IndexedEstimator", "SubLearner", "SubTransformer",
           "EvalSubLearner", "Cache", "BaseNode", "Learner", "Transformer",
           "EvalLearner", "EvalTransformer"]


class IndexedEstimator(object):
    """A fitted estimator as the cache holds it.

    Attributes
    ----------
    estimator : estimator
    name : str
        ``<cache_name>.<partition>.<fold>``.
    index : tuple
        ``(partition, fold)``; fold 0 is a full fit.
    in_index, out_index : slice, ndarray or None
        Rows it was fitted on and rows it predicts at fit and transform time
        (None: all rows / none).
    data : dict
        Fit data: ``{'score', 'ft', 'pt'}`` (scores and seconds).
    """

    __slots__ = ("estimator", "name", "index", "in_index", "out_index", "data")

    def __init__(self, estimator, name, index, in_index, out_index, data):
        self.estimator = estimator
        self.name = name
        self.index = tuple(index)
        self.in_index = in_index
        self.out_index = out_index
        self.data = data

    def __getstate__(self):
        return tuple(getattr(self, a) for a in self.__slots__)

    def __setstate__(self, state):
        for attr, value in zip(self.__slots__, state):
            setattr(self, attr, value)

    def __repr__(self):
        return "IndexedEstimator(%r, index=%r)" % (self.name, self.index)


def _apply(pipeline, X, y):
    """``(X, y)`` after a fitted preprocessing pipeline."""
    if getattr(pipeline, "return_y", False):
        return pipeline.transform(X, y)
    return pipeline.transform(X), y


def _out_rows(rows, offset):
    """Rows of the output array of input rows ``rows`` (None: all)."""
    if rows is None or not offset:
        return rows
    if isinstance(rows, slice):
        return slice(rows.start - offset, rows.stop - offset)
    return rows - offset


class _SubTask(object):
    """What sub-learners and sub-transformers share: rows, cache, names."""

    def __init__(self, job, parent, estimator, in_index, out_index, in_array,
                 targets, out_array, index):
        self.job = job
        self.estimator = estimator
        self.in_index = in_index
        self.out_index = out_index
        self.in_array = in_array
        self.targets = targets
        self.out_array = out_array
        self.index = tuple(index)
        self.path = parent._path
        self.verbose = parent.verbose
        self.name = parent.cache_name
        self.name_index = "%s.%d.%d" % ((self.name,) + self.index)
        self.offset = parent._row_offset(job)
        self.width = parent._multiplier
        self.output_columns = (None if parent.__no_output__ or
                               parent.output_columns is None else
                               parent.output_columns[self.index[0]])

    def __call__(self):
        return getattr(self, self.job)()

    def _where(self):
        return "partition %d, fold %d" % self.index

    def _assign(self, p):
        """Write predictions ``p`` of the output rows into ``P``."""
        p = np.asarray(p)
        if p.ndim == 1:
            p = p[:, None]
        if p.shape[1] != self.width:
            raise ValueError(
                "%s %r (%s) produced %d columns; its block of the output "
                "array has %d" % (self._what, self.name, self._where(),
                                  p.shape[1], self.width))
        col = self.output_columns
        rows = _out_rows(self.out_index, self.offset)
        if rows is None:
            rows = slice(None)
        self.out_array[rows, col:col + self.width] = p

    def _report(self, t0):
        if self.verbose:
            print_time(t0, "%-30s done" % self.name_index,
                       file="stdout" if self.verbose < 7 else "stderr")

    def _store(self, path):
        save(path if path is not None else self.path, self.name_index,
             IndexedEstimator(self.estimator, self.name_index, self.index,
                              self.in_index, self.out_index, self.data))


class SubLearner(_SubTask):
    """One fit of a :class:`Learner`: fits (``fit``) or uses (``predict``,
    ``transform``) an estimator on the rows of one split.

    Call it (or its ``fit``/``predict``/``transform`` method, with an
    optional cache ``path``) to run it.
    """

    _what = "learner"

    def __init__(self, job, parent, estimator, in_index, out_index, in_array,
                 targets, out_array, index):
        super().__init__(job, parent, estimator, in_index, out_index,
                         in_array, targets, out_array, index)
        self.attr = parent.attr
        self.preprocess = parent.preprocess
        self.scorer = parent.scorer
        self.preprocess_index = (None if self.preprocess is None else
                                 "%s.%d.%d" % ((self.preprocess,) + self.index))
        self.score_ = self.fit_time_ = self.pred_time_ = None

    @property
    def data(self):
        """Fit data: test score (with a scorer), fit and predict seconds."""
        return {"score": self.score_, "ft": self.fit_time_,
                "pt": self.pred_time_}

    def _pipeline(self, path):
        if self.preprocess is None:
            return None
        return load(path if path is not None else self.path,
                    self.preprocess_index).estimator

    def fit(self, path=None):
        """Fit on ``in_index``; predict ``out_index`` into the output array
        (when there is one); store the fitted estimator in the cache."""
        t0 = time.perf_counter()
        pipeline = self._pipeline(path)
        X, y = take(self.in_array, self.in_index), take(self.targets,
                                                         self.in_index)
        try:
            if pipeline is not None:
                X, y = _apply(pipeline, X, y)
            self.estimator.fit(X, y)
        except Exception as exc:
            raise _failure("learner", self.name, self._where(), "fit",
                           exc) from exc
        self.fit_time_ = time.perf_counter() - t0
        self._after_fit(pipeline)
        self._store(path)
        self._report(t0)

    def _after_fit(self, pipeline):
        if self.out_array is not None:
            self._predict(pipeline, scored=True)

    def predict(self, path=None):
        """Predict ``out_index`` (all rows when None) into the output."""
        t0 = time.perf_counter()
        self._predict(self._pipeline(path), scored=False)
        self._report(t0)

    transform = predict

    def _predict(self, pipeline, scored):
        t0 = time.perf_counter()
        X = take(self.in_array, self.out_index)
        y = None if self.targets is None else take(self.targets,
                                                   self.out_index)
        try:
            if pipeline is not None:
                X, y = _apply(pipeline, X, y)
            p = getattr(self.estimator, self.attr)(X)
            self._assign(p)
        except Exception as exc:
            raise _failure("learner", self.name, self._where(), self.job,
                           exc) from exc
        self.pred_time_ = time.perf_counter() - t0
        if scored:
            self.score_ = score(self.scorer, y, p, self.name_index)


class SubTransformer(_SubTask):
    """One fit of a :class:`Transformer`'s pipeline on the rows of a split,
    stored in the cache for the learners of the same preprocessing case."""

    _what = "transformer"

    def __init__(self, job, parent, estimator, in_index, in_array, targets,
                 index, out_index=None, out_array=None):
        super().__init__(job, parent, estimator, in_index, out_index,
                         in_array, targets, out_array, index)
        self.transform_time_ = None

    @property
    def data(self):
        return {"ft": self.transform_time_}

    def fit(self, path=None):
        """Fit the pipeline on ``in_index`` (and write its transformation of
        ``out_index`` when there is an output array); cache it."""
        t0 = time.perf_counter()
        X, y = take(self.in_array, self.in_index), take(self.targets,
                                                         self.in_index)
        try:
            self.estimator.fit(X, y)
        except Exception as exc:
            raise _failure("preprocessing case", self.name, self._where(),
                           "fit", exc) from exc
        self.transform_time_ = time.perf_counter() - t0
        if self.out_array is not None:
            self._transform()
        self._store(path)
        self._report(t0)

    def _transform(self):
        X = take(self.in_array, self.out_index)
        y = None if self.targets is None else take(self.targets,
                                                   self.out_index)
        try:
            self._assign(_apply(self.estimator, X, y)[0])
        except Exception as exc:
            raise _failure("preprocessing case", self.name, self._where(),
                           self.job, exc) from exc

    def predict(self, path=None):
        """Write the transformation of ``out_index`` into the output."""
        self._transform()

    transform = predict


class EvalSubLearner(SubLearner):
    """One fold of a cross-validated evaluation (:class:`EvalLearner`):
    fits on the training rows and scores ``scorer(estimator, X, y)`` on
    the training and the test rows."""

    def __init__(self, job, parent, estimator, in_index, out_index, in_array,
                 targets, index, out_array=None):
        # an evaluation writes no predictions: out_array is ignored
        super().__init__(job, parent, estimator, in_index, out_index,
                         in_array, targets, None, index)
        self.error_score = parent.error_score
        self.train_score_ = self.test_score_ = None
        self.train_pred_time_ = self.test_pred_time_ = None

    @property
    def data(self):
        return {"test_score": self.test_score_,
                "train_score": self.train_score_,
                "fit_time": self.fit_time_, "pred_time": self.train_pred_time_}

    def fit(self, path=None):
        if self.scorer is None:
            raise ValueError("EvalLearner %r needs a scorer" % self.name)
        super().fit(path)

    def _after_fit(self, pipeline):
        self.train_score_, self.train_pred_time_ = self._score(pipeline,
                                                               self.in_index)
        self.test_score_, self.test_pred_time_ = self._score(pipeline,
                                                             self.out_index)

    def _score(self, pipeline, rows):
        X, y = take(self.in_array, rows), take(self.targets, rows)
        if pipeline is not None:
            X, y = _apply(pipeline, X, y)
        t0 = time.perf_counter()
        try:
            value = self.scorer(self.estimator, X, y)
        except Exception as exc:
            if self.error_score is None:
                raise _failure("learner", self.name, self._where(),
                               "scoring", exc) from exc
            warnings.warn("scoring %s failed, recording error_score=%r: %r"
                          % (self.name_index, self.error_score, exc),
                          FitFailedWarning)
            value = self.error_score
        return value, time.perf_counter() - t0


class Cache(object):
    """Put a fitted pipeline into the current cache (predict and transform
    jobs: the learners load their preprocessing from there)."""

    def __init__(self, obj, path, verbose):
        self.obj = obj
        self.path = path
        self.name = obj.name
        self.verbose = verbose

    def __call__(self, path=None):
        save(path if path is not None else self.path, self.name, self.obj)


###############################################################################
class BaseNode(BackendParams, BaseEstimator):
    """What :class:`Learner` and :class:`Transformer` share.

    A node is a task of :class:`~mlcore.backend.ParallelProcessing` (it
    yields itself when iterated) and the parent of its sub-learners.
    Subclasses set ``__subtype__`` and ``_get_multiplier``.
    """

    __subtype__ = None
    # mlcore's engine forwards run()'s keywords (refit=...) to this node.
    forward_kwargs = True

    def _init_node(self, name, estimator, indexer, verbose, kind, **backend):
        self._set_backend(**backend)
        self.name = format_name(name, kind)
        self.estimator = estimator
        self.verbose = verbose
        self.__no_output__ = False
        self.__collect__ = False
        self._path = None
        self.cache_name = None
        self.output_columns = None
        self.feature_span = None
        self._multiplier = 1
        self._learner_ = self._sublearners_ = None
        self._data_ = self._times_ = None
        self.set_indexer(indexer)

    def __iter__(self):
        yield self

    # -- setup ---------------------------------------------------------------
    def set_indexer(self, indexer):
        """Attach ``indexer`` (an mlcore indexer, an int or a scikit-learn
        splitter; None leaves the node without one)."""
        self.indexer = None if indexer is None else check_index(indexer)
        self.__only_all__ = isinstance(self.indexer, FullIndex)
        self.__only_sub__ = False

    @property
    def _partitions(self):
        return getattr(self.indexer, "partitions", None) or 1

    def setup(self, X, y, job, skip=None, n_left_concats=0, row_offset=None,
              **kwargs):
        """Prepare a job: fit the indexer (unless ``skip`` holds
        ``'0_index'``), and assign the output columns, starting at column
        ``n_left_concats``. ``row_offset``: the input row of the output's
        row 0 when a layer decides it (default: the indexer's)."""
        self._check_indexer()
        if not skip or "0_index" not in skip:
            self.indexer.fit(X, y, job)
        self._layer_offset = row_offset
        self._multiplier = self._get_multiplier(X, y)
        if not self.__no_output__:
            self.set_output_columns(X, y, job, n_left_concats)

    def set_output_columns(self, X=None, y=None, job=None, n_left_concats=0):
        """One block of ``multiplier`` columns per partition, from column
        ``n_left_concats``; sets ``output_columns`` and ``feature_span``."""
        width = self._multiplier
        self.output_columns = {i: n_left_concats + i * width
                               for i in range(self._partitions)}
        self.feature_span = (n_left_concats,
                             n_left_concats + self._partitions * width)

    def shape(self, job):
        """Shape of the output array for ``job``."""
        if not self.feature_span:
            raise ValueError("%r: output columns are not set; call setup "
                             "first" % self.name)
        rows = (self.indexer.n_samples if job == "predict"
                else self.indexer.n_test_samples)
        return rows, self.feature_span[1]

    def _row_offset(self, job):
        if job == "predict" or self.indexer is None:
            return 0
        if getattr(self, "_layer_offset", None) is not None:
            return self._layer_offset
        return self.indexer.row_offset or 0

    def row_offset(self, job):
        """Input row of the output's row 0 (see :mod:`mlcore.backend`)."""
        return self._row_offset(job)

    def _check_indexer(self):
        if self.indexer is None:
            raise NotInitializedError(
                "%r has no indexer: pass indexer= or call set_indexer()"
                % self.name)

    # -- running -------------------------------------------------------------
    def __call__(self, args, arg_type="main", parallel=None):
        """Generate (``parallel`` None) or run the sub-learners of a job.

        ``args`` is the engine's argument dict; ``arg_type`` which of its
        entries to use (``'main'``, or ``'auxiliary'`` for a transformer
        inside a layer). ``args['refit'] = False`` on a fitted node reuses
        its fits (a transform) instead of fitting again.
        """
        self._check_indexer()
        self._path = args["dir"]
        job = args["job"]
        if job == "fit" and args.get("refit", True) is False and \
                self.__fitted__:
            job = "transform"
        if job != "fit" and not self.__fitted__:
            raise NotFittedError("%r is not fitted: run 'fit' first"
                                 % self.name)
        kw = dict(args[arg_type])
        if job != "fit":
            kw.pop("y", None)
        subtasks = getattr(self, "gen_%s" % job)(**kw)
        if parallel is None:
            return subtasks
        _run_subtasks(parallel, [delayed(s)() for s in subtasks])
        if self.__collect__:
            self.collect()

    def gen_fit(self, X, y, P=None):
        """Sub-learners of a fit: the full fits, then the fold fits."""
        if self.__subtype__ is None:
            raise ParallelProcessingError("%s sets no __subtype__"
                                          % type(self).__name__)
        self.cache_name = self._cache_name()
        self.__collect__ = True
        if not self.__only_sub__:
            out = P if self.__only_all__ else None
            for i, rows in enumerate(self._partition_rows()):
                yield self.__subtype__(
                    job="fit", parent=self, estimator=clone(self.estimator),
                    in_index=rows, out_index=None, in_array=X, targets=y,
                    out_array=out, index=(i, 0))
        if not self.__only_all__:
            for s in self.indexer.fold_fits():
                yield self.__subtype__(
                    job="fit", parent=self, estimator=clone(self.estimator),
                    in_index=s.train, out_index=s.test, in_array=X,
                    targets=y, out_array=P,
                    index=(s.partition, max(s.fold, 1)))

    def _partition_rows(self):
        """Training rows of each full fit: all rows (None), or each
        partition's rows when the indexer has several."""
        if self._partitions == 1:
            return [None]
        return [s.train for s in self.indexer.full_fits()]

    def gen_transform(self, X, P=None):
        """Sub-learners reproducing the fit-time output (the fold fits)."""
        return self._gen_pred("transform", X, P, self.sublearners)

    def gen_predict(self, X, P=None):
        """Sub-learners predicting every row (the full fits)."""
        return self._gen_pred("predict", X, P, self.learner)

    def _gen_pred(self, job, X, P, fitted):
        for est in fitted:
            yield self.__subtype__(
                job=job, parent=self, estimator=est.estimator,
                in_index=est.in_index,
                out_index=None if job == "predict" else est.out_index,
                in_array=X, targets=None, out_array=P, index=est.index)

    def _cache_name(self):
        return self.name

    # -- fitted state --------------------------------------------------------
    def collect(self, path=None):
        """Load this node's fitted estimators from the cache ``path``
        (default: the cache of the last call)."""
        path = self._path if path is None else path
        if not self.__collect__:
            return
        fitted = entries(path, self.cache_name)
        full = [f for f in fitted if f.index[1] == 0]
        folds = [f for f in fitted if f.index[1] != 0]
        if self.__only_all__:
            folds = full
        self._learner_, self._sublearners_ = full, folds
        self._data_ = [(f.name, f.data) for f in folds]
        self._times_ = [(f.name, f.data) for f in full]
        self.__collect__ = False

    def clear(self):
        """Forget the fitted estimators."""
        self._learner_ = self._sublearners_ = None
        self._data_ = self._times_ = None
        self._path = None

    @property
    def __fitted__(self):
        """Whether the node holds fitted estimators for its indexer."""
        return bool(self._learner_ and self._sublearners_ and
                    getattr(self.indexer, "__fitted__", False))

    def _fitted(self, attr):
        if not self.__fitted__:
            raise NotFittedError("%r is not fitted" % self.name)
        return getattr(self, attr)

    @property
    def learner(self):
        """The full fits (:class:`IndexedEstimator`), used to predict."""
        return iter(self._fitted("_learner_"))

    @property
    def sublearners(self):
        """The fold fits, used to reproduce the fit-time output."""
        return iter(self._fitted("_sublearners_"))

    @property
    def raw_data(self):
        """``[(name, data)]`` of the fold fits."""
        return self._fitted("_data_")

    @property
    def data(self):
        """Mean and standard deviation of the fold fits' data per
        learner (and partition), as a :class:`~mlcore.metrics.Data`
        ``{'<column>-m': {row: value}, '<column>-s': ...}``."""
        return data_table(self.raw_data, self._partitions > 1)

    @property
    def times(self):
        """The same for the full fits (fit and predict seconds)."""
        return data_table(self._fitted("_times_"), self._partitions > 1)


class Learner(BaseNode):
    """An estimator with a cross-validation strategy (ML-Ensemble's
    ``mlens.parallel.Learner``).

    Parameters
    ----------
    estimator : estimator
        Cloned for every fit.
    indexer : indexer, int or scikit-learn splitter, optional
        Which rows each fit uses (:mod:`mlcore.index`); required before a
        job runs (see :meth:`set_indexer`).
    name : str, optional
        Cache name; must be unique among the nodes of one call. Default
        ``'learner-<k>'``.
    preprocess : str, optional
        Name of the :class:`Transformer` whose fitted pipelines this learner
        uses (they must run in the same call, e.g. in a ``Group``).
    attr : str, optional
        Prediction method; default ``'predict_proba'`` if ``proba`` else
        ``'predict'``.
    scorer : callable, optional
        ``scorer(y_true, y_pred)`` of the out-of-fold predictions.
    proba : bool, default=False
        Output one column per class (``predict_proba``).
    verbose : bool or int
    backend, n_jobs, dtype, raise_on_exception
        Engine settings used by :func:`~mlcore.parallel.run`; ``dtype`` of
        the output (default :func:`mlcore.config.get_dtype`).

    Examples
    --------
    Out-of-fold predictions of a two-fold cross-validation:

    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from mlcore.index import FoldIndex
    >>> from mlcore.parallel import Learner, run
    >>> X = np.arange(20.0).reshape(10, 2); y = X[:, 0] * 2
    >>> lr = Learner(LinearRegression(), indexer=FoldIndex(2), name="ols")
    >>> run(lr, "fit", X, y, return_preds=True).ravel()[:3]
    array([0., 4., 8.], dtype=float32)
    """

    __subtype__ = SubLearner

    def __init__(self, estimator, indexer=None, name=None, preprocess=None,
                 attr=None, scorer=None, proba=False, verbose=False,
                 backend=None, n_jobs=-1, dtype=None, raise_on_exception=True):
        self.preprocess = preprocess
        self.proba = proba
        self.attr = attr if attr else (
            "predict_proba" if proba else "predict")
        self.scorer = scorer
        self._classes = None
        self._init_node(name, estimator, indexer, verbose, "learner",
                        backend=backend, n_jobs=n_jobs, dtype=dtype,
                        raise_on_exception=raise_on_exception)

    def _get_multiplier(self, X, y):
        if not self.proba:
            return 1
        if y is not None:
            self._classes = int(np.unique(y).shape[0])
        if self._classes is None:
            raise NotFittedError("%r: proba needs the classes of y; fit "
                                 "with proba first" % self.name)
        return self._classes

    @property
    def classes_(self):
        """Number of classes (``proba``), as ML-Ensemble counted them."""
        return self._classes

    def _cache_name(self):
        if self.preprocess:
            return "%s.%s" % (self.preprocess, self.name)
        return self.name


class Transformer(BaseNode):
    """A preprocessing pipeline with a cross-validation strategy
    (ML-Ensemble's ``mlens.parallel.Transformer``).

    Inside a :class:`~mlcore.parallel.Layer` or
    :class:`~mlcore.parallel.Group` it has no output: it fits its
    :class:`~mlcore.parallel.Pipeline` on every split and caches it for the
    learners whose ``preprocess`` is its name. Run alone with
    ``return_preds=True`` its output is the transformed input (out of fold
    at fit and transform time, by the full fit at predict time).

    Parameters
    ----------
    estimator : Pipeline or list of transformers
        A list is made into ``Pipeline(estimator, return_y=True)``.
    indexer, name, verbose, backend, n_jobs, dtype, raise_on_exception
        As for :class:`Learner`; ``name`` is the preprocessing case name.
    """

    __subtype__ = SubTransformer

    def __init__(self, estimator, indexer=None, name=None, verbose=False,
                 backend=None, n_jobs=-1, dtype=None, raise_on_exception=True):
        if isinstance(estimator, (list, tuple)):
            from .handles import Pipeline
            estimator = Pipeline(list(estimator), return_y=True)
        if not (hasattr(estimator, "fit") and hasattr(estimator, "transform")):
            raise ValueError("Transformer needs a Pipeline (or an object with "
                             "fit and transform), got %r" % (estimator,))
        self._init_node(name, estimator, indexer, verbose, "transformer",
                        backend=backend, n_jobs=n_jobs, dtype=dtype,
                        raise_on_exception=raise_on_exception)
        self.__no_output__ = True

    def _get_multiplier(self, X, y=None):
        return X.shape[1]

    def _gen_pred(self, job, X, P, fitted):
        if self.__no_output__:
            return (Cache(est, self._path, self.verbose) for est in fitted)
        return super()._gen_pred(job, X, P, fitted)


class EvalTransformer(Transformer):
    """A :class:`Transformer` for cross-validated evaluation: fitted on the
    folds only, its fold pipelines also serve predictions."""

    def __init__(self, estimator, indexer=None, name=None, verbose=False,
                 backend=None, n_jobs=-1, dtype=None, raise_on_exception=True):
        super().__init__(estimator, indexer=indexer, name=name,
                         verbose=verbose, backend=backend, n_jobs=n_jobs,
                         dtype=dtype, raise_on_exception=raise_on_exception)
        self.output_columns = {0: 0}

    def set_indexer(self, indexer):
        super().set_indexer(indexer)
        self.__only_all__, self.__only_sub__ = False, True


class EvalLearner(Learner):
    """A :class:`Learner` for cross-validated evaluation
    (``Evaluator``-style callers of
    :class:`~mlcore.backend.ParallelEvaluation`): one fit per fold, scored
    with ``scorer(estimator, X, y)`` on the training and the test rows.

    Parameters
    ----------
    estimator, preprocess, name, attr, scorer
        As for :class:`Learner`; ``scorer`` is a scikit-learn style scorer
        ``scorer(estimator, X, y)``.
    error_score : float, optional
        Recorded (with a warning) when scoring fails; None raises.
    """

    __subtype__ = EvalSubLearner

    def __init__(self, estimator, preprocess, name, attr, scorer,
                 error_score=None, verbose=False, indexer=None, proba=False,
                 backend=None, n_jobs=-1, dtype=None, raise_on_exception=True):
        super().__init__(estimator, indexer=indexer, name=name,
                         preprocess=preprocess, attr=attr, scorer=scorer,
                         proba=proba, verbose=verbose, backend=backend,
                         n_jobs=n_jobs, dtype=dtype,
                         raise_on_exception=raise_on_exception)
        self.error_score = error_score
        self.output_columns = {0: 0}

    def set_indexer(self, indexer):
        super().set_indexer(indexer)
        self.__only_all__, self.__only_sub__ = False, True

    def collect(self, path=None):
        super().collect(path)
        if self._sublearners_ is not None and not self._learner_:
            self._learner_ = list(self._sublearners_)

    @property
    def __fitted__(self):
        return bool(self._sublearners_)
