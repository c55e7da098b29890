"""The task graph: learners, preprocessing cases, groups and layers.

A :class:`Layer` is the task that :class:`mlcore.backend.ParallelProcessing`
runs. It owns one or more :class:`Group` objects, each an indexer (how the
rows are split into folds) with the :class:`Learner` objects and the
preprocessing cases (:class:`Transformer`) fitted on those folds.

Calling a layer runs two flat pools through the engine's ``parallel``:

1. every (preprocessing case x split) fit, when the layer has preprocessing;
2. every (learner x split) fit, full refits included, each writing its
   out-of-fold predictions in place into the layer's output array ``P``.

Subtasks are module-level functions (picklable for process backends). They
store fitted objects in the estimation cache and return a small
:class:`SubResult` (timings, score); with ``handback=True`` they return the
fitted estimator and the prediction block instead of writing them, for
engines with no shared memory.
"""
import numbers
import os
import pickle
import sys
import threading
import time
import warnings
from collections import namedtuple

import numpy as np
import scipy.sparse as sp

from .backend import delayed
from .exceptions import LayerSpecificationError, NotFittedError
from .index import make_index
from .threadpools import native_limits

__all__ = ["Learner", "Transformer", "Group", "make_group", "Layer",
           "LearnerError", "LearnerValueError", "LearnerTypeError",
           "SubResult"]


class LearnerError(RuntimeError):
    """A learner or preprocessing pipeline failed on one fold.

    The message names the learner, the partition and fold, the job and the
    original exception, which is also chained as ``__cause__``.

    When the original exception is a ``ValueError`` or a ``TypeError`` (bad
    data or parameters, as scikit-learn estimators raise them), the error
    raised is :class:`LearnerValueError` or :class:`LearnerTypeError`, which
    are both a ``LearnerError`` and that built-in type, so that code catching
    an estimator's ``ValueError`` keeps working around an ensemble.

    Attributes
    ----------
    original : BaseException or None
        The original exception. joblib replaces ``__cause__`` of errors
        raised in its workers (threads too) with a remote traceback; the
        layer puts ``original`` back as ``__cause__`` when the error reaches
        it (with the remote traceback, if any, as the original's cause).
    """

    original = None

    def __reduce__(self):
        # Process backends pickle the error: keep the original exception if
        # it pickles, else drop it rather than fail to report the error.
        state = dict(self.__dict__)
        if state.get("original") is not None:
            try:
                pickle.dumps(state["original"])
            except Exception:
                state["original"] = None
        return (type(self), self.args, state)


class LearnerValueError(LearnerError, ValueError):
    """A :class:`LearnerError` caused by a ``ValueError``."""


class LearnerTypeError(LearnerError, TypeError):
    """A :class:`LearnerError` caused by a ``TypeError``."""


def _learner_error(message, exc):
    """The LearnerError for ``exc``, of the family of the original type."""
    if isinstance(exc, ValueError):
        err = LearnerValueError(message)
    elif isinstance(exc, TypeError):
        err = LearnerTypeError(message)
    else:
        err = LearnerError(message)
    err.original = exc
    return err


def _thread_workers(parallel):
    """The number of workers of ``parallel`` when they are threads of this
    process and there are several; None otherwise (one worker, or process
    workers, which joblib's loky backend limits itself)."""
    try:
        backend = parallel._backend
        if not getattr(backend, "uses_threads", False):
            return None
        workers = backend.effective_n_jobs(parallel.n_jobs)
    except Exception:  # a backend we cannot inspect
        return None
    return workers if workers > 1 else None


class _OpenMPLimited(object):
    """A subtask run with at most ``n`` OpenMP threads: OpenMP's thread
    count is a per-thread setting, so it is set in the worker thread."""

    def __init__(self, func, limits, n):
        self.func, self.limits, self.n = func, limits, n

    def __call__(self, *args, **kwargs):
        with self.limits.openmp(self.n):
            return self.func(*args, **kwargs)


_POOLS = {}
_POOLS_LOCK = threading.Lock()


