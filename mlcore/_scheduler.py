"""How the subtasks of a layer or an evaluator run on thread workers.

joblib's threading ``Parallel`` costs about 10 ms per call whatever the
work, which dominates small layers; the engine runs subtasks on thread
workers here instead:

* on a persistent pool of threads, per process (:func:`_run_in_threads`),
  with BLAS (process-wide) and OpenMP (per thread) limited to
  ``cores // workers`` threads, so that parallel fits do not oversubscribe
  the cores (see :mod:`mlcore.threadpools`);
* side by side for seeded liblinear/libsvm fits, whose random generator
  is process-wide, on private copies of the native modules, one per
  thread (:mod:`mlcore._native`); one at a time, while other fits run
  beside them, where copies cannot be made or for other resources that
  fits must not share (:func:`exclusive_key`);
* without raising the memory peak when that can be avoided: a job whose
  working set would take the running total above the peak so far waits
  while a smaller one can start (:class:`_JobQueue`);
* in the calling thread while they are quick, for tiny inputs
  (:func:`_run_inline`), since millisecond fits under the GIL only lose
  time to hand-offs between threads;
* one after another in the calling thread when that thread is itself a
  worker (an ensemble fitted as a learner of another one), which would
  otherwise wait on its own pool.

Other backends (sequential, process pools, distributed) run the jobs on
joblib's ``Parallel``.
"""
import os
import contextlib
import threading
import time

import numpy as np
import scipy.sparse as sp

