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
import os
import sys
import threading
import time
import warnings
from collections import namedtuple
from functools import update_wrapper

import numpy as np
import scipy.sparse as sp

from . import _progress, _scheduler, _userwarnings, kernels
from ._store import cache_load, cache_save, nbytes
from .exceptions import LearnerError, ScorerError

SubResult = namedtuple(
    "SubResult", "key kind name partition fold fit_time predict_time score "
                 "estimator prediction")


def run(parallel, jobs, keys=None, small=False, sizes=None):
    """Run ``jobs`` on the engine's ``parallel``; results in job order.

    ``keys`` (one per job, or None) name process-wide resources that jobs
    use (see :func:`mlcore._scheduler.exclusive_key`); ``small`` says that
    the input is tiny; ``sizes`` (one per job, or None) are the jobs'
    working sets in bytes (see :func:`working_set`). In an ensemble fit
    with a fit store (see :mod:`mlcore.fitstore`), fits whose results are
    stored are read back instead of run. The engines of
    :mod:`mlcore.backend` hand their tasks a ``parallel`` with a
    ``run(jobs, keys, small, sizes)`` method; any other ``parallel`` (a
    joblib ``Parallel``) is called with the jobs.
    """
    if not jobs:
        return []
    from .fitstore import current
    from ._tolerance import store_wrap
    store = current()
    if store is not None:  # an ensemble fit with memory=
        jobs = store_wrap(store, jobs)
    deferred = []  # warnings for the user from worker threads
    jobs = in_caller_context(jobs, deferred)
    progress = _progress.current()
    if progress is not None:
        jobs = _progress.wrap(jobs, progress, parallel)
    runner = getattr(parallel, "run", None)
    if runner is None:
        results = _scheduler.run_jobs(jobs, parallel=parallel)
    else:
        results = runner(jobs, keys=keys, small=small, sizes=sizes)
    results = _userwarnings.reissued(results, deferred)
    if progress is not None:
        _progress.settle(progress, results)
    if store is not None:
        store.record(results)
    return results


class _InCallerContext(object):
    """A subtask that runs under the scikit-learn configuration (and, in
    another process, the warning filters) of the thread that dispatched it.

    scikit-learn keeps its configuration (``set_config``,
    ``config_context``) per thread, so fits on mlcore's worker threads would
    see the defaults; process workers see neither the configuration nor the
    caller's warning filters. In another process the call goes through
    ``sklearn.utils.parallel.delayed``'s wrapper, which restores both. In
    this process only the configuration is set: warning filters are
    process-wide there, and the wrapper's ``catch_warnings`` in a worker
    thread would save and later restore the global filters under the
    caller's feet (a filter the caller removed meanwhile would come back).
    """

    def __init__(self, func, config, filters, deferred=None):
        # first: update_wrapper copies the __dict__ of a callable object,
        # whose own ``func`` would replace the one set here
        update_wrapper(self, func)
        self.func, self.config, self.filters = func, config, filters
        self.pid, self.thread = os.getpid(), threading.get_ident()
        self.deferred = deferred

    def __call__(self, *args, **kwargs):
        from sklearn import config_context
        if os.getpid() == self.pid:
            # in a worker thread, mlcore's warnings for the user wait for
            # the dispatching thread (see mlcore._userwarnings)
            other = threading.get_ident() != self.thread
            with config_context(**self.config), _userwarnings.deferred_to(
                    self.deferred if other else None):
                return self.func(*args, **kwargs)
        from sklearn.utils.parallel import delayed
        wrapper = delayed(self.func)(*args, **kwargs)[0]
        if hasattr(wrapper, "with_config_and_warning_filters"):
            wrapper = wrapper.with_config_and_warning_filters(
                self.config, self.filters)
        else:  # scikit-learn < 1.7: the configuration only
            wrapper = wrapper.with_config(self.config)
        # the warnings of another process would be lost (or only printed
        # there): they travel back with the result
        return _userwarnings.recorded(wrapper, args, kwargs)


def in_caller_context(jobs, deferred=None):
    """``jobs`` (joblib-style ``(func, args, kwargs)``) that run under the
    calling thread's scikit-learn configuration and warning filters,
    wherever they run (see :class:`_InCallerContext`); ``deferred`` (a
    list) collects the warnings for the user that they issue in other
    threads."""
    try:
        from sklearn import get_config
    except ImportError:  # no scikit-learn: nothing to carry
        return jobs
    config, filters = get_config(), list(warnings.filters)
    return [(f if isinstance(f, _InCallerContext)
             else _InCallerContext(f, config, filters, deferred), a, k)
            for f, a, k in jobs]