class _JobQueue(object):
    """The jobs of one call, handed to the worker threads in order, except
    that two jobs with the same exclusive key never run at the same time:
    a free worker takes the first pending job whose key is not held, and
    waits when there is none."""

    def __init__(self, jobs, keys):
        self.jobs, self.keys = jobs, keys
        # jobs with a key form chains that run one at a time: start them
        # first, so that the other jobs run beside them rather than before
        self.pending = ([i for i, k in enumerate(keys) if k is not None] +
                        [i for i, k in enumerate(keys) if k is None])
        self.held = set()
        self.results = [None] * len(jobs)
        self.error = None
        self.stopped = False
        self.cond = threading.Condition()

    def take(self):
        with self.cond:
            while self.pending and self.error is None and not self.stopped:
                for pos, i in enumerate(self.pending):
                    key = self.keys[i]
                    if key is None or key not in self.held:
                        del self.pending[pos]
                        if key is not None:
                            self.held.add(key)
                        return i
                self.cond.wait()
            return None

    def done(self, i, result=None, error=None):
        with self.cond:
            self.held.discard(self.keys[i])
            if error is not None:
                if self.error is None:
                    self.error = error
            else:
                self.results[i] = result
            self.cond.notify_all()

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()


_WORKER = threading.local()


def _in_worker():
    """True in a thread that is running a subtask of an mlcore layer."""
    return getattr(_WORKER, "active", False)


def _drain(queue):
    _WORKER.active = True
    try:
        while True:
            i = queue.take()
            if i is None:
                return
            func, args, kwargs = queue.jobs[i]
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                queue.done(i, error=exc)
            else:
                queue.done(i, result=result)
    finally:
        _WORKER.active = False


def _run_in_threads(workers, jobs, keys=None):
    """Run joblib-style ``(func, args, kwargs)`` jobs on a persistent pool
    of ``workers`` threads; results in job order.

    joblib's threading ``Parallel`` costs about 10 ms per call whatever the
    work (its result loop polls with ``sleep(0.01)``), which dominates small
    layers; this pool costs well under 1 ms. Pools are kept per process id,
    so a forked child makes its own. ``keys`` (one per job, or None) name
    resources that jobs must not use at the same time (see
    :func:`_exclusive_key`); other jobs run meanwhile. On the first error no
    further job starts, the running ones are waited for, and the error is
    raised.
    """
    from concurrent.futures import ThreadPoolExecutor, wait
    pool_key = (os.getpid(), workers)
    with _POOLS_LOCK:
        pool = _POOLS.get(pool_key)
        if pool is None:
            pool = _POOLS[pool_key] = ThreadPoolExecutor(
                workers, thread_name_prefix="mlcore-worker")
    queue = _JobQueue(jobs, keys if keys is not None else [None] * len(jobs))
    try:
        wait([pool.submit(_drain, queue)
              for _ in range(min(workers, len(jobs)))])
    except BaseException:  # e.g. KeyboardInterrupt in the driver
        queue.stop()
        raise
    if queue.error is not None:
        raise queue.error
    return queue.results


def _exclusive_key(estimator):
    """The name of a process-wide resource that fits of ``estimator`` must
    not share with each other, or None.

    scikit-learn's liblinear and libsvm wrappers draw random numbers from
    one global generator per extension module (``mt_rand`` in
    ``sklearn/svm/src/newrand/newrand.h``), reseeded at the start of every
    fit and used without the GIL: two such fits in threads of one process
    interleave their draws, and their results stop being reproducible
    (W3's LinearSVR out-of-fold predictions differed by up to 1.2e-2 from
    ``cross_val_predict``). Seeded fits of the solvers that draw (liblinear's
    coordinate descent: dual or L1; libsvm's probability estimates) are
    therefore run one at a time on thread workers, while other fits run
    beside them; process workers (``backend='loky'``) have their own
    generators and run them in parallel. Estimators nested in parameters
    (pipelines, wrappers) are looked at too.
    """
    seen = set()
    stack = [estimator]
    while stack:
        est = stack.pop()
        if id(est) in seen:
            continue
        seen.add(id(est))
        module = type(est).__module__ or ""
        name = type(est).__name__
        # unseeded fits are not reproducible anyway: only seeded ones wait
        if module.startswith("sklearn.") and \
                getattr(est, "random_state", None) is not None:
            dual = getattr(est, "dual", None)
            penalty = getattr(est, "penalty", None)
            # liblinear's primal L2 solver (trust-region Newton) draws no
            # random numbers; its coordinate-descent solvers do
            if name == "LinearSVR" and dual is not False:
                return "liblinear"
            if name == "LinearSVC" and not (dual is False and penalty == "l2"):
                return "liblinear"
            if name in ("LogisticRegression", "LogisticRegressionCV") and \
                    getattr(est, "solver", None) == "liblinear" and \
                    (dual is True or penalty == "l1"):
                return "liblinear"
            if name in ("SVC", "NuSVC") and \
                    getattr(est, "probability", False) is True:
                return "libsvm"
        get_params = getattr(est, "get_params", None)
        if get_params is None:
            continue
        try:
            params = get_params(deep=False)
        except Exception:  # not a scikit-learn style estimator
            continue
        for value in params.values():
            if isinstance(value, (list, tuple)):
                stack.extend(v[-1] if isinstance(v, tuple) else v
                             for v in value)
            elif hasattr(value, "get_params") and not isinstance(value, type):
                stack.append(value)
    return None


