"""joblib plumbing of the engine: what kind of backend a name stands for,
the backend of an active ``joblib.parallel_config``, dask's scatter, and a
``Parallel`` that starts its workers on first use.

Besides joblib's public API this reads its backend registry
(``joblib.parallel.BACKENDS``, ``EXTERNAL_BACKENDS``), its backend classes
(to tell its own process pools from other backends) and the active
``parallel_config``: joblib offers no public way to ask these.
"""
import inspect
import numbers
import os
import pickle
import re
import signal
import sys
import threading
import traceback
import warnings

import joblib
from joblib import Parallel

from . import _scheduler, _tolerance, config
from .exceptions import (LearnerError, ParallelProcessingWarning,
                         WorkerDiedError)


def delayed(function, check_pickle=None):
    """:func:`joblib.delayed` that also accepts ML-Ensemble's ignored
    ``check_pickle`` argument, for tasks written against its vendored
    joblib."""
    return joblib.delayed(function)


def backend_kind(backend):
    """Validate a backend name (or joblib backend instance) and classify it:
    ``'shared'`` (workers share the caller's memory: threading,
    sequential), ``'local'`` (joblib's own process pools on this machine:
    loky, multiprocessing) or ``'distributed'`` (anything else: dask, ray,
    other registered backends, subclasses of joblib's pools). See the memory
    model in :mod:`mlcore.backend`."""
    from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS

    if isinstance(backend, str):
        if backend in BACKENDS:
            cls = BACKENDS[backend]
        elif backend in EXTERNAL_BACKENDS:
            return "distributed"
        else:
            raise ValueError(
                "Unknown backend %r. Use 'threading', 'loky', "
                "'multiprocessing' or 'sequential', 'dask' (with a "
                "distributed.Client), or register your own with "
                "joblib.register_parallel_backend. Known: %s"
                % (backend, ", ".join(sorted(set(BACKENDS)
                                             | set(EXTERNAL_BACKENDS)))))
    elif hasattr(backend, "effective_n_jobs") and hasattr(backend,
                                                         "apply_async"):
        cls = type(backend)
    else:
        raise ValueError("backend must be a backend name (str) or a joblib "
                         "ParallelBackendBase instance, got %r" % (backend,))
    if getattr(cls, "supports_sharedmem", False):
        return "shared"
    from joblib._parallel_backends import LokyBackend, MultiprocessingBackend
    if cls is LokyBackend or cls is MultiprocessingBackend:
        return "local"
    return "distributed"


def active_backend():
    """The backend instance of an active ``joblib.parallel_config`` (or
    ``parallel_backend``) context that sets a backend, else None."""
    try:
        from joblib.parallel import _backend, default_parallel_config
    except ImportError:  # pragma: no cover - a joblib without the config
        return None
    cfg = getattr(_backend, "config", None)
    if not isinstance(cfg, dict):
        return None
    backend = cfg.get("backend")
    if backend is None or backend is default_parallel_config.get("backend"):
        return None
    return backend


def dask_backend_class(backend):
    """joblib's DaskDistributedBackend class if ``backend`` is ``'dask'`` or
    an instance of it, else None."""
    if isinstance(backend, str):
        if backend != "dask":
            return None
        from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS
        if "dask" not in BACKENDS:
            try:
                EXTERNAL_BACKENDS["dask"]()
            except ImportError as exc:
                raise ImportError("backend='dask' needs dask.distributed: "
                                  "pip install 'mlcore[dask]'") from exc
        return BACKENDS["dask"]
    mod = sys.modules.get("joblib._dask")
    cls = getattr(mod, "DaskDistributedBackend", None)
    if cls is not None and isinstance(backend, cls):
        return cls
    return None