def working_set(X, rows):
    """The bytes of input rows ``rows`` (None: all; a slice or an index
    array) of ``X``: what a subtask that fits on them copies, and a
    measure of the memory its learner works in, for the scheduler (see
    :class:`mlcore._scheduler._JobQueue`)."""
    total = nbytes(X)
    if not total and hasattr(X, "memory_usage"):  # a DataFrame
        total = int(X.memory_usage(index=False, deep=False).sum())
    n = X.shape[0] if getattr(X, "shape", None) else 0
    if rows is None or not n:
        return float(total)
    if isinstance(rows, slice):
        count = len(range(*rows.indices(n)))
    else:
        count = len(rows)
    return total * count / float(n)


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


def read_only(X):
    """``X`` as a learner may see it: a read-only view of an array, a
    sparse matrix over read-only views of its arrays; anything else as is.

    On thread and sequential backends learners share the caller's arrays
    (and the next layer's input): a learner that wrote into its input would
    change the caller's data and what the following learners see. Process
    backends hand them read-only memory maps, so read-only views make every
    backend behave the same; scikit-learn's estimators are tested on
    read-only memory maps and never write into their input unless told to
    (``copy=False``).
    """
    if isinstance(X, np.ndarray):
        if not X.flags.writeable:
            return X
        view = X.view()
        view.flags.writeable = False
        return view
    if sp.issparse(X):
        if X.format in ("csr", "csc", "bsr"):
            if not (X.data.flags.writeable or X.indices.flags.writeable
                    or X.indptr.flags.writeable):
                return X
            return type(X)((read_only(X.data), read_only(X.indices),
                            read_only(X.indptr)), shape=X.shape, copy=False)
        return X.copy()  # coo, lil, dok: hand the learner its own copy
    return X


def take(X, rows):
    """Rows ``rows`` of ``X`` (an array, a sparse matrix, a DataFrame or
    None); a slice is a free view. The caller's data (``rows`` None or a
    slice of an array) comes read-only (see :func:`read_only`)."""
    X = _aligned(X)
    if X is None:
        return X
    if rows is None:
        return read_only(X)
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if _gathered_by_kernel(X, rows):
        return kernels.take_rows(X, rows)
    if isinstance(rows, slice):
        return read_only(X[rows])
    return X[rows]


def apply_steps(steps, X):
    """``X`` transformed by fitted steps, in order."""
    for step in steps:
        X = step.transform(X)
    return X


def apply_steps_xy(steps, X, y):
    """``(X, y)`` transformed by fitted steps, in order. A step that
    transforms ``y`` too gives both: an ensemble in model selection mode
    (``model_selection=True``) returns the rows it predicted and their
    ``y``, for a blend layer fewer rows than it was given, as
    ML-Ensemble's ``transform(X, y)`` did."""
    for step in steps:
        if getattr(step, "model_selection", False) and \
                hasattr(step, "layers"):
            X, y = step.transform(X, y)
        else:
            X = step.transform(X)
    return X, y


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


def where(partition, fold, full=False):
    """A fit as messages name it: ``partition 0, fold 2``, or ``partition
    0, full fit`` for the fit on all rows of the partition."""
    if full:
        return "partition %d, full fit" % partition
    return "partition %d, fold %d" % (partition, fold)


def _failure(what, name, place, stage, exc):
    """The LearnerError of a subtask that failed."""
    return LearnerError.from_exception(
        "%s %r failed on %s during %s: %s: %s"
        % (what, name, place, stage, type(exc).__name__, exc), exc)


def _save_fitted(cache, key, fitted, what, name, place):
    """``cache_save`` of a subtask's fitted object. An object that cannot
    be pickled (it holds a lock, an open file) fails its learner like an
    error of its fit, naming it; an ``OSError`` (a full disk) stays what
    it is: it is not the learner's fault."""
    try:
        cache_save(cache, key, fitted)
    except OSError:
        raise
    except Exception as exc:
        raise _failure(what, name, place, "the saving of its fitted state "
                       "for the engine (on process backends it is pickled)",
                       exc) from exc


###############################################################################
# Layer subtasks

