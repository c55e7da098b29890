"""The subtasks that layers and evaluators dispatch: fit a preprocessing
case on a fold, fit a learner on a fold and predict its test rows, predict
with a fitted learner, and fit and score one parameter draw of an
estimator.

Subtasks are module-level functions, so that process backends can pickle
them. A layer's subtasks store fitted objects in the estimation cache and
return a small :class:`SubResult` (timings, score); with ``handback=True``
they return the fitted estimator and the prediction block instead of
writing them, for engines with no shared memory. Every failure is raised as
a :class:`mlcore.exceptions.LearnerError` naming the estimator and the
fold, with the original exception as its cause.

:func:`run` hands a list of subtasks to the engine: the engines of
:mod:`mlcore.backend` schedule them (see :mod:`mlcore._scheduler`); a plain
joblib ``Parallel`` just runs them.
"""
import sys
import time
from collections import namedtuple

import numpy as np
import scipy.sparse as sp

from . import _scheduler, kernels
from ._store import cache_load, cache_save, nbytes
from .exceptions import LearnerError

SubResult = namedtuple(
    "SubResult", "key kind name partition fold fit_time predict_time score "
                 "estimator prediction")


def run(parallel, jobs, keys=None, small=False):
    """Run ``jobs`` on the engine's ``parallel``; results in job order.

    ``keys`` (one per job, or None) name resources that jobs must not use
    at the same time (see :func:`mlcore._scheduler.exclusive_key`);
    ``small`` says that the input is tiny. The engines of
    :mod:`mlcore.backend` hand their tasks a ``parallel`` with a
    ``run(jobs, keys, small)`` method; any other ``parallel`` (a joblib
    ``Parallel``) is called with the jobs.
    """
    if not jobs:
        return []
    runner = getattr(parallel, "run", None)
    if runner is None:
        return _scheduler.run_jobs(jobs, parallel=parallel)
    return runner(jobs, keys=keys, small=small)


###############################################################################
# Rows and steps

def _aligned(X):
    """``X``, or a copy of it if its data is not aligned to its item size.

    A distributed backend (dask) can deserialize an array at any byte offset
    of a message buffer. numpy and BLAS run other loops on unaligned data,
    which round differently, so without the copy a fit on a worker could
    differ in the last bits from the same fit in this process.
    """
    if isinstance(X, np.ndarray):
        return X if X.flags.aligned else np.array(X, order="K")
    if sp.issparse(X) and not all(
            a.flags.aligned for a in (getattr(X, name, None) for name in
                                      ("data", "indices", "indptr"))
            if isinstance(a, np.ndarray)):
        return X.copy()
    return X


def _gathered_by_kernel(X, rows):
    """Whether :func:`take` gathers ``rows`` of ``X`` with
    :func:`mlcore.kernels.take_rows` rather than numpy's ``X[rows]``.

    The kernel copies whole rows with ``memcpy`` without the GIL; measured
    with ``benchmarks/take_rows.py`` it is 1.05-3.2x faster than numpy on
    C-ordered float32/float64 tables of two or more columns, but its
    validation costs a few microseconds, and numpy's gather of single
    values is fast: numpy stays faster on 1-D arrays (targets), single
    columns and gathers of fewer than ``_KERNEL_MIN_VALUES`` values, and it
    handles every other dtype and layout.
    """
    return (isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] >= 2
            and X.dtype in (np.float64, np.float32) and X.flags.c_contiguous
            and isinstance(rows, np.ndarray) and rows.dtype.kind in "iu"
            and rows.shape[0] * X.shape[1] >= _KERNEL_MIN_VALUES)


# Fewer values than this are gathered by numpy (see _gathered_by_kernel).
_KERNEL_MIN_VALUES = 4096


def take(X, rows):
    """Rows ``rows`` of ``X`` (an array, a sparse matrix, a DataFrame or
    None); a slice is a free view."""
    X = _aligned(X)
    if X is None or rows is None:
        return X
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if _gathered_by_kernel(X, rows):
        return kernels.take_rows(X, rows)
    return X[rows]


def apply_steps(steps, X):
    """``X`` transformed by fitted steps, in order."""
    for step in steps:
        X = step.transform(X)
    return X


def fit_steps(steps, X, y):
    """Clones of ``steps`` fitted in order, as a scikit-learn ``Pipeline``
    fits them: each step but the last on the output of the previous ones
    (``fit_transform``), the last with ``fit`` only."""
    from sklearn.base import clone
    fitted = []
    last = len(steps) - 1
    for i, step in enumerate(steps):
        step = clone(step)
        if i == last:
            step.fit(X, y)
        elif hasattr(step, "fit_transform"):
            X = step.fit_transform(X, y)
        else:
            X = step.fit(X, y).transform(X)
        fitted.append(step)
    return fitted