# A layer whose input holds at most _INLINE_BYTES runs its subtasks in the
# calling thread for as long as they take under _INLINE_SECONDS on average
# (plus _INLINE_SLACK in all).
_INLINE_BYTES = 1 << 20
_INLINE_SECONDS = 0.005
_INLINE_SLACK = 0.02


def _is_small(X):
    """True when X (array, sparse or table) holds at most _INLINE_BYTES."""
    if isinstance(X, np.ndarray) or sp.issparse(X):
        return _nbytes(X) <= _INLINE_BYTES
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        return False
    return shape[0] * shape[1] * 8 <= _INLINE_BYTES


def _run_inline(jobs):
    """Run jobs in this thread while they are quick; (results, the rest).

    Fits on tiny data spend their time in Python (argument checks, small
    numpy calls) under the GIL, so threads cannot run them side by side;
    they only add hand-offs. On W4 (500 x 10, 31 subtasks of ~1.5 ms) two
    thread workers took 0.065-0.077 s per fit against 0.049 s in one
    thread. Subtasks slower than that are doing real work (compiled loops
    that release the GIL): once the subtasks run so far average more than
    _INLINE_SECONDS (plus _INLINE_SLACK), the remaining ones go to the
    workers, so little work runs without parallelism.
    """
    results = []
    t0 = time.perf_counter()
    for i, (func, args, kwargs) in enumerate(jobs):
        results.append(func(*args, **kwargs))
        # on average slower than _INLINE_SECONDS, with some slack for the
        # one-off costs of a first call (lazy imports, caches)
        if time.perf_counter() - t0 > (i + 1) * _INLINE_SECONDS + _INLINE_SLACK:
            return results, jobs[i + 1:]
    return results, []


class _Locked(object):
    """A job that holds ``lock`` while it runs (joblib's verbose Parallel,
    which cannot pick jobs around an exclusive one)."""

    def __init__(self, func, lock):
        self.func, self.lock = func, lock

    def __call__(self, *args, **kwargs):
        with self.lock:
            return self.func(*args, **kwargs)


_KEY_LOCKS = {}