def joblib_backend(backend, scatter=None):
    """The backend to hand to joblib's ``Parallel`` for ``backend``.

    For dask (``'dask'`` or a ``DaskDistributedBackend``, e.g. the one of an
    active ``parallel_config``): a fresh ``DaskDistributedBackend`` on the
    same client (the default client for ``'dask'``), with the same submit
    arguments and worker timeout, that broadcasts the arrays of ``scatter``
    to every worker once; joblib then passes each of them to subtasks as its
    future. (``Parallel(backend='dask')`` itself fails in joblib 1.6: it
    hands ``nesting_level`` on to ``client.submit``.) Any other backend is
    returned as it is.

    ``scatter`` not None (hand-back mode) also turns off joblib's automatic
    scatter of other subtask arguments over 1 kB (fold indices, fitted
    estimators): it puts them on one worker only, so a lost worker took
    them along and the fit failed ("already forgotten") where dask would
    otherwise reschedule the lost subtasks. They now travel with their
    subtask; only the broadcast arrays are shared.
    """
    cls = dask_backend_class(backend)
    if cls is None:
        return backend
    kwargs = {}
    if isinstance(backend, cls):
        kwargs.update(getattr(backend, "submit_kwargs", None) or {})
        kwargs["client"] = backend.client
        kwargs["wait_for_workers_timeout"] = getattr(
            backend, "wait_for_workers_timeout", 10)
    kwargs.pop("nesting_level", None)
    if scatter is None:
        return cls(**kwargs)
    seen, arrays = set(), []
    for a in scatter:
        if a is not None and id(a) not in seen:
            seen.add(id(a))
            arrays.append(a)
    backend = _no_auto_scatter(cls)(**kwargs)
    if arrays:
        # hash=False: fresh keys. joblib scatters with content-hashed keys,
        # and re-scattering data whose key the scheduler is still
        # forgetting (the same X at predict as at fit) can hang replication.
        futures = backend.client.scatter(arrays, broadcast=True, hash=False)
        backend._scatter = arrays  # keeps the ids below valid
        backend.data_futures = {id(a): f for a, f in zip(arrays, futures)}
    return backend


_NO_AUTO_SCATTER = {}


def _no_auto_scatter(cls):
    """A subclass of joblib's dask backend ``cls`` that scatters no subtask
    argument on its own (joblib skips that when ``call_data_futures`` is
    None) and only uses the futures in ``data_futures``."""
    sub = _NO_AUTO_SCATTER.get(cls)
    if sub is None:
        def start_call(self):
            cls.start_call(self)
            self.call_data_futures = None

        def stop_call(self):
            self.call_data_futures = {}
            cls.stop_call(self)

        sub = type("HandbackDaskBackend", (cls,), {
            "start_call": start_call, "stop_call": stop_call,
            "__module__": __name__})
        _NO_AUTO_SCATTER[cls] = sub
    return sub


def _ascii_path(path):
    return isinstance(path, str) and path.isascii()


def thread_workers(backend, n_jobs):
    """The number of workers of ``backend`` with ``n_jobs`` when they are
    threads of this process and there are several; None otherwise (one
    worker, or process workers, which joblib's loky backend limits itself).
    """
    from joblib.parallel import BACKENDS
    if isinstance(backend, str):
        cls = BACKENDS.get(backend)
        if cls is None or not getattr(cls, "uses_threads", False):
            return None
        backend = cls()
    elif not getattr(backend, "uses_threads", False):
        return None
    try:
        workers = backend.effective_n_jobs(n_jobs)
    except Exception:  # a backend we cannot ask
        return None
    return workers if workers > 1 else None


###############################################################################
# Subtasks: what they are called in errors, and a record of what each
# process worker is running

