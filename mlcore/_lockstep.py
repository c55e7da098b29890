"""Independent ensemble calls run side by side, their subtasks in one pool.

Nested cross-validation fits one ensemble per outer fold; permutation
importance predicts once per permuted copy of ``X``. Each call walks its
layers in order, but the calls do not depend on each other. Run one after
another, each layer of each call would be a pool of its own, and the workers
would sit idle at the end of every pool, waiting for its slowest fit.

:func:`map_calls` runs every call in a driver thread of its own. When a call
dispatches a pool of subtasks, its driver waits until every other driver
waits too (or is done); the calling thread then runs all the waiting pools
as one, on one set of workers, and hands each driver its results. Layer
``k`` of every outer fold is thus one flat pool of (outer fold x learner x
inner fold) fits. The drivers only walk layers and copy arrays; the
subtasks run on the workers (in the calling thread on the sequential
backend).

An ensemble finds out that it runs in a driver through :func:`engine`,
which gives it the engine to use there.
"""
import os
import shutil
import tempfile
import threading

from . import config
from ._joblib import LazyParallel, backend_kind
from ._subtasks import run as run_subtasks
from .backend import ParallelProcessing

__all__ = ["map_calls", "engine", "run_pool"]

_LOCAL = threading.local()


def engine():
    """The engine for an ensemble call made in this thread: None, unless
    this thread is a driver of :func:`map_calls`."""
    lockstep = getattr(_LOCAL, "lockstep", None)
    if lockstep is None:
        return None
    return _DriverEngine(lockstep)


def dispatch(jobs):
    """Run joblib-style jobs from a driver thread, in the shared pool (or,
    outside a driver, in this thread); results in job order."""
    lockstep = getattr(_LOCAL, "lockstep", None)
    if lockstep is None:
        return [f(*a, **k) for f, a, k in jobs]
    return run_subtasks(_Gathered(lockstep), jobs)


def map_calls(calls, labels, backend=None, n_jobs=None):
    """Run zero-argument ``calls`` side by side (see the module docstring);
    their results, in order.

    Parameters
    ----------
    calls : list of callable
    labels : list of str
        One per call, added as a note to an exception the call raises (also
        from a subtask it dispatched), e.g. ``"outer fold 2"``.
    backend, n_jobs
        The workers, as an ensemble's ``backend`` and ``n_jobs`` (None: the
        configured ones).

    Raises
    ------
    Exception
        The first error of a call (the others are stopped at their next
        pool).
    """
    return _LockStep(backend, n_jobs).map(list(calls), list(labels))


def run_pool(jobs, backend=None, n_jobs=None):
    """Run joblib-style jobs in one pool on the workers that an ensemble with
    this ``backend`` and ``n_jobs`` uses; results in job order."""
    lockstep = _LockStep(backend, n_jobs)
    with lockstep.parallel() as parallel:
        return run_subtasks(parallel, jobs)


class _Stopped(BaseException):
    """Raised in a driver waiting for a pool after another call failed."""