def _fit_pipeline(key, case, steps, X, y, train, partition, fold, cache,
                  fit_params, handback, full=False):
    """Fit a preprocessing case on the training rows of one split
    (``full``: all rows of the partition)."""
    t0 = time.perf_counter()
    place = where(partition, fold, full)
    try:
        fitted = fit_steps(steps, take(X, train), take(y, train))
    except Exception as exc:
        raise _failure("preprocessing case", case, place, "fit",
                       exc) from exc
    fit_time = time.perf_counter() - t0
    if not handback:
        _save_fitted(cache, key, fitted, "preprocessing case", case, place)
        fitted = None
    return SubResult(key, "transformer", case, partition, fold, fit_time, 0.0,
                     None, fitted, None)


def _check_labels(pred, classes):
    """Positions of the labels ``pred`` in ``classes``; ValueError for a
    label that is not one of them."""
    pos = np.searchsorted(classes, pred)
    found = pos < len(classes)
    found[found] = classes[pos[found]] == pred[found]
    if not found.all():
        raise ValueError(
            "predict returned label(s) %r, which are not among the classes "
            "of y %r" % (np.unique(pred[~found])[:5].tolist(),
                         np.asarray(classes).tolist()))
    return pos


def _predict_block(est, X, proba, classes, n_outputs=1):
    """Predictions of ``est`` for ``X``: one column, or one per class (one
    per output of a multi-output ``y``); a float array with one row per row
    of ``X``."""
    n = X.shape[0]
    if n_outputs > 1:
        return _predict_outputs(est, X, proba, classes, n_outputs)
    if not proba:
        pred = np.asarray(est.predict(X))
        if pred.ndim == 2 and pred.shape[1] == 1:
            pred = pred[:, 0]
        if pred.ndim != 1 or pred.shape[0] != n:
            raise ValueError("predict returned an output of shape %s for %d "
                             "rows; expected shape (%d,)"
                             % (pred.shape, n, n))
        # A classifier of an ensemble is fitted on the user's labels
        # (``classes``) and predicts them; the output holds their positions
        # in ``classes``, numbers for the next layer (text labels too).
        if classes is not None and getattr(est, "classes_", None) is not None:
            pred = _check_labels(pred, classes)
        return _as_float(pred, "predict").reshape(n, 1)
    p = np.asarray(est.predict_proba(X))
    est_classes = getattr(est, "classes_", None)
    known = est_classes if est_classes is not None else classes
    n_classes = None if known is None else len(known)
    if p.ndim != 2 or p.shape[0] != n or (
            n_classes is not None and p.shape[1] != n_classes):
        raise ValueError(
            "predict_proba returned an output of shape %s for %d rows; "
            "expected shape (%d, %s) (one column per class of classes_ %r)"
            % (p.shape, n, n, n_classes,
               None if est_classes is None else list(est_classes)))
    p = _as_float(p, "predict_proba")
    if est_classes is None or classes is None or (
            len(est_classes) == len(classes)
            and np.array_equal(est_classes, classes)):
        return p
    # A fold that lacked some classes: put each column where it belongs.
    out = np.zeros((n, len(classes)), dtype=p.dtype)
    out[:, _check_labels(np.asarray(est_classes), classes)] = p
    return out


def _predict_outputs(est, X, proba, classes, m):
    """The block of a learner of a multi-output ``y`` (``m`` columns): one
    column per output, holding its predictions (for multilabel
    classification, labels 0 and 1), or with ``proba`` the probability that
    the output's label is 1."""
    n = X.shape[0]
    if proba:
        return _positive_proba(est.predict_proba(X), est, n, m)
    pred = np.asarray(est.predict(X))
    if pred.shape != (n, m):
        raise ValueError(
            "predict returned an output of shape %s for %d rows, but y has "
            "%d outputs: expected shape (%d, %d). Use a learner that "
            "predicts every output, or wrap it in "
            "sklearn.multioutput.MultiOutputRegressor (or "
            "MultiOutputClassifier)" % (pred.shape, n, m, n, m))
    if classes is not None and getattr(est, "classes_", None) is not None:
        pred = _check_labels(pred, classes)
    return _as_float(pred, "predict")