def describe(func, args, kwargs):
    """What a subtask is, for error messages: ``"learner 'ols', partition
    0, fold 2"`` from the ``name`` (or ``case``), ``draw``, ``partition``
    and ``fold`` arguments of its function, else the function's name;
    followed by the ``label`` of a wrapper that has one (the call of
    :func:`mlcore._lockstep.map_calls` it belongs to), in parentheses."""
    labels = []
    while hasattr(func, "func") and not inspect.isfunction(func):
        label = getattr(func, "label", None)
        if isinstance(label, str):
            labels.append(label)
        func = func.func  # the subtask wrappers of the engine
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
        bound = bound.arguments
    except (TypeError, ValueError):
        bound = {}
    parts = []
    if isinstance(bound.get("case"), str):
        parts.append("preprocessing case %r" % bound["case"])
    elif isinstance(bound.get("name"), str):
        parts.append("learner %r" % bound["name"])
    # fold 0 of a fit that predicts nothing is the fit on all rows
    full = bound.get("full") is True or (
        bound.get("fold") == 0 and "test" in bound and bound["test"] is None)
    for key in ("draw", "partition", "fold"):
        value = bound.get(key)
        if key == "fold" and full and parts:
            parts.append("full fit")
        elif isinstance(value, numbers.Integral) and parts:
            parts.append("%s %d" % (key, value))
    if not parts:
        parts.append("subtask %s" % getattr(func, "__qualname__",
                                            repr(func)))
    return ", ".join(parts) + "".join(" (%s)" % label for label in labels)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _write_record(records, text):
    """Note in ``records`` that this process is running ``text``; the
    record's path, or None (a full disk must not mask the subtask's own
    outcome)."""
    path = os.path.join(records, "%d.running" % os.getpid())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW,
                     0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError:
        return None
    return path


def read_records(records):
    """``{pid: what it was running}`` of the records in ``records``."""
    out = {}
    try:
        names = os.listdir(records)
    except OSError:
        return out
    for name in names:
        m = re.match(r"^(\d+)\.running$", name)
        if m is None:
            continue
        try:
            with open(os.path.join(records, name), encoding="utf-8") as f:
                out[int(m.group(1))] = f.read()
        except (OSError, ValueError):
            continue
    return out


def _round_trips(exc):
    """Whether ``exc`` survives pickling (as process backends send it back)
    *and* unpickling: an exception class whose ``__init__`` does not take
    its ``args`` pickles but fails to load, which hangs
    ``multiprocessing.Pool``."""
    try:
        import cloudpickle as pickler  # what loky sends results with
    except ImportError:  # pragma: no cover
        pickler = pickle
    try:
        pickle.loads(pickler.dumps(exc))
    except Exception:
        return False
    return True


def _reportable(exc, what, remote):
    """The exception to raise for ``exc`` raised by subtask ``what``: an
    ``OSError`` gets the subtask in its message (same errno and file); in
    a process worker (``remote``), an exception that would not survive the
    trip back becomes a :class:`LearnerError` carrying its text and
    traceback."""
    if isinstance(exc, OSError) and not isinstance(exc, LearnerError) and \
            what not in str(exc):
        if exc.errno is not None:
            new = OSError(exc.errno, "%s: %s" % (what, exc.strerror or exc),
                          exc.filename)
        else:
            new = OSError("%s: %s" % (what, exc))
        new.__cause__ = exc
        exc = new
    if remote and isinstance(exc, Exception) and not _round_trips(exc):
        text = "".join(traceback.format_exception(type(exc), exc,
                                                  exc.__traceback__))
        exc = LearnerError("%s failed: %s: %s (the exception cannot be "
                           "rebuilt in the calling process; its traceback in "
                           "the worker:\n%s)" % (what, type(exc).__name__,
                                                  exc, text))
    return exc


class Subtask(object):
    """A subtask as the engine runs it: ``OSError`` and exceptions that
    cannot travel back name the subtask (see :func:`describe`), and in a
    process worker a record of what this process is running lies in the
    folder ``records`` while it runs, so that the driver can name the
    subtask whose worker died."""

    def __init__(self, func, records=None, remote=False):
        self.func, self.records, self.remote = func, records, remote

    def __call__(self, *args, **kwargs):
        record = None
        if self.records is not None:
            record = _write_record(self.records,
                                   describe(self.func, args, kwargs))
        try:
            return self.func(*args, **kwargs)
        except BaseException as exc:
            new = _reportable(exc, describe(self.func, args, kwargs),
                              self.remote)
            if new is exc:
                raise
            raise new from exc
        finally:
            if record is not None:
                try:
                    os.unlink(record)
                except OSError:
                    pass


_EXIT_CODES = re.compile(r"exit codes of the workers are \{([^}]*)\}")