def _run_jobs(parallel, jobs, small=False, keys=None):
    """``parallel(jobs)``, with the original exception of a LearnerError
    restored as its ``__cause__`` (joblib replaces it).

    With several thread workers, the jobs run on a persistent thread pool
    of as many threads (see :func:`_run_in_threads`; joblib's ``Parallel``
    when it is verbose), and BLAS (a process-wide setting) and OpenMP (set
    in each worker) are limited to ``cores // workers`` threads during the
    call, so that parallel learners do not oversubscribe the cores. Jobs
    with the same key in ``keys`` do not run at the same time (see
    :func:`_exclusive_key`). With ``small`` (the layer's input is tiny), the
    jobs first run in this thread while they are quick (see
    :func:`_run_inline`). Called from a worker thread (an ensemble fitted as
    a learner of another one), the jobs run one after another in that
    thread: the outer layer already keeps every worker busy, and waiting on
    the same pool from inside it would deadlock.
    """
    workers = _thread_workers(parallel)
    try:
        if workers is None:
            return parallel(jobs)
        if _in_worker():
            return [f(*a, **k) for f, a, k in jobs]
        keys = list(keys) if keys is not None else [None] * len(jobs)
        verbose = getattr(parallel, "verbose", 0)
        done = []
        if small and not verbose:
            done, jobs = _run_inline(jobs)
            keys = keys[len(done):]
            if not jobs:
                return done
        from joblib import cpu_count
        n = max(1, cpu_count() // workers)
        limits = native_limits()
        jobs = [(_OpenMPLimited(f, limits, n), a, k) for f, a, k in jobs]
        with limits.blas(n):
            if verbose:
                with _POOLS_LOCK:
                    locks = {key: _KEY_LOCKS.setdefault(key, threading.Lock())
                             for key in set(keys) if key is not None}
                jobs = [(_Locked(f, locks[key]) if key is not None else f, a, k)
                        for (f, a, k), key in zip(jobs, keys)]
                return parallel(jobs)
            return done + _run_in_threads(workers, jobs, keys)
    except LearnerError as exc:
        original = exc.original
        if original is not None and exc.__cause__ is not original:
            remote = exc.__cause__
            if remote is not None and original.__cause__ is None and \
                    original.__traceback__ is None:
                original.__cause__ = remote  # keep the worker's traceback
            exc.__cause__ = original
        raise


SubResult = namedtuple(
    "SubResult", "key kind name partition fold fit_time predict_time score "
                 "estimator prediction")


###############################################################################
# Estimation cache: a directory (process backends) or a list (in memory)

def _cache_save(cache, key, obj):
    if isinstance(cache, str):
        path = os.path.join(cache, key + ".pkl")
        tmp = path + ".part"
        # cloudpickle (a joblib dependency; older joblib vendored it): a
        # process worker must also be able to save an estimator whose class
        # was defined in the caller's __main__ (a script, a notebook), which
        # plain pickle refuses there; importable classes are pickled by
        # reference, as pickle does.
        try:
            import cloudpickle as pickler
        except ImportError:  # pragma: no cover
            try:
                from joblib.externals import cloudpickle as pickler
            except ImportError:
                pickler = pickle
        with open(tmp, "wb") as f:
            pickler.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers never see a half-written file
    else:
        cache.append((key, obj))  # list.append is atomic under the GIL


def _cache_load(cache, key):
    if isinstance(cache, str):
        path = os.path.join(cache, key + ".pkl")
        with open(path, "rb") as f:
            return pickle.load(f)
    for k, obj in reversed(cache):
        if k == key:
            return obj
    raise KeyError(key)


###############################################################################
# Subtasks

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


def _nbytes(X):
    """Bytes held by the arrays of X (dense or scipy.sparse), else 0."""
    if sp.issparse(X):
        return sum(getattr(X, a).nbytes for a in ("data", "indices", "indptr",
                                                  "row", "col", "offsets")
                   if isinstance(getattr(X, a, None), np.ndarray))
    return X.nbytes if isinstance(X, np.ndarray) else 0


# Subtasks that copied at least this many bytes of training rows release
# the freed heap afterwards.
_RELEASE_BYTES = 4 << 20
_MALLOC_TRIM = []


def _release_heap():
    """Give the memory freed by a subtask back to the OS (glibc only).

    glibc keeps freed blocks in per-thread arenas, and raises its mmap
    threshold up to the size of the largest block freed (32 MiB at most),
    so fold copies and learners' temporaries of one subtask stay in the
    process after it ends and add up across the worker threads: on the W3
    benchmark (sparse, 2 threads) the resident size stayed ~25 MB above the
    live data. ``malloc_trim(0)`` hands whole free pages back (0.3-1 ms,
    without the GIL); only called after subtasks that moved megabytes.
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


def _take(X, rows):
    """Rows of X (dense, sparse or None); a slice is a free view."""
    X = _aligned(X)
    if X is None or rows is None:
        return X
    return X[rows]


def _apply_pipeline(steps, X):
    for step in steps:
        X = step.transform(X)
    return X


def _fit_pipeline(key, case, steps, X, y, train, partition, fold, cache,
                  fit_params, handback):
    """Fit a preprocessing case on the training rows of one split."""
    from sklearn.base import clone
    t0 = time.perf_counter()
    try:
        Xt, yt = _take(X, train), _take(y, train)
        fitted = []
        for step in steps:
            step = clone(step)
            if hasattr(step, "fit_transform"):
                Xt = step.fit_transform(Xt, yt)
            else:
                Xt = step.fit(Xt, yt).transform(Xt)
            fitted.append(step)
    except Exception as exc:
        raise _learner_error(
            "preprocessing case %r failed on partition %d, fold %d during fit: "
            "%s: %s" % (case, partition, fold, type(exc).__name__, exc),
            exc) from exc
    fit_time = time.perf_counter() - t0
    if not handback:
        _cache_save(cache, key, fitted)
        fitted = None
    return SubResult(key, "transformer", case, partition, fold, fit_time, 0.0,
                     None, fitted, None)


def _predict_block(est, X, proba, classes):
    """Predictions of ``est`` for ``X``: one column, or one per class."""
    if not proba:
        pred = est.predict(X)
        # [labels] A classifier of an ensemble is fitted on the user's labels
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
    Xte = _take(X, rows)
    if pipeline:
        Xte = _apply_pipeline(pipeline, Xte)
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
            pipeline = _cache_load(cache, pipeline)
        Xtr = _take(X, train)
        if pipeline:
            Xtr = _apply_pipeline(pipeline, Xtr)
        params = {k: _take(v, train) for k, v in (fit_params or {}).items()}
        est.fit(Xtr, _take(y, train), **params)
        fit_time = time.perf_counter() - t0
        # the training rows are a copy: free them before predicting, and
        # hand large freed blocks back to the OS (see _release_heap)
        big = train is not None and _nbytes(Xtr) >= _RELEASE_BYTES
        del Xtr, params
        pred, score, predict_time = None, None, 0.0
        if test is not None:
            stage = "predict"
            pred, predict_time = _predict_rows(est, pipeline, X, test, proba,
                                               classes)
            if scorer is not None and y is not None:
                score = scorer(_take(y, test), pred)
            if not handback:
                P[out_rows, col:col + pred.shape[1]] = pred
                pred = None
    except Exception as exc:
        raise _learner_error(
            "learner %r failed on partition %d, fold %d during %s: %s: %s"
            % (name, partition, fold, stage, type(exc).__name__, exc),
            exc) from exc
    if not handback:
        _cache_save(cache, key, est)
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
        raise _learner_error(
            "learner %r failed on partition %d, fold %d during %s: %s: %s"
            % (name, partition, fold, job, type(exc).__name__, exc),
            exc) from exc
    if not handback:
        P[out_rows, col:col + pred.shape[1]] = pred
        pred = None
    return SubResult(key, "learner", name, partition, fold, 0.0,
                     predict_time, None, None, pred)


###############################################################################
# Configuration objects

def _check_name(name, what):
    if not isinstance(name, str) or not name or "." in name or os.sep in name:
        raise LayerSpecificationError(
            "%s name must be a non-empty str without '.' or path separators, "
            "got %r" % (what, name))
    return name


class Transformer(object):
    """A preprocessing case: transformers applied in order, fitted once per
    split and shared by every learner of the case.

    Parameters
    ----------
    steps : list of transformers
        scikit-learn style objects with ``fit``/``transform``.
    name : str
        Case name.
    """

    def __init__(self, steps, name):
        if not isinstance(steps, (list, tuple)):
            steps = [steps]
        for step in steps:
            if not hasattr(step, "transform"):
                raise LayerSpecificationError(
                    "preprocessing step %r has no transform method" % (step,))
        self.steps = list(steps)
        self.name = _check_name(name, "preprocessing case")

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
        self.name = _check_name(name, "learner")
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
        See :func:`mlcore.index.make_index`.
    learners : list of Learner
    transformers : list of Transformer, optional
    name : str, optional
    """

    def __init__(self, indexer, learners, transformers=None, name=None):
        self.indexer = make_index(indexer)
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


def _named(estimators, what):
    """[(name, est)] from a list of estimators or (name, est) pairs; names
    default to the lower-cased class name, numbered when repeated."""
    if estimators is None:
        return []
    if not isinstance(estimators, (list, tuple)):
        estimators = [estimators]
    out, seen = [], {}
    for item in estimators:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, est = item
        else:
            est = item
            base = type(est).__name__.lower()
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else "%s-%d" % (base, seen[base])
        out.append((name, est))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise LayerSpecificationError("duplicate %s names: %s" % (what, names))
    return out


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
        A list of transformers (one case, applied to every learner), or a
        dict mapping case names to lists of transformers.
    learner_kwargs : dict, optional
        Passed to every :class:`Learner` (e.g. ``proba=True``).
    transformer_kwargs : dict, optional
        Accepted for ML-Ensemble compatibility; unused.
    name : str, optional
    """
    learner_kwargs = dict(learner_kwargs or {})
    transformers = []
    if isinstance(preprocessing, dict):
        for case, steps in preprocessing.items():
            transformers.append(Transformer(steps, case))
    elif preprocessing:
        transformers.append(Transformer(preprocessing, "pr"))
    learners = []
    if isinstance(estimators, dict):
        for case, ests in estimators.items():
            case = None if case in (None, "", "no") else case
            if case is not None and not isinstance(preprocessing, dict):
                raise LayerSpecificationError(
                    "estimators map to preprocessing case %r, but "
                    "preprocessing is not a dict of cases" % case)
            for est_name, est in _named(ests, "estimator"):
                learners.append(Learner(est, est_name, preprocess=case,
                                        **learner_kwargs))
    else:
        case = transformers[0].name if transformers else None
        if isinstance(preprocessing, dict):
            raise LayerSpecificationError(
                "with a dict of preprocessing cases, estimators must be a dict "
                "mapping case names to estimators")
        for est_name, est in _named(estimators, "estimator"):
            learners.append(Learner(est, est_name, preprocess=case,
                                    **learner_kwargs))
    if not learners:
        raise LayerSpecificationError("a group needs at least one estimator")
    return Group(indexer, learners, transformers, name=name)


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

    Attributes (after fit)
    ----------------------
    estimators_ : dict
        ``{(learner key, partition, fold): fitted estimator}``.
    pipelines_ : dict
        ``{(case, partition, fold): [fitted transformers]}``.
    splits_ : dict
        ``{group index: [Split]}``: the folds, generated once at fit.
    scores_, fit_times_, predict_times_ : dict
        ``{learner key: [per split values]}``.
    """

    __no_output__ = False

    def __init__(self, name, groups=None, propagate_features=None,
                 shuffle=False, random_state=None, dtype=np.float64,
                 scorer=None, classes=None, verbose=0):
        self.name = _check_name(name, "layer")
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
                self.splits_[g_idx] = list(group.indexer.generate())
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
        self._n_in = n
        self._job = job
        col = self.n_feature_prop
        self.columns_ = {}
        for g_idx, group in enumerate(self.groups):
            partitions = group.indexer.partitions
            for lr in group.learners:
                self.columns_[lr.key] = col
                col += self._width(lr, partitions)
        self._n_cols = col

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

    def _fit(self, args, parallel):
        main = args["main"]
        X, y, P, cache = main["X"], main["y"], main["P"], args["dir"]
        ctx = self.context
        params = {}
        if ctx is not None and "sample_weight" in ctx.params:
            params["sample_weight"] = ctx.take("sample_weight")
        # The engine asks for hand-back on a distributed backend. Hand-back
        # subtasks get neither P nor the cache: they return their results.
        handback = self.handback or bool(args.get("handback", False))
        P_sub, cache_sub = (None, None) if handback else (P, cache)
        offset = self._fit_offset
        # Phase 1: every (preprocessing case x split) fit.
        jobs = []
        for g_idx, group in enumerate(self.groups):
            for tr in group.transformers:
                for s in self.splits_[g_idx]:
                    key = "%s.%s.__pipe__.%d.%d" % (self.name, tr.name,
                                                   s.partition, s.fold)
                    jobs.append(delayed(_fit_pipeline)(
                        key, tr.name, tr.steps, X, y, s.train, s.partition,
                        s.fold, cache_sub, None, handback))
        self.pipelines_ = {}
        small = _is_small(X)
        for res in (_run_jobs(parallel, jobs, small) if jobs else []):
            fitted = res.estimator if handback else _cache_load(cache, res.key)
            self.pipelines_[(res.name, res.partition, res.fold)] = fitted
        # Phase 2: every (learner x split) fit, full refits included.
        jobs, targets, keys = [], [], []
        for g_idx, group in enumerate(self.groups):
            for lr in group.learners:
                exclusive = _exclusive_key(lr.estimator)
                col0 = self.columns_[lr.key]
                width = self._width(lr, 1)
                for s in self.splits_[g_idx]:
                    key = "%s.%s.%d.%d" % (self.name, lr.key, s.partition, s.fold)
                    pipe = None
                    if lr.preprocess is not None:
                        pipe = self.pipelines_[(lr.preprocess, s.partition, s.fold)]
                    out_rows = None
                    if s.test is not None:
                        out_rows = _shift(s.test, offset)
                    col = col0 + s.partition * width
                    targets.append((out_rows, col))
                    keys.append(exclusive)
                    jobs.append(delayed(_fit_learner)(
                        key, lr.key, lr.estimator, pipe, X, y, s.train, s.test,
                        P_sub, out_rows, col,
                        self._proba(lr), self.classes, self.scorer, params,
                        cache_sub, s.partition, s.fold, handback))
        results = _run_jobs(parallel, jobs, small, keys)
        self.estimators_ = {}
        self.scores_, self.fit_times_, self.predict_times_ = {}, {}, {}
        for res, (out_rows, col) in zip(results, targets):
            est = res.estimator if handback else _cache_load(cache, res.key)
            self.estimators_[(res.name, res.partition, res.fold)] = est
            if handback and res.prediction is not None:
                P[out_rows, col:col + res.prediction.shape[1]] = res.prediction
            self.fit_times_.setdefault(res.name, []).append(res.fit_time)
            if res.fold != 0 or res.score is not None:
                self.predict_times_.setdefault(res.name, []).append(res.predict_time)
            if res.score is not None:
                self.scores_.setdefault(res.name, []).append(res.score)
        if ctx is not None:
            rows = ctx.rows
            n_out = self._fit_rows
            if rows is None and (offset or n_out != self._n_in):
                rows = np.arange(ctx.n if ctx.n is not None else self._n_in)
            if rows is not None:
                ctx.rows = rows[offset:offset + n_out]

    def _predict(self, args, parallel, job):
        main = args["main"]
        X, P = main["X"], main["P"]
        handback = self.handback or bool(args.get("handback", False))
        P_sub = None if handback else P
        offset = 0 if job == "predict" else self._fit_offset
        jobs, targets = [], []
        for g_idx, group in enumerate(self.groups):
            for lr in group.learners:
                col0 = self.columns_[lr.key]
                width = self._width(lr, 1)
                for s in self.splits_[g_idx]:
                    if job == "predict":
                        if s.fold != 0:
                            continue
                        rows, out_rows = None, slice(None)
                    else:
                        if s.test is None:
                            continue
                        rows, out_rows = s.test, _shift(s.test, offset)
                    pipe = None
                    if lr.preprocess is not None:
                        pipe = self.pipelines_[(lr.preprocess, s.partition, s.fold)]
                    est = self.estimators_[(lr.key, s.partition, s.fold)]
                    key = "%s.%s.%d.%d" % (self.name, lr.key, s.partition, s.fold)
                    col = col0 + s.partition * width
                    targets.append((out_rows, col))
                    jobs.append(delayed(_predict_learner)(
                        key, lr.key, est, pipe, X, rows, P_sub, out_rows,
                        col, self._proba(lr),
                        self.classes, s.partition, s.fold, job, handback))
        results = _run_jobs(parallel, jobs, _is_small(X))
        if handback:
            for res, (out_rows, col) in zip(results, targets):
                P[out_rows, col:col + res.prediction.shape[1]] = res.prediction

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


def _shift(rows, offset):
    """Output rows of input rows ``rows`` (a slice or an index array)."""
    if not offset:
        return rows
    if isinstance(rows, slice):
        return slice(rows.start - offset, rows.stop - offset)
    return rows - offset