def _positive_proba(p, est, n, m):
    """The probability of label 1 of each of ``m`` outputs, from a
    multilabel ``predict_proba``: scikit-learn's multi-output classifiers
    return a list of one ``(n, classes)`` array per output (an output
    whose training rows held no 1 has probability 0), one-vs-rest ones an
    ``(n, m)`` array of those probabilities already."""
    if not isinstance(p, list):
        p = np.asarray(p)
        if p.shape != (n, m):
            raise ValueError(
                "predict_proba returned an output of shape %s for %d rows "
                "of a multilabel y with %d outputs; expected a list of %d "
                "arrays or shape (%d, %d)" % (p.shape, n, m, m, n, m))
        return _as_float(p, "predict_proba")
    if len(p) != m:
        raise ValueError("predict_proba returned %d arrays for a multilabel "
                         "y with %d outputs" % (len(p), m))
    est_classes = getattr(est, "classes_", None)
    out = np.zeros((n, m), dtype=np.float64)
    for j, block in enumerate(p):
        block = np.asarray(block)
        labels = np.asarray([0, 1] if est_classes is None
                            else est_classes[j])
        if block.shape != (n, len(labels)):
            raise ValueError(
                "predict_proba returned an array of shape %s for output %d "
                "(%d rows, classes %r)" % (block.shape, j, n,
                                           labels.tolist()))
        one = np.flatnonzero(labels == 1)
        if one.size:
            out[:, j] = _as_float(block[:, one[0]], "predict_proba")
    return out


def votes(est, proba, classes):
    """Whether averaged predictions of ``est`` are class probabilities to
    turn into labels (:func:`harden`): a fitted classifier of a layer that
    passes on labels rather than probabilities."""
    return (not proba and classes is not None
            and getattr(est, "classes_", None) is not None)


def _vote_block(est, X, proba, classes, n_outputs):
    """What a bag of fold models averages for ``X``: a classifier that
    passes on labels gives its class probabilities (its predicted labels
    as one-hot votes when it has no ``predict_proba``); any other learner
    its block."""
    if not votes(est, proba, classes):
        return _predict_block(est, X, proba, classes, n_outputs)
    if hasattr(est, "predict_proba"):
        return _predict_block(est, X, True, classes, n_outputs)
    pos = _predict_block(est, X, False, classes, n_outputs)
    if n_outputs > 1:
        return pos  # labels 0 and 1: their average is the share of votes
    onehot = np.zeros((pos.shape[0], len(classes)), dtype=np.float64)
    onehot[np.arange(pos.shape[0]), pos[:, 0].astype(np.intp)] = 1.0
    return onehot


def harden(block, n_outputs=1):
    """Labels (positions in ``classes``, as floats) of averaged class
    probabilities: the most probable class, the first one on ties; for a
    multilabel ``y``, 1 where the probability of label 1 exceeds 0.5."""
    if n_outputs > 1:
        return (block > 0.5).astype(np.float64)
    return block.argmax(axis=1).astype(np.float64).reshape(-1, 1)


def _as_float(pred, method):
    """``pred`` as a float array (ValueError for anything else)."""
    if pred.dtype.kind == "f":
        return pred
    if pred.dtype.kind in "biu":
        return pred.astype(np.float64)
    raise ValueError("%s returned values of dtype %s; a layer's output holds "
                     "numbers" % (method, pred.dtype))


def check_block(pred, shape, dtype):
    """Raise ValueError unless ``pred`` fits the block of a layer's output
    that it is written into: exactly ``shape`` (rows, columns), finite, and
    within the range of the output's ``dtype``.

    Without the check, a block with an extra column would overwrite the
    next learner's column (on process backends, which write into a shared
    memory map; thread backends happened to write the learners in order),
    and NaN or infinity would be passed on to the next layer as a number.
    """
    if pred.shape != tuple(shape):
        raise ValueError("the predictions have shape %s, but the layer holds "
                         "a block of shape %s for them (rows x columns)"
                         % (pred.shape, tuple(shape)))
    finite = np.isfinite(pred)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError("the predictions hold %d non-finite value(s) "
                         "(first: %r at row %d, column %d)"
                         % (np.count_nonzero(~finite),
                            float(pred[row, col]), row, col))
    if dtype is not None and np.dtype(dtype).kind == "f" and pred.size and \
            np.dtype(dtype).itemsize < pred.dtype.itemsize:
        top = np.finfo(dtype).max
        big = np.abs(pred).max()
        if big > top:
            raise ValueError("the predictions reach %r, beyond the largest "
                             "%s value (%r) of the layer's output: use a "
                             "wider dtype (add(..., dtype=np.float64))"
                             % (float(big), np.dtype(dtype), float(top)))