def _root_cause(exc):
    """The innermost cause of ``exc`` as ``Type: message`` (loky chains the
    worker's traceback as a remote-traceback cause)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    # loky's _RemoteTraceback holds the worker's traceback text, between
    # triple quotes: its last line is the original "Type: message"
    lines = [ln.strip() for ln in str(exc).splitlines()
             if ln.strip() and ln.strip() != '"""']
    return lines[-1] if lines else type(exc).__name__


def worker_died(exc, records, exit_codes=None):
    """The :class:`WorkerDiedError` for ``exc``, a broken process pool:
    names the subtasks that were running in dead workers (``records``;
    ``exit_codes``, ``{pid: code}``, when known, tells the one that died
    on its own from the ones stopped afterwards)."""
    running = read_records(records) if records is not None else {}
    exit_codes = exit_codes or {}
    stopped = -signal.SIGTERM
    culprits = {pid: what for pid, what in running.items()
                if exit_codes.get(pid) not in (None, stopped)}
    listed = culprits or running

    def one(pid, what):
        code = exit_codes.get(pid)
        return "%s (pid %d%s)" % (what, pid, "" if code is None else
                                  ", exit code %d" % code)

    if not running and "un-serialize" in str(exc):
        return WorkerDiedError(
            "A worker process could not load a subtask: un-pickling it "
            "failed (%s). Learners, preprocessing steps and scorers sent "
            "to process workers must be importable there: define them in a "
            "module, not in an interactive session, or use "
            "backend='threading'." % _root_cause(exc))
    m = _EXIT_CODES.search(str(exc))
    codes = " (%s)" % m.group(1) if m else ""
    if len(listed) == 1:
        where = "while running %s" % one(*next(iter(listed.items())))
    elif listed:
        where = "while one of these subtasks was running: %s" % "; ".join(
            one(pid, what) for pid, what in sorted(listed.items()))
    else:
        where = "before any subtask started"
    err = WorkerDiedError(
        "A worker process died%s %s. Its learner ended the process (a "
        "crash in compiled code, os._exit, the out-of-memory killer) "
        "and could not report an error of its own." % (codes, where))
    err.subtasks = sorted(listed.values())  # what it names, one by one
    return err


###############################################################################
# backend='multiprocessing': a joblib backend on concurrent.futures

def _worker_init():
    """Initializer of the workers mlcore starts for ``'multiprocessing'``:
    leave SIGINT (Ctrl-C reaches the whole process group) to the driver,
    and exit with it (see :func:`_exit_with_parent`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()


def _exit_with_parent():
    """Initializer of process workers: exit when the driver dies, even by
    SIGKILL (Linux: PR_SET_PDEATHSIG), instead of running on, orphaned."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - not glibc
            pass
    if os.getppid() == 1:  # the driver died before prctl took effect
        os._exit(1)


def _run_pickled(payload):
    return pickle.loads(payload)()