# Subtasks that copied at least this many bytes of training rows release
# the freed heap afterwards.
_RELEASE_BYTES = 4 << 20
_MALLOC_TRIM = []


def _release_heap():
    """Give the memory freed by a subtask back to the OS (glibc only).

    glibc keeps freed blocks in per-thread arenas, and raises its mmap
    threshold up to the size of the largest block freed (32 MiB at most),
    so fold copies and learners' temporaries of one subtask stay in the
    process after it ends and add up across the worker threads: on a
    sparse benchmark with 2 threads the resident size stayed ~25 MB above
    the live data. ``malloc_trim(0)`` hands whole free pages back (0.3-1
    ms, without the GIL); only called after subtasks that moved megabytes.
    """
    if not _MALLOC_TRIM:
        trim = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes
                trim = ctypes.CDLL(None).malloc_trim
                trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
            except (OSError, AttributeError):  # not glibc (e.g. musl)
                trim = None
        _MALLOC_TRIM.append(trim)
    if _MALLOC_TRIM[0] is not None:
        _MALLOC_TRIM[0](0)


def _failure(what, name, where, stage, exc):
    """The LearnerError of a subtask that failed."""
    return LearnerError.from_exception(
        "%s %r failed on %s during %s: %s: %s"
        % (what, name, where, stage, type(exc).__name__, exc), exc)


###############################################################################
# Layer subtasks

def _fit_pipeline(key, case, steps, X, y, train, partition, fold, cache,
                  fit_params, handback):
    """Fit a preprocessing case on the training rows of one split."""
    t0 = time.perf_counter()
    try:
        fitted = fit_steps(steps, take(X, train), take(y, train))
    except Exception as exc:
        raise _failure("preprocessing case", case, "partition %d, fold %d"
                       % (partition, fold), "fit", exc) from exc
    fit_time = time.perf_counter() - t0
    if not handback:
        cache_save(cache, key, fitted)
        fitted = None
    return SubResult(key, "transformer", case, partition, fold, fit_time, 0.0,
                     None, fitted, None)


def _predict_block(est, X, proba, classes):
    """Predictions of ``est`` for ``X``: one column, or one per class."""
    if not proba:
        pred = est.predict(X)
        # A classifier of an ensemble is fitted on the user's labels
        # (``classes``) and predicts them; the output holds their positions
        # in ``classes``, numbers for the next layer (text labels too).
        if classes is not None and getattr(est, "classes_", None) is not None:
            pred = np.searchsorted(classes, np.asarray(pred).ravel())
        return np.asarray(pred, dtype=np.float64).reshape(X.shape[0], -1)
    p = est.predict_proba(X)
    est_classes = getattr(est, "classes_", None)
    if est_classes is None or classes is None or (
            len(est_classes) == len(classes)
            and np.array_equal(est_classes, classes)):
        return p
    # A fold that lacked some classes: put each column where it belongs.
    out = np.zeros((p.shape[0], len(classes)), dtype=p.dtype)
    out[:, np.searchsorted(classes, est_classes)] = p
    return out


def _predict_rows(est, pipeline, X, rows, proba, classes):
    """Preprocess and predict input rows ``rows``; (block, seconds)."""
    t0 = time.perf_counter()
    Xte = take(X, rows)
    if pipeline:
        Xte = apply_steps(pipeline, Xte)
    pred = _predict_block(est, Xte, proba, classes)
    return pred, time.perf_counter() - t0