def _predict_rows(est, pipeline, X, rows, proba, classes, width, dtype,
                  n_outputs=1, vote=False):
    """Preprocess and predict input rows ``rows``; (block, seconds). The
    block is checked (see :func:`check_block`) against ``width`` columns.
    With ``vote``, the block is what a bag of fold models averages (see
    :func:`_vote_block`), checked against its own width."""
    t0 = time.perf_counter()
    Xte = take(X, rows)
    if pipeline:
        Xte = apply_steps(pipeline, Xte)
    if vote:
        pred = _vote_block(est, Xte, proba, classes, n_outputs)
        check_block(pred, pred.shape, dtype)
    else:
        pred = _predict_block(est, Xte, proba, classes, n_outputs)
        if width is not None:
            check_block(pred, (Xte.shape[0], width), dtype)
    return pred, time.perf_counter() - t0


def _fit_learner(key, name, estimator, pipeline, X, y, train, test, P,
                 out_rows, col, proba, classes, scorer, fit_params, cache,
                 partition, fold, handback, width=None, dtype=None,
                 n_outputs=1, keep=False):
    """Fit a learner on the training rows of one split, predict its test
    rows and write them in place into ``P[out_rows, col:col+width]``
    (checked first: ``width`` columns, finite, within ``dtype``).

    With ``keep``, the test rows' block is returned instead, as a bag of
    fold models averages it (see :func:`_vote_block`), for a layer whose
    repeated folds predict every row several times; the score is that of
    its labels."""
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
            pred, predict_time = _predict_rows(
                est, pipeline, X, test, proba, classes, width, dtype,
                n_outputs, vote=keep)
            if scorer is not None and y is not None:
                score = _score_test(scorer, est, pipeline, X, take(y, test),
                                    test, pred, proba, classes, n_outputs,
                                    keep, name, "partition %d, fold %d"
                                    % (partition, fold))
            if not (handback or keep):
                P[out_rows, col:col + pred.shape[1]] = pred
                pred = None
    except ScorerError:
        raise  # the scorer's fault, not the learner's
    except Exception as exc:
        raise _failure("learner", name, where(partition, fold, test is None),
                       stage, exc) from exc
    if not handback:
        _save_fitted(cache, key, est, "learner", name,
                     where(partition, fold, test is None))
        est = None
    if big:
        _release_heap()
    return SubResult(key, "learner", name, partition, fold, fit_time,
                     predict_time, score, est, pred)


def _score_test(scorer, est, pipeline, X, y, test, pred, proba, classes,
                n_outputs, keep, name, where):
    """The score of a learner's predictions ``pred`` of the held-out rows
    ``test``: of the labels its layer passes on, or of its class
    probabilities where the layer passes them on or its scorer asks for
    them (``scorer.proba``: a meta layer whose input is probabilities)."""
    voted = keep and votes(est, proba, classes)
    if (getattr(scorer, "proba", False) and not proba and n_outputs == 1
            and classes is not None and hasattr(est, "predict_proba")):
        if not voted:  # a voted block is the probabilities already
            pred, _ = _predict_rows(est, pipeline, X, test, True, classes,
                                    None, None)
        return _score_fold(scorer, y, pred, True, name, where,
                           own_proba=False)
    return _score_fold(scorer, y, harden(pred, n_outputs) if voted else pred,
                       proba and not voted, name, where)


def _score_fold(scorer, y, pred, proba, name, where, own_proba=True):
    """``scorer(y, pred)`` of a learner's out-of-fold predictions; a
    ScorerError that says what the scorer was given if it fails
    (``own_proba``: probabilities because the layer passes them on, else
    because the scorer asks for them)."""
    try:
        return scorer(y, pred)
    except Exception as exc:
        received = getattr(scorer, "received", None)
        shape = np.shape(received(y, pred) if received is not None
                         else pred)
        if proba:
            why = ("the layer was added with proba=True" if own_proba else
                   "the layer before this meta layer passes probabilities "
                   "on (proba=True), and the meta learner is scored as the "
                   "learners it combines")
            hint = ("The scorer receives class probabilities, an array of "
                    "shape %s (one column per class of classes_), not "
                    "labels, as %s: use a scorer of probabilities (such as "
                    "sklearn.metrics.log_loss)%s." % (
                        shape, why, ", or add the layer without proba=True "
                        "to score predicted labels" if own_proba else ""))
        else:
            what = "predicted labels" if getattr(
                scorer, "classification", False) else "predictions"
            hint = ("The scorer is called as scorer(y_true, y_pred) with "
                    "the learner's %s of the held-out rows, an array of "
                    "shape %s." % (what, shape))
        raise ScorerError(
            "scorer %s failed on the out-of-fold predictions of learner %r "
            "(%s): %s: %s. %s" % (getattr(scorer, "name", scorer), name,
                                  where, type(exc).__name__, exc, hint)
        ) from exc