def _executor_backend_class():
    from joblib._parallel_backends import MultiprocessingBackend

    class ExecutorBackend(MultiprocessingBackend):
        """``backend='multiprocessing'`` as mlcore runs it: the workers of
        a ``concurrent.futures.ProcessPoolExecutor`` with the default
        ``multiprocessing`` start method, instead of joblib's
        ``multiprocessing.Pool``, which silently loses the task of a worker
        that dies and then waits forever. The executor reports a dead worker
        (``BrokenProcessPool``). Memory-mapped arrays travel by reference,
        as with joblib's pool. Never registered with joblib."""

        supports_retrieve_callback = True
        # results as they complete (the engine's watched fits need them)
        supports_return_generator = True
        _pool = None
        # True: one job runs in a worker process too, where the engine can
        # stop it (fits under a time budget), instead of in this process
        keep_process = False

        def configure(self, n_jobs=1, parallel=None, prefer=None,
                      require=None, **kwargs):
            from concurrent.futures import ProcessPoolExecutor
            from joblib._parallel_backends import (FallbackToBackend,
                                                   SequentialBackend)
            import multiprocessing
            n_jobs = self.effective_n_jobs(n_jobs)
            if n_jobs == 1 and not self.keep_process:
                raise FallbackToBackend(
                    SequentialBackend(nesting_level=self.nesting_level))
            self._pool = ProcessPoolExecutor(
                n_jobs, mp_context=multiprocessing.get_context(
                    config._configured("start_method")),
                initializer=_worker_init)
            # kept across a restart after an abort: exit codes are read later
            self._procs = getattr(self, "_procs", None) or {}
            self.parallel = parallel
            if n_jobs == 1:
                # joblib's Parallel runs the jobs in this process when told
                # of one worker, whatever the backend: it is told of two
                # (it queues a few more jobs; the pool's one worker runs
                # them in turn)
                return 2
            return n_jobs

        def _reducers(self):
            import numpy as np
            from joblib._memmapping_reducer import ArrayMemmapForwardReducer
            reduce = ArrayMemmapForwardReducer(None, None, "r", False)
            return {np.ndarray: reduce, np.memmap: reduce}

        def submit(self, func, callback=None):
            from joblib.externals.loky.backend.reduction import dumps
            payload = bytes(dumps(func, reducers=self._reducers()))
            future = self._pool.submit(_run_pickled, payload)
            # the worker processes, to read their exit codes if one dies
            self._procs.update(getattr(self._pool, "_processes", None) or {})
            if callback is not None:
                future.add_done_callback(callback)
            return future

        def retrieve_result_callback(self, future):
            return future.result()

        def exit_codes(self, timeout=5.0):
            """``{pid: exit code}`` of the workers that ended."""
            out = {}
            for pid, proc in list(getattr(self, "_procs", {}).items()):
                proc.join(timeout)
                if proc.exitcode is not None:
                    out[pid] = proc.exitcode
            return out

        def terminate(self):
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self.reset_batch_stats()

        def abort_everything(self, ensure_ready=True):
            pool, self._pool = self._pool, None
            if pool is not None and getattr(pool, "_broken", False):
                # a worker died: the executor stops the others itself
                pool.shutdown(wait=True, cancel_futures=True)
            elif pool is not None:
                _kill_executor(pool)
            if ensure_ready:
                self.configure(n_jobs=self.parallel.n_jobs,
                               parallel=self.parallel)

    return ExecutorBackend


def _kill_executor(pool):
    """Stop the workers of a ``ProcessPoolExecutor`` now (an abort)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        try:
            proc.kill()
        except Exception:  # pragma: no cover - already gone
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.join(5.0)


_EXECUTOR_BACKEND = []


def executor_backend(keep_process=False):
    """A new ``backend='multiprocessing'`` backend of mlcore; with
    ``keep_process`` it runs one job in a worker process too."""
    if not _EXECUTOR_BACKEND:
        _EXECUTOR_BACKEND.append(_executor_backend_class())
    backend = _EXECUTOR_BACKEND[0]()
    backend.keep_process = keep_process
    return backend


###############################################################################
# What process workers receive: the user's objects must pickle

# Arguments of the engine's fit subtasks that hold the user's objects
# (unfitted: cheap to pickle), which a process worker receives pickled.
_USER_OBJECTS = ("estimator", "steps")


class _Returns(object):
    """A subtask that returns ``value`` (the failure of a learner that
    cannot be sent to the workers), sent in place of that learner's."""

    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.value


def _base(func):
    """The function inside the engine's subtask wrappers."""
    while hasattr(func, "func") and not inspect.isfunction(func):
        func = func.func
    return func


def _unpicklable(func, args, kwargs, memo):
    """Why the user's objects among the arguments of a subtask cannot be
    pickled, or None; ``memo`` keeps the answer per object."""
    try:
        import cloudpickle as pickler  # what loky sends tasks with
    except ImportError:  # pragma: no cover
        pickler = pickle
    try:
        bound = inspect.signature(_base(func)).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    for name in _USER_OBJECTS:
        value = bound.arguments.get(name)
        if value is None or isinstance(value, str):
            continue
        found = memo.get(id(value))
        if found is None or found[0] is not value:
            try:
                pickler.dumps(value)
                why = None
            except Exception as exc:
                why = "its %s %r: %s: %s" % (name, value, type(exc).__name__,
                                              exc)
            found = memo[id(value)] = (value, why)
        if found[1] is not None:
            return found[1]
    return None