class _LockStep(object):
    """The drivers of one :func:`map_calls` and the pools they wait on."""

    def __init__(self, backend, n_jobs):
        # resolved here, in the calling thread, which sees its joblib and
        # mlcore configuration contexts; the drivers' engines get them
        resolved = ParallelProcessing(backend, n_jobs, 0)
        self.backend, self.n_jobs = resolved.backend, resolved.n_jobs
        self.cond = threading.Condition()
        self.running = 0
        self.waiting = {}
        self.results = {}
        self.error = None
        # the caller's scikit-learn and mlcore settings (both are per
        # thread), for the drivers
        import sklearn
        self.sklearn_config = sklearn.get_config()
        self.mlcore_config = {}
        for settings in config._contexts():
            self.mlcore_config.update(settings)

    def parallel(self):
        """The workers' ``parallel`` (a context manager)."""
        return _Workers(self.backend, self.n_jobs)

    # -- the calling thread ----------------------------------------------
    def map(self, calls, labels):
        out = [None] * len(calls)
        threads = [threading.Thread(
            target=self._drive, args=(i, call, labels[i], out),
            name="mlcore-driver-%d" % i, daemon=True)
            for i, call in enumerate(calls)]
        self.running = len(threads)
        with self.parallel() as parallel:
            for t in threads:
                t.start()
            try:
                self._coordinate(parallel, labels)
            except BaseException as exc:  # e.g. KeyboardInterrupt
                self._fail(exc)
                raise
            finally:
                for t in threads:
                    t.join()
        if self.error is not None:
            raise self.error
        return out

    def _coordinate(self, parallel, labels):
        """Run the drivers' pools, all waiting ones at once, until every
        driver is done."""
        while True:
            with self.cond:
                while self.running > len(self.waiting) and self.error is None:
                    self.cond.wait()
                if self.error is not None or not self.waiting:
                    return
                batch = sorted(self.waiting.items())
                self.waiting.clear()
            jobs, keys, small, sizes = [], [], True, []
            for i, (own_jobs, own_keys, own_small, own_sizes) in batch:
                jobs.extend((_Labelled(f, labels[i]), a, k)
                            for f, a, k in own_jobs)
                keys.extend(own_keys if own_keys is not None
                            else [None] * len(own_jobs))
                small = small and own_small
                if sizes is not None and own_sizes is not None:
                    sizes.extend(own_sizes)
                else:  # a pool without sizes: none for the batch
                    sizes = None
            try:
                results = parallel.run(jobs, keys=keys, small=small,
                                       sizes=sizes)
            except BaseException as exc:
                _note_calls(exc, [labels[i] for i, _ in batch])
                self._fail(exc)
                return
            with self.cond:
                start = 0
                for i, (own_jobs, _, _, _) in batch:
                    self.results[i] = results[start:start + len(own_jobs)]
                    start += len(own_jobs)
                self.cond.notify_all()

    def _fail(self, exc):
        with self.cond:
            if self.error is None:
                self.error = exc
            self.cond.notify_all()

    # -- driver threads ---------------------------------------------------
    def _drive(self, i, call, label, out):
        import sklearn
        _LOCAL.lockstep, _LOCAL.index = self, i
        try:
            with sklearn.config_context(**self.sklearn_config), \
                    config.config_context(**self.mlcore_config):
                out[i] = call()
        except _Stopped:
            pass
        except BaseException as exc:
            _note(exc, label)
            self._fail(exc)
        finally:
            _LOCAL.lockstep = None
            with self.cond:
                self.running -= 1
                self.cond.notify_all()

    def run(self, jobs, keys=None, small=False, sizes=None):
        """Called by a driver's pool: wait for the shared pool to run
        ``jobs``; their results."""
        i = _LOCAL.index
        with self.cond:
            if self.error is not None:
                raise _Stopped()
            self.waiting[i] = (list(jobs), keys, small,
                               None if sizes is None else list(sizes))
            self.cond.notify_all()
            while i not in self.results and self.error is None:
                self.cond.wait()
            if i not in self.results:
                raise _Stopped()
            return self.results.pop(i)


class _Workers(object):
    """The ``parallel`` of a lock-step run: a :class:`LazyParallel` on the
    ensemble's backend, with a private folder in which process workers note
    what they run (so that a dead worker's subtask is named)."""

    def __init__(self, backend, n_jobs):
        self.backend, self.n_jobs = backend, n_jobs

    def __enter__(self):
        self.folder = None
        if backend_kind(self.backend) == "local":
            self.folder = tempfile.mkdtemp(prefix=config.get_prefix(),
                                           dir=config.get_tmpdir())
        records = (os.path.join(self.folder, "running")
                   if self.folder is not None else None)
        self.lazy = LazyParallel(records=records, n_jobs=self.n_jobs,
                                 backend=self.backend, verbose=0,
                                 temp_folder=self.folder, max_nbytes=None)
        return self.lazy

    def __exit__(self, *exc):
        try:
            self.lazy.__exit__(*exc)
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
        return False


class _Gathered(object):
    """The ``parallel`` a driver's tasks see: pools go to the shared one."""

    def __init__(self, lockstep):
        self.lockstep = lockstep

    def run(self, jobs, keys=None, small=False, sizes=None):
        return self.lockstep.run(jobs, keys, small, sizes)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _DriverEngine(ParallelProcessing):
    """The engine of an ensemble call in a driver thread: the lock-step
    run's backend, memory model and workers."""

    def __init__(self, lockstep):
        super().__init__(lockstep.backend, lockstep.n_jobs, 0)
        self._lockstep = lockstep

    def _parallel(self):
        return _Gathered(self._lockstep)


class _Labelled(object):
    """A subtask that notes ``label`` (its call) on an exception it raises.
    Pickles with its subtask, for process workers."""

    def __init__(self, func, label):
        self.func, self.label = func, label

    def __call__(self, *args, **kwargs):
        try:
            return self.func(*args, **kwargs)
        except BaseException as exc:
            _note(exc, self.label)
            raise


def _note_calls(exc, labels):
    """Note on ``exc``, an error of the shared pool itself (a process
    worker that died), the calls among ``labels`` whose subtasks it names
    (see :func:`mlcore._joblib.describe`): a subtask that ends its worker
    cannot note its call itself."""
    for what in getattr(exc, "subtasks", None) or ():
        for label in labels:
            if what.endswith("(%s)" % label):
                _note(exc, label)


def _note(exc, label):
    notes = getattr(exc, "__notes__", None) or []
    if label not in notes and hasattr(exc, "add_note"):
        exc.add_note(label)