def _predict_learner(key, name, est, pipeline, X, rows, P, out_rows, col,
                     proba, classes, partition, fold, job, handback,
                     width=None, dtype=None, n_outputs=1, keep=False):
    """Predict with a fitted learner and write into ``P`` (checked first,
    as in :func:`_fit_learner`); with ``keep``, return the block as
    :func:`_fit_learner` does."""
    try:
        pred, predict_time = _predict_rows(est, pipeline, X, rows, proba,
                                           classes, width, dtype, n_outputs,
                                           vote=keep)
    except Exception as exc:
        # a fold-0 model predicting all rows (new data) is the full fit
        raise _failure("learner", name, where(partition, fold,
                                              fold == 0 and rows is None),
                       job, exc) from exc
    if not (handback or keep):
        P[out_rows, col:col + pred.shape[1]] = pred
        pred = None
    return SubResult(key, "learner", name, partition, fold, 0.0,
                     predict_time, None, None, pred)


# The most training rows a full fit's check predicts.
_CHECK_ROWS = 16


def _sample_rows(train, n):
    """Up to ``_CHECK_ROWS`` of the rows ``train`` (None: all ``n``),
    evenly spread, the first and the last included."""
    if train is None or isinstance(train, slice):
        rows = np.arange(n)[train if train is not None else slice(None)]
    else:
        rows = np.asarray(train)
    if rows.shape[0] <= _CHECK_ROWS:
        return rows
    return rows[np.unique(np.linspace(0, rows.shape[0] - 1,
                                      _CHECK_ROWS).astype(np.intp))]


def check_full_fit(result, key, name, pipeline, X, train, proba, classes,
                   cache, partition, handback, width=None, dtype=None,
                   n_outputs=1, **_):
    """Raise LearnerError unless the full fit that returned ``result``
    (the other arguments: those of its :func:`_fit_learner` call) predicts
    a sample of its training rows as the layer needs (the checks of
    :func:`check_block`).

    A full fit predicts nothing at fit time, so without this a learner
    whose full fit fails to predict (an exception, NaN, a wrong shape)
    would only fail at predict time, when it can no longer be dropped.
    """
    est = result.estimator if handback else cache_load(cache, key)
    place = where(partition, 0, True)
    rows = _sample_rows(train, X.shape[0])
    try:
        if isinstance(pipeline, str):
            pipeline = cache_load(cache, pipeline)
        _predict_rows(est, pipeline, X, rows, proba, classes, width, dtype,
                      n_outputs)
    except Exception as exc:
        raise _failure("learner", name, place, "the check of its "
                       "predictions (%d training rows)" % rows.shape[0],
                       exc) from exc


def _predict_bag(key, name, ests, pipelines, X, P, proba, classes,
                 partition, handback, col, width, dtype=None, n_outputs=1):
    """Predict every row of ``X`` with the average of a partition's fold
    models (a layer fitted without a full fit) and write it into ``P``.

    The fold models' blocks are summed in fold order and divided by their
    number; a classifier that passes on labels averages class
    probabilities and passes on the most probable class (see
    :func:`harden`)."""
    fold = 0
    try:
        t0, total = time.perf_counter(), None
        for fold, (est, pipeline) in enumerate(zip(ests, pipelines), 1):
            block, _ = _predict_rows(est, pipeline, X, None, proba, classes,
                                     None, dtype, n_outputs, vote=True)
            total = block if total is None else total + block
        pred = total / len(ests)
        if votes(ests[0], proba, classes):
            pred = harden(pred, n_outputs)
        fold = 0
        check_block(pred, (pred.shape[0], width), dtype)
    except Exception as exc:
        where = "partition %d, %s" % (partition, "fold %d" % fold if fold
                                      else "the average of its fold models")
        raise _failure("learner", name, where, "predict", exc) from exc
    if not handback:
        P[:, col:col + pred.shape[1]] = pred
        pred = None
    return SubResult(key, "learner", name, partition, 0, 0.0,
                     time.perf_counter() - t0, None, None, pred)


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
            Xtr, ytr = apply_steps_xy(pipeline, Xtr, ytr)
            Xte, yte = apply_steps_xy(pipeline, Xte, yte)
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