def sendable(jobs):
    """``jobs`` to send to process workers, checked first: the user's
    objects of each subtask (its estimator, preprocessing steps) must
    pickle. Otherwise pickling fails on the way to the worker with an
    error that names no learner ("Could not pickle the task"). A subtask
    whose objects do not pickle raises a LearnerError naming it; with
    failures tolerated (a :class:`mlcore._tolerance.Guarded` subtask) it
    is replaced by a subtask that returns its failure, and the learner is
    dropped."""
    memo, out = {}, []
    for func, args, kwargs in jobs:
        why = _unpicklable(func, args, kwargs, memo)
        if why is None:
            out.append((func, args, kwargs))
            continue
        message = ("%s cannot be sent to the process workers, which receive "
                   "it pickled: pickling %s. Make it picklable, or use "
                   "backend='threading'"
                   % (describe(func, args, kwargs), why))
        guard = _tolerance.guard_of(func)
        if guard is None or not guard.tolerant:
            raise LearnerError(message)
        guard.dropped.add(guard.name)
        out.append((_Returns(guard.failure(message)), (), {}))
    return out


###############################################################################
# SIGTERM while the engine runs

class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while the engine was running a job: raised in the
    main thread like a KeyboardInterrupt, so the job is cleaned up (workers
    stopped, temporary files removed); the signal is then delivered again
    to the previous handler."""


_GUARD = threading.local()


class terminate_guard(object):
    """Context in which SIGTERM raises :class:`Terminated` (main thread
    only, when SIGTERM has its default action or a Python handler).

    On exit the previous handler is restored; after a :class:`Terminated`
    the signal is sent again, so the process still ends (or the previous
    handler runs), only after the engine has cleaned up."""

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is not threading.main_thread() or \
                getattr(_GUARD, "active", False):
            return self
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:
            return self

        def handler(signum, frame):
            raise Terminated("SIGTERM received")

        try:
            signal.signal(signal.SIGTERM, handler)
        except ValueError:  # pragma: no cover - not the main interpreter
            return self
        self._previous = previous
        _GUARD.active = True
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._previous is None:
            return False
        signal.signal(signal.SIGTERM, self._previous)
        _GUARD.active = False
        if exc_type is not None and issubclass(exc_type, Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
        return False


class LazyParallel(object):
    """A joblib ``Parallel`` context that starts its workers on first use.

    Tasks that never dispatch subtasks (a meta layer fitted in the driver,
    a task with nothing to do) then cost no pool start-up.

    The backend is resolved by :func:`joblib_backend` when the ``Parallel``
    starts: for dask, with the arrays given to :meth:`scatter` broadcast to
    the workers.
    """

    def __init__(self, records=None, **params):
        self._params = params
        self._parallel = None
        self._scatter = None  # None: not in hand-back mode
        self.workers = thread_workers(params.get("backend"),
                                      params.get("n_jobs"))
        kind = backend_kind(params.get("backend"))
        self._local = kind == "local"
        self._wrap = kind != "distributed"
        # where process workers note what they run (see Subtask)
        self._records = records if self._local else None

    def run(self, jobs, keys=None, small=False, sizes=None):
        """Run joblib-style ``(func, args, kwargs)`` jobs; results in job
        order.

        Several thread workers run them on mlcore's scheduler (its thread
        pool, BLAS/OpenMP caps, exclusive keys, working sets ``sizes`` and
        inline runs of quick jobs on ``small`` inputs); other backends run
        them on this ``Parallel``. See :func:`mlcore._scheduler.run_jobs`.
        """
        return _scheduler.run_jobs(self._wrapped(jobs), workers=self.workers,
                                   parallel=self, keys=keys, small=small,
                                   verbose=self._params.get("verbose", 0),
                                   sizes=sizes)

    def _wrapped(self, jobs):
        if not self._wrap:
            return jobs if isinstance(jobs, list) else list(jobs)
        out = []
        for func, args, kwargs in jobs:
            if not isinstance(func, Subtask):
                func = Subtask(func, self._records, self._local)
            out.append((func, args, kwargs))
        return out

    def scatter(self, arrays):
        """Make ``arrays`` (a task's input and targets; ``None`` entries are
        skipped) the data that a dask backend scatters once to every worker.
        A change of arrays closes the current ``Parallel``, so the next use
        starts one that scatters the new arrays (cheap for dask: the client
        and its workers stay up). No effect on the other backends."""
        arrays = tuple(a for a in arrays if a is not None)
        if self._scatter is not None and len(arrays) == len(
                self._scatter) and all(a is b for a, b in
                                       zip(arrays, self._scatter)):
            return
        self._scatter = arrays
        if dask_backend_class(self._params.get("backend")) is not None:
            self._close(None, None, None)

    def _parallel_params(self):
        """The arguments of joblib's ``Parallel``, with a fresh backend."""
        params = dict(self._params)
        params["backend"] = joblib_backend(params.get("backend"),
                                            self._scatter)
        if params["backend"] == "multiprocessing":
            params["backend"] = executor_backend()
        elif params["backend"] == "loky":
            # the same initializer every time, so that loky keeps
            # reusing its executor across mlcore's calls
            from joblib._parallel_backends import LokyBackend
            params["backend"] = LokyBackend(initializer=_exit_with_parent)
        folder = params.get("temp_folder")
        if folder is not None and not _ascii_path(folder):
            # loky's resource tracker speaks ASCII only; joblib dumps
            # nothing there anyway (max_nbytes=None)
            params["temp_folder"] = None
        if self._records is not None:
            os.makedirs(self._records, exist_ok=True)
        return params

    def _get(self):
        if self._parallel is None:
            parallel = Parallel(**self._parallel_params())
            parallel.__enter__()
            self._parallel = parallel
        return self._parallel

    def _unordered(self):
        """A one-call ``Parallel`` that yields results as they complete,
        on worker processes: with one job, on one worker process of its
        own (joblib would run the jobs in this process, where a fit over
        its time budget cannot be stopped)."""
        params = self._parallel_params()
        if self._one_worker() and self._can_start_workers():
            params["backend"] = executor_backend(keep_process=True)
        return Parallel(return_as="generator_unordered", **params)

    def _one_worker(self):
        """Whether the (process) backend runs its jobs in this process:
        one job at a time."""
        backend = self._params.get("backend")
        try:
            if isinstance(backend, str):
                from joblib.parallel import BACKENDS
                backend = BACKENDS[backend]()
            return backend.effective_n_jobs(self._params.get("n_jobs")) == 1
        except Exception:  # a backend we cannot ask
            return False

    @staticmethod
    def _can_start_workers():
        """A daemonic process (a ``multiprocessing.Pool`` worker) cannot
        start processes of its own."""
        import multiprocessing
        if not multiprocessing.current_process().daemon:
            return True
        warnings.warn("max_fit_time cannot stop a running fit in a daemonic "
                      "process, which cannot start worker processes: a fit "
                      "over its budget is judged when it ends",
                      ParallelProcessingWarning, stacklevel=2)
        return False

    def _close(self, *exc):
        parallel, self._parallel = self._parallel, None
        if parallel is not None:
            parallel.__exit__(*exc)

    def __call__(self, iterable):
        jobs = self._wrapped(iterable)
        # fits under a time budget on process workers: watched, so that the
        # worker of one that runs over can be stopped
        watched = self._records is not None and _tolerance.has_budget(jobs)
        if self._local and (watched or not self._one_worker()):
            jobs = sendable(jobs)  # they go to worker processes
        parallel = None if watched else self._get()
        try:
            if watched:
                return _tolerance.run_watched(
                    self._unordered, jobs, self._records,
                    lambda: self._close(None, None, None))
            return parallel(jobs)
        except BaseException as exc:
            from concurrent.futures.process import BrokenProcessPool
            if not isinstance(exc, BrokenProcessPool) or \
                    isinstance(exc, WorkerDiedError):
                raise
            codes = None if parallel is None else getattr(
                parallel._backend, "exit_codes", None)
            err = worker_died(exc, self._records,
                              codes() if codes is not None else None)
            raise err from exc

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._get(), name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close(*exc)
        return False