from . import _native
from ._store import nbytes
from .exceptions import LearnerError
from .threadpools import native_limits

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
    that

    * jobs with a key start first, and two jobs with the same key (but
      for keys in ``shared``) never run at the same time: a free worker
      takes the first pending job whose key is not held, and waits when
      there is none;
    * with ``sizes`` (the working set of each job, in bytes), a job that
      would take the sum of the running jobs' sizes above the peak so far
      is passed over for the first one that does not; when none fits, the
      smallest starts and the peak grows by as little as it can. The peak
      starts at the least that ``workers`` busy workers reach when the
      largest job runs (the largest plus the smallest for the others), so
      large jobs run beside small ones rather than beside each other, and
      no worker idles to save memory.
    """

    def __init__(self, jobs, keys, sizes=None, workers=1, shared=()):
        # jobs with a key form chains that run one at a time: start them
        # first, so that the other jobs run beside them rather than before.
        # Keys in ``shared`` do not exclude (their jobs run on private
        # copies of the resource) but still start first: liblinear's and
        # libsvm's iterative solvers tend to be a layer's longest fits
        # (LinearSVR 5.7 s a fold on the sparse W3 benchmark, SGD 4.1 s,
        # Ridge 0.05 s), and the quick ones then fill in the end
        self.pending = ([i for i, k in enumerate(keys) if k is not None] +
                        [i for i, k in enumerate(keys) if k is None])
        self.jobs = jobs
        self.keys = [None if k in shared else k for k in keys]
        self.held = set()
        self.sizes = None if sizes is None else [float(z) for z in sizes]
        self.running = 0.0
        self.peak = 0.0
        if self.sizes:
            others = min(workers, len(jobs)) - 1
            self.peak = max(self.sizes) + others * min(self.sizes)
        self.results = [None] * len(jobs)
        self.error = None
        self.stopped = False
        self.cond = threading.Condition()

    def _choose(self):
        """Position in ``pending`` of the job to start, or None when every
        pending job waits for its key."""
        smallest = None
        for pos, i in enumerate(self.pending):
            key = self.keys[i]
            if key is not None and key in self.held:
                continue
            if self.sizes is None or \
                    self.running + self.sizes[i] <= self.peak:
                return pos
            if smallest is None or \
                    self.sizes[i] < self.sizes[self.pending[smallest]]:
                smallest = pos
        return smallest

    def take(self):
        with self.cond:
            while self.pending and self.error is None and not self.stopped:
                pos = self._choose()
                if pos is not None:
                    i = self.pending.pop(pos)
                    if self.keys[i] is not None:
                        self.held.add(self.keys[i])
                    if self.sizes is not None:
                        self.running += self.sizes[i]
                        self.peak = max(self.peak, self.running)
                    return i
                self.cond.wait()
            return None

    def done(self, i, result=None, error=None):
        with self.cond:
            self.held.discard(self.keys[i])
            if self.sizes is not None:
                self.running -= self.sizes[i]
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
    """True in a thread that is running an mlcore subtask."""
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


def _run_in_threads(workers, jobs, keys=None, sizes=None, shared=()):
    """Run joblib-style ``(func, args, kwargs)`` jobs on a persistent pool
    of ``workers`` threads; results in job order.

    joblib's threading ``Parallel`` costs about 10 ms per call whatever the
    work (its result loop polls with ``sleep(0.01)``), which dominates small
    layers; this pool costs well under 1 ms. Pools are kept per process id,
    so a forked child makes its own. ``keys`` (one per job, or None) name
    resources that jobs must not use at the same time (see
    :func:`exclusive_key`), except the keys in ``shared``; other jobs run
    meanwhile. Jobs with a key start first. ``sizes`` (one per
    job, or None) are their working sets, which the queue keeps from
    raising the memory peak (see :class:`_JobQueue`). On the first error
    no further job starts, the running ones are waited for, and the error
    is raised.
    """
    from concurrent.futures import ThreadPoolExecutor, wait
    pool_key = (os.getpid(), workers)
    with _POOLS_LOCK:
        pool = _POOLS.get(pool_key)
        if pool is None:
            pool = _POOLS[pool_key] = ThreadPoolExecutor(
                workers, thread_name_prefix="mlcore-worker")
    queue = _JobQueue(jobs, keys if keys is not None else [None] * len(jobs),
                      sizes, workers, shared)
    try:
        wait([pool.submit(_drain, queue)
              for _ in range(min(workers, len(jobs)))])
    except BaseException:  # e.g. KeyboardInterrupt in the driver
        queue.stop()
        raise
    if queue.error is not None:
        raise queue.error
    return queue.results


def exclusive_key(estimator):
    """The name of a process-wide resource that fits of ``estimator`` must
    not share with each other, or None.

    scikit-learn's liblinear and libsvm wrappers draw random numbers from
    one global generator per extension module (``mt_rand`` in
    ``sklearn/svm/src/newrand/newrand.h``), reseeded at the start of every
    fit and used without the GIL: two such fits in threads of one process
    interleave their draws, and their results stop being reproducible
    (on a sparse regression benchmark, LinearSVR's out-of-fold predictions
    differed by up to 1.2e-2 from ``cross_val_predict``). Seeded fits of
    the solvers that draw (liblinear's coordinate descent: dual or L1;
    libsvm's probability estimates) therefore run on thread workers each
    on private copies of the modules (see :mod:`mlcore._native`), or,
    where copies cannot be made, one at a time while other fits run
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

# The clock that times inline subtasks (seconds, monotonic). A module
# attribute read at every call, so that tests replace it with a clock they
# drive and the inline-or-workers decision never depends on machine load.
clock = time.perf_counter


def is_small(X):
    """True when X (array, sparse or table) holds at most _INLINE_BYTES."""
    if isinstance(X, np.ndarray) or sp.issparse(X):
        return nbytes(X) <= _INLINE_BYTES
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        return False
    return shape[0] * shape[1] * 8 <= _INLINE_BYTES


@contextlib.contextmanager
def _one_native_thread(small):
    """BLAS and OpenMP limited to one thread in this thread's fits when the
    input is small.

    A BLAS team on a tiny matrix costs more in hand-offs (and in spinning
    threads) than it saves: on a 500 x 10 ensemble with n_jobs=1, the fit
    took 1.2-3.8 s with OpenBLAS at 2 threads against 0.16-0.24 s at one
    thread, on a busy 2-core machine.
    """
    if not small:
        yield
        return
    limits = native_limits()
    with limits.blas(1), limits.openmp(1):
        yield


def _run_inline(jobs):
    """Run jobs in this thread while they are quick; (results, the rest).

    Fits on tiny data spend their time in Python (argument checks, small
    numpy calls) under the GIL, so threads cannot run them side by side;
    they only add hand-offs. On a 500 x 10 ensemble benchmark (31 subtasks
    of ~1.5 ms) two thread workers took 0.065-0.077 s per fit against
    0.049 s in one thread. Subtasks slower than that are doing real work (compiled loops
    that release the GIL): once the subtasks run so far average more than
    _INLINE_SECONDS (plus _INLINE_SLACK), the remaining ones go to the
    workers, so little work runs without parallelism. Times are read from
    the module's ``clock``.
    """
    results = []
    t0 = clock()
    for i, (func, args, kwargs) in enumerate(jobs):
        results.append(func(*args, **kwargs))
        # on average slower than _INLINE_SECONDS, with some slack for the
        # one-off costs of a first call (lazy imports, caches)
        if clock() - t0 > (i + 1) * _INLINE_SECONDS + _INLINE_SLACK:
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


def _restore_cause(exc):
    """Put the original exception of a LearnerError back as its
    ``__cause__`` (joblib replaces it with the worker's traceback, which
    becomes the original's cause)."""
    original = exc.original
    if original is not None and exc.__cause__ is not original:
        remote = exc.__cause__
        if remote is not None and original.__cause__ is None and \
                original.__traceback__ is None:
            original.__cause__ = remote  # keep the worker's traceback
        exc.__cause__ = original


class _Private(object):
    """A job that runs on private copies of the native modules of resource
    ``key`` in the thread that runs it (see :mod:`mlcore._native`)."""

    def __init__(self, func, key):
        self.func, self.key = func, key

    def __call__(self, *args, **kwargs):
        with _native.private(self.key):
            return self.func(*args, **kwargs)


def _shareable(keys, workers=1):
    """The keys among ``keys`` whose jobs can run side by side on private
    copies of native modules, one set per worker (see
    :mod:`mlcore._native`)."""
    return {key for key in set(keys) if key is not None and
            _native.available(key, min(workers, keys.count(key)))}


def _privately(jobs, keys, shared):
    """``jobs`` with those whose key is in ``shared`` run on private
    copies."""
    return [(_Private(f, key) if key in shared else f, a, k)
            for (f, a, k), key in zip(jobs, keys)]


def run_jobs(jobs, workers=None, parallel=None, keys=None, small=False,
             verbose=0, sizes=None):
    """Run joblib-style ``(func, args, kwargs)`` jobs; results in job order.

    Parameters
    ----------
    jobs : list of (callable, tuple, dict)
    workers : int or None
        The number of thread workers of the engine, or None when it has
        one worker or process workers: the jobs then run on ``parallel``
        (in this thread, without it).
    parallel : callable, optional
        A joblib ``Parallel``: runs the jobs when ``workers`` is None, and
        when ``verbose`` (joblib prints the progress).
    keys : list, optional
        One per job: the process-wide resource a job uses, or None (see
        :func:`exclusive_key`). Jobs with such a key start first. Where
        :mod:`mlcore._native` makes private copies of the resource for
        each thread, they run side by side on them; otherwise jobs with
        the same key never run at the same time.
    small : bool
        The input of the jobs is tiny: run them in this thread while they
        are quick (see :func:`_run_inline`).
    verbose : int
        Verbosity of ``parallel``.
    sizes : list of float, optional
        One per job: its working set in bytes (or any unit shared by all
        jobs). Thread workers then keep the memory peak down (see
        :class:`_JobQueue`).

    Notes
    -----
    With several thread workers, BLAS and OpenMP are limited to
    ``cores // workers`` threads during the call (one thread for
    ``small`` inputs, wherever their jobs run). A LearnerError raised by
    a job gets its original exception back as ``__cause__``.
    """
    try:
        if workers is None:
            with _one_native_thread(small):
                if parallel is None:
                    return [f(*a, **k) for f, a, k in jobs]
                return parallel(jobs)
        keys = list(keys) if keys is not None else [None] * len(jobs)
        if _in_worker():
            # an ensemble fitted by a worker: its jobs run in this thread,
            # beside the other workers' jobs
            jobs = _privately(jobs, keys, _shareable(keys))
            return [f(*a, **k) for f, a, k in jobs]
        done = []
        if small and not verbose:
            with _one_native_thread(True):
                done, jobs = _run_inline(jobs)
            keys = keys[len(done):]
            if sizes is not None:
                sizes = list(sizes)[len(done):]
            if not jobs:
                return done
        shared = _shareable(keys, workers)
        jobs = _privately(jobs, keys, shared)
        from joblib import cpu_count
        # small inputs: one native thread in the workers too, as in the
        # calling thread (see _one_native_thread), so that a fit's thread
        # count, and with it its last bits, does not depend on whether
        # timing sent it to a worker
        n = 1 if small else max(1, cpu_count() // workers)
        limits = native_limits()
        jobs = [(_OpenMPLimited(f, limits, n), a, k) for f, a, k in jobs]
        with limits.blas(n):
            if verbose and parallel is not None:
                with _POOLS_LOCK:
                    locks = {key: _KEY_LOCKS.setdefault(key, threading.Lock())
                             for key in set(keys)
                             if key is not None and key not in shared}
                jobs = [(_Locked(f, locks[key]) if key in locks else f, a, k)
                        for (f, a, k), key in zip(jobs, keys)]
                return parallel(jobs)
            return done + _run_in_threads(workers, jobs, keys, sizes, shared)
    except LearnerError as exc:
        _restore_cause(exc)
        raise
