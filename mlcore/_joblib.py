"""joblib plumbing of the engine: what kind of backend a name stands for,
the backend of an active ``joblib.parallel_config``, dask's scatter, and a
``Parallel`` that starts its workers on first use.

Besides joblib's public API this reads its backend registry
(``joblib.parallel.BACKENDS``, ``EXTERNAL_BACKENDS``), its backend classes
(to tell its own process pools from other backends) and the active
``parallel_config``: joblib offers no public way to ask these.
"""
import sys

import joblib
from joblib import Parallel

from . import _scheduler


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


class LazyParallel(object):
    """A joblib ``Parallel`` context that starts its workers on first use.

    Tasks that never dispatch subtasks (a meta layer fitted in the driver,
    a task with nothing to do) then cost no pool start-up.

    The backend is resolved by :func:`joblib_backend` when the ``Parallel``
    starts: for dask, with the arrays given to :meth:`scatter` broadcast to
    the workers.
    """

    def __init__(self, **params):
        self._params = params
        self._parallel = None
        self._scatter = None  # None: not in hand-back mode
        self.workers = thread_workers(params.get("backend"),
                                      params.get("n_jobs"))

    def run(self, jobs, keys=None, small=False):
        """Run joblib-style ``(func, args, kwargs)`` jobs; results in job
        order.

        Several thread workers run them on mlcore's scheduler (its thread
        pool, BLAS/OpenMP caps, exclusive keys and inline runs of quick jobs
        on ``small`` inputs); other backends run them on this ``Parallel``.
        See :func:`mlcore._scheduler.run_jobs`.
        """
        return _scheduler.run_jobs(jobs, workers=self.workers, parallel=self,
                                   keys=keys, small=small,
                                   verbose=self._params.get("verbose", 0))

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

    def _get(self):
        if self._parallel is None:
            params = dict(self._params)
            params["backend"] = joblib_backend(params.get("backend"),
                                                self._scatter)
            parallel = Parallel(**params)
            parallel.__enter__()
            self._parallel = parallel
        return self._parallel

    def _close(self, *exc):
        parallel, self._parallel = self._parallel, None
        if parallel is not None:
            parallel.__exit__(*exc)

    def __call__(self, iterable):
        return self._get()(iterable)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._get(), name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close(*exc)
        return False