def _fit_learner(key, name, estimator, pipeline, X, y, train, test, P,
                 out_rows, col, proba, classes, scorer, fit_params, cache,
                 partition, fold, handback):
    """Fit a learner on the training rows of one split, predict its test
    rows and write them in place into ``P[out_rows, col:col+width]``."""
    from sklearn.base import clone
    est = clone(estimator)
    stage = "fit"
    try:
        t0 = time.perf_counter()
        if isinstance(pipeline, str):
            pipeline = cache_load(cache, pipeline)
        Xtr = take(X, train)
        if pipeline:
            Xtr = apply_steps(pipeline, Xtr)
        params = {k: take(v, train) for k, v in (fit_params or {}).items()}
        est.fit(Xtr, take(y, train), **params)
        fit_time = time.perf_counter() - t0
        # the training rows are a copy: free them before predicting, and
        # hand large freed blocks back to the OS (see _release_heap)
        big = train is not None and nbytes(Xtr) >= _RELEASE_BYTES
        del Xtr, params
        pred, score, predict_time = None, None, 0.0
        if test is not None:
            stage = "predict"
            pred, predict_time = _predict_rows(est, pipeline, X, test, proba,
                                               classes)
            if scorer is not None and y is not None:
                score = scorer(take(y, test), pred)
            if not handback:
                P[out_rows, col:col + pred.shape[1]] = pred
                pred = None
    except Exception as exc:
        raise _failure("learner", name, "partition %d, fold %d"
                       % (partition, fold), stage, exc) from exc
    if not handback:
        cache_save(cache, key, est)
        est = None
    if big:
        _release_heap()
    return SubResult(key, "learner", name, partition, fold, fit_time,
                     predict_time, score, est, pred)


def _predict_learner(key, name, est, pipeline, X, rows, P, out_rows, col,
                     proba, classes, partition, fold, job, handback):
    """Predict with a fitted learner and write into ``P``."""
    try:
        pred, predict_time = _predict_rows(est, pipeline, X, rows, proba,
                                           classes)
    except Exception as exc:
        raise _failure("learner", name, "partition %d, fold %d"
                       % (partition, fold), job, exc) from exc
    if not handback:
        P[out_rows, col:col + pred.shape[1]] = pred
        pred = None
    return SubResult(key, "learner", name, partition, fold, 0.0,
                     predict_time, None, None, pred)


###############################################################################
# Evaluator subtasks

def score(scorer, kind, est, X, y):
    """``scorer(est, X, y)`` for a scorer object (``kind='estimator'``),
    else ``scorer(y, est.predict(X))``."""
    if kind == "estimator":
        return float(scorer(est, X, y))
    return float(scorer(y, est.predict(X)))


def _fmt_exc(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def _fit_preprocessing(key, case, steps, X, y, train, fold, cache, catch):
    """Fit the steps of a preprocessing case on the training rows of one fold
    and store the fitted steps in the cache under ``key``.

    Returns ``(case, fold, fit_time, error)``; ``error`` is None unless the
    fit failed and ``catch`` is set.
    """
    t0 = time.perf_counter()
    try:
        cache_save(cache, key, fit_steps(steps, take(X, train),
                                         take(y, train)))
    except Exception as exc:
        msg = ("preprocessing case %r failed on fold %d during fit: %s"
               % (case, fold, _fmt_exc(exc)))
        if catch:
            return case, fold, time.perf_counter() - t0, msg
        raise LearnerError.from_exception(msg, exc) from exc
    return case, fold, time.perf_counter() - t0, None


def _evaluate_draw(name, draw, fold, estimator, params, pipe_key, cache, X, y,
                   train, test, scorer, kind, catch):
    """Fit one draw of an estimator on one fold and score it.

    Returns ``(name, draw, fold, test_score, train_score, fit_time,
    pred_time, error)``. ``fit_time`` is the estimator's fit,
    ``pred_time`` the scoring of the test rows (prediction included);
    applying the already fitted preprocessing is in neither.
    """
    from sklearn.base import clone
    stage = "preprocessing"
    fit_time = pred_time = np.nan
    try:
        Xtr, ytr = take(X, train), take(y, train)
        Xte, yte = take(X, test), take(y, test)
        if pipe_key is not None:
            pipeline = cache_load(cache, pipe_key)
            Xtr, Xte = apply_steps(pipeline, Xtr), apply_steps(pipeline, Xte)
        stage = "fit"
        est = clone(estimator)
        if params:
            est.set_params(**params)
        t0 = time.perf_counter()
        est.fit(Xtr, ytr)
        fit_time = time.perf_counter() - t0
        stage = "scoring of the test rows"
        t0 = time.perf_counter()
        test_score = score(scorer, kind, est, Xte, yte)
        pred_time = time.perf_counter() - t0
        stage = "scoring of the training rows"
        train_score = score(scorer, kind, est, Xtr, ytr)
    except Exception as exc:
        msg = ("estimator %r failed on draw %d (params %r), fold %d, during "
               "%s: %s" % (name, draw, params, fold, stage, _fmt_exc(exc)))
        if catch:
            return name, draw, fold, None, None, fit_time, pred_time, msg
        raise LearnerError.from_exception(msg, exc) from exc
    return (name, draw, fold, test_score, train_score, fit_time, pred_time,
            None)
