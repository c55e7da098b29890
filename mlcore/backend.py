"""The parallel processing backend.

A drop-in replacement for ``mlens.parallel.backend``: the same classes,
signatures, ``args`` dictionary and task protocol, so that layers, learners
and evaluators written for ML-Ensemble run unchanged, with its known bugs
fixed (each fix that changes what a caller sees is noted where it applies).

How a call runs
---------------
:meth:`ParallelProcessing.map` and :meth:`ParallelProcessing.stack` prepare a
:class:`Job` (inputs, targets, an estimation cache) and then walk the
*caller*, any iterable of tasks. For each task the engine

1. shuffles the inputs when ``job == 'fit'`` and ``task.shuffle`` is set,
2. calls ``task.setup(X, y, job)``,
3. allocates the output array ``P`` of ``task.shape(job)`` and
   ``task.dtype`` unless ``task.__no_output__``,
4. calls ``task(args, parallel=parallel)``; the task writes its
   predictions in place into ``args['main']['P']`` and stores fitted
   estimators in the cache ``args['dir']``,
5. copies ``task.propagate_features`` input columns into the first
   ``task.n_feature_prop`` columns of ``P``,
6. in ``stack`` mode, makes ``P`` the next task's input and lines the
   targets up with its rows.

Memory model
------------
Backends fall into three kinds (:attr:`BaseProcessor.memory`):

``'shared'``
    Backends that share memory with the caller (``'threading'``, the
    default, and ``'sequential'``) use the inputs as they are, allocate ``P``
    in memory and keep the cache in a ``dict``.
``'local'``
    Process pools on this machine (``'loky'``, ``'multiprocessing'``) get
    inputs memory-mapped once into a private temporary directory (``.npy``
    files for dense arrays, memory-mapped component arrays for sparse ones)
    and a memory-mapped ``P`` that workers write into; joblib sends
    memory-mapped arrays to workers by reference.
``'distributed'``
    Everything else: ``'dask'``, ``'ray'`` and any other backend registered
    with joblib whose class is not one of joblib's local ones (a subclass
    counts as distributed). Workers may share neither memory nor a
    filesystem with the driver, so :class:`ParallelProcessing` writes
    nothing to disk: inputs stay in the driver's memory, ``P`` is an
    in-memory array, the cache is a ``dict`` (a directory ``path`` is
    refused), and every task runs in *hand-back* mode (see below): its
    subtasks return fitted estimators and prediction blocks, which the task
    writes into ``P`` in the driver. With dask, each task's input and
    targets are scattered once (broadcast to every worker) before its
    subtasks are submitted, so they are not sent with every subtask.
    (:class:`ParallelEvaluation` keeps the ``'local'`` model on such
    backends: it needs a filesystem shared with the workers.)

The temporary directory is created with mode 0700 under
:func:`mlcore.config.get_tmpdir` and removed by :meth:`BaseProcessor.clear`,
on any exception raised during a call, when the processor is garbage
collected, and at interpreter exit. A directory passed by the user as
``path`` is never removed. Nothing ever touches another process's cache.

Task protocol extension
-----------------------
A task may define ``row_offset`` (an int, or a method taking the job name)
giving the input row that row 0 of its output ``P`` corresponds to. It
defaults to ``n_in - n_out`` (the output covers the *last* rows, as
ML-Ensemble assumed); a blend layer whose test rows are not the last rows
uses it so that propagated features and targets line up.

Opt-ins: ML-Ensemble's observable behaviour, or mlcore's
----------------------------------------------------------
Three of mlcore's fixes change what a task or its caller observes, so a task
(or a :class:`ParallelEvaluation` caller) gets them only when it says so
with an attribute. Without the attribute it sees what ML-Ensemble showed
it, which is what ML-Ensemble's own layers and learners expect.
mlcore's layers and evaluators opt in.

``forward_kwargs = True``
    The keyword arguments of :meth:`ParallelProcessing.map`,
    :meth:`~ParallelProcessing.stack` and :meth:`~ParallelProcessing.process`
    (``refit=False``, ``proba=True``, ...) reach the task as top-level keys
    of its ``args`` dict. Otherwise ``args`` holds only ``'job'``,
    ``'dir'``, ``'main'`` and ``'auxiliary'``: ML-Ensemble dropped these
    keywords, and its tasks' handling of ``refit`` only ever ran without
    them.
``restore_order = True``
    The task's output, as :meth:`ParallelProcessing.process` and
    :meth:`~ParallelProcessing.get_preds` return it, comes in the row order
    of the caller's ``X`` even when the task shuffled its input. Otherwise
    the rows come in the shuffled order the task worked in, as in
    ML-Ensemble. Either way :meth:`ParallelProcessing.output_rows` says
    which row of ``X`` each returned row belongs to.
``apply_shuffle = True`` (on a :class:`ParallelEvaluation` caller)
    ``caller.shuffle`` and ``caller.random_state`` are applied: the rows
    are permuted before the caller's indexer is fitted. ML-Ensemble
    ignored them, so its ``Evaluator`` (``shuffle=True`` by default) never
    shuffled; without the opt-in the rows stay in order.

Hand-back: a task that defines a ``handback`` attribute (as
:class:`mlcore.layer.Layer` does) can run on a distributed backend. There
the engine puts ``args['handback'] = True``: the task must not rely on its
subtasks writing into ``P`` or the cache, but have them *return* their
results and write them into ``args['main']['P']`` itself. Without the
attribute a task on a distributed backend raises ParallelProcessingError
(its writes would land in worker copies and be lost). On other backends
``args`` has no ``'handback'`` key and the original protocol applies.

Which backend runs when ``backend=None``: an active
``joblib.parallel_config(backend=...)`` (or ``parallel_backend``) context,
else :func:`mlcore.config.get_backend` (``MLCORE_BACKEND``, default
``'threading'``). A backend given explicitly always wins.

Tasks get a ``parallel`` whose ``run(jobs, keys=None, small=False,
sizes=None)`` runs their subtasks (see :mod:`mlcore._scheduler`); it is
also callable as a joblib ``Parallel``, as ML-Ensemble's tasks expect.

This module is longer than the others (about 400 lines of code, the rest
docstrings) because it is one API, that of ``mlens.parallel.backend``,
whose classes share the job state; storage lives in :mod:`mlcore._store`
and the joblib plumbing in :mod:`mlcore._joblib`.
"""
import numbers
import os
import warnings
from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse as sp

from . import _store, config, kernels
from ._joblib import (LazyParallel, active_backend, backend_kind, delayed,
                      terminate_guard)
from ._store import dump_array
from .exceptions import ParallelProcessingError, ParallelProcessingWarning

__all__ = [
    "Job",
    "BaseProcessor",
    "ParallelProcessing",
    "ParallelEvaluation",
    "dump_array",
    "delayed",
]

_JOBS = ("fit", "predict", "transform", "evaluate")


###############################################################################
# Helpers

def _dtype(a, b=None):
    """The ``dtype`` attribute of ``a``, else of ``b``, else None."""
    return getattr(a, "dtype", getattr(b, "dtype", None))


def _n_rows(a):
    shape = getattr(a, "shape", None)
    if shape:
        return shape[0]
    return None


###############################################################################
class Job(object):
    """The state of one call of a processor: inputs, outputs and cache.

    Parameters
    ----------
    job : str
        ``'fit'``, ``'predict'``, ``'transform'`` or ``'evaluate'``.
    stack : bool
        Whether :meth:`update` makes each task's output the next input.
    split : bool
        Whether every call of :meth:`subdir` (hence of :meth:`args`) opens a
        new sub-cache ``task_<k>``.
    dir : str or dict, optional
        Estimation cache: a directory, or a dict of sub-cache lists.
    tmp : weakref.finalize, optional
        Remover of a temporary cache directory created by the engine.
    predict_in, targets, predict_out : array-like, optional
        Current input, targets and output.

    Notes
    -----
    ``kwargs`` holds the keyword arguments of the current processor call;
    the processor forwards them to the tasks that opt in (see the module
    docstring). :meth:`args` itself adds only what it is given.
    """

    __slots__ = ("targets", "predict_in", "predict_out", "dir", "job", "tmp",
                 "_n_dir", "kwargs", "stack", "split", "_origin", "_rows",
                 "_offset", "_out_rows", "_last_y", "_n_shared", "scratch",
                 "_start", "__weakref__")

    def __init__(self, job, stack, split, dir=None, tmp=None, predict_in=None,
                 targets=None, predict_out=None):
        if job not in _JOBS:
            raise ValueError("job must be one of %s, got %r" % (_JOBS, job))
        self.job = job
        self.stack = bool(stack)
        self.split = bool(split)
        self.dir = dir
        self.tmp = tmp
        # where arrays shared with process workers go: the temporary cache
        # directory, or a temporary subdirectory of a user's cache directory
        self.scratch = dir if tmp is not None else None
        self.predict_in = predict_in
        self.targets = targets
        self.predict_out = predict_out
        self.kwargs = {}
        self._n_dir = 0
        self._origin = (predict_in, targets)
        self._rows = None      # original row of each current input row
        self._offset = None    # input row of output row 0, for the last task
        self._out_rows = None  # original row of each output row
        self._last_y = None    # targets of an earlier fit, kept by warm starts
        self._n_shared = 0     # inputs re-memory-mapped after shuffles
        self._start = 0        # original row of input row 0, if unshuffled

    def clear(self):
        """Forget the output of the previous task."""
        self.predict_out = None
        self._offset = None
        self._out_rows = None

    def reset(self):
        """Go back to the inputs the job was initialized with (map mode)."""
        self.predict_in, self.targets = self._origin
        self._rows = None
        self._start = 0

    def update(self):
        """Finish a task: canonical CSR output and, if stacking, make the
        output the next input with rebased targets."""
        if self.predict_out is None:
            return
        if sp.issparse(self.predict_out):
            self.predict_out = kernels.to_csr(self.predict_out)
        if self.stack:
            n_out = self.predict_out.shape[0]
            self.predict_in = self.predict_out
            if self._rows is None and self._offset:
                self._start += self._offset
            self._rows = self._out_rows
            self.rebase(n_out)

    def rebase(self, n_rows=None):
        """Line the targets up with the current input.

        Drops the targets that have no row in ``predict_in``: the first ones
        by default (the surviving rows are the last ones), or all but rows
        ``[offset, offset + n)`` when the last task declared a ``row_offset``.
        O(1): the targets become a view.
        """
        if self.targets is None or self.predict_in is None:
            return
        n = self.predict_in.shape[0] if n_rows is None else n_rows
        if self.targets.shape[0] > n:
            self.targets = kernels.rebase(self.targets, n, self._offset)

    def shuffle(self, random_state):
        """Permute the rows of the input and the targets (if any) with
        ``check_random_state(random_state).permutation(n)``.

        The permutation is recorded: the processor reports it
        (:meth:`ParallelProcessing.output_rows`) and puts the rows back in
        the caller's order for tasks that opt in with ``restore_order``.
        Works without targets (ML-Ensemble raised AttributeError).
        """
        X, y, perm = kernels.shuffle_rows(self.predict_in, self.targets,
                                          random_state)
        self.predict_in, self.targets = X, y
        # rows of the caller's X, after any earlier task that dropped rows
        self._rows = (perm + self._start if self._rows is None
                      else self._rows[perm])

    def subdir(self):
        """Return the sub-cache for the next task.

        A new ``task_<k>`` sub-cache when ``split`` is set, else the current
        one: a directory for an on-disk cache, a list for an in-memory one.
        """
        if self.dir is None:
            raise ParallelProcessingError(
                "The job has no estimation cache: give Job a dir (a directory "
                "path or a dict), or let a processor initialize it.")
        name = "task_%d" % self._n_dir
        if self.split:
            self._n_dir += 1
        if isinstance(self.dir, str):
            path = os.path.join(self.dir, name)
            exists = os.path.exists(path)
            if exists and self.split:
                raise ParallelProcessingError(
                    "Sub-cache %s already exists in %s: use an empty cache "
                    "directory." % (name, self.dir))
            if not exists:
                os.mkdir(path)
            return path
        if name in self.dir and self.split:
            raise ParallelProcessingError(
                "Sub-cache %r already exists in the cache dict: use an empty "
                "cache." % name)
        return self.dir.setdefault(name, [])

    def args(self, **kwargs):
        """The argument dictionary handed to a task.

        ``{'job': ..., 'dir': <sub-cache>, 'main': {'X', 'P'[, 'y']},
        'auxiliary': {'X', 'P': None[, 'y']}}``, ML-Ensemble's dictionary,
        plus the keyword arguments of this call at the top level. (The
        processors pass the keyword arguments of a call only to the tasks
        that opt in with ``forward_kwargs``; ML-Ensemble dropped them.)
        """
        reserved = {"job", "dir", "main", "auxiliary"}.intersection(kwargs)
        if reserved:
            raise TypeError("%s are reserved keys of the task arguments"
                            % sorted(reserved))
        aux = {"X": self.predict_in, "P": None}
        main = {"X": self.predict_in, "P": self.predict_out}
        if self.job in ("fit", "evaluate"):
            main["y"] = self.targets
            aux["y"] = self.targets
        out = dict(kwargs)
        out.update({"auxiliary": aux, "main": main, "dir": self.subdir(),
                    "job": self.job})
        return out

    def release(self):
        """Drop every array reference and remove an engine-made temporary
        cache directory."""
        self.predict_in = self.targets = self.predict_out = None
        self._origin = (None, None)
        self._rows = self._out_rows = self._last_y = None
        if self.tmp is not None:
            self.tmp()  # a weakref.finalize runs at most once


###############################################################################
def _annotate(exc, message):
    """Add a note to an exception in flight (Python >= 3.11)."""
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(message)


###############################################################################
class BaseProcessor(ABC):
    """Base class of the processing engines.

    Parameters
    ----------
    backend : str or joblib backend, optional
        ``'threading'``, ``'loky'``, ``'multiprocessing'``, ``'sequential'``,
        ``'dask'`` (needs a ``distributed.Client``), or any backend
        registered with joblib (``'ray'`` after
        ``ray.util.joblib.register_ray()``), or a joblib backend instance.
        ``None``: the backend of an active ``joblib.parallel_config``
        context, else :func:`mlcore.config.get_backend` (``'threading'``).
    n_jobs : int, optional
        Number of workers; ``-1`` (default) for one per core. ``0`` raises
        ValueError (ML-Ensemble silently turned it into ``-1``). A dask
        backend uses every worker thread of the cluster.
    verbose : bool or int, optional
        Verbosity of joblib's ``Parallel``.

    Attributes
    ----------
    job : Job or None
        The current job, ``None`` when not initialized.
    memory : str
        ``'shared'``, ``'local'`` or ``'distributed'``: the memory model of
        the backend (see the module docstring).
    __threading__ : bool
        True when the backend shares memory with the caller (``'threading'``
        and ``'sequential'``); ML-Ensemble set it for ``'threading'`` only and
        memory-mapped needlessly for ``'sequential'``.

    Notes
    -----
    This is an abstract class (ML-Ensemble's ABC declaration had no effect):
    instantiate :class:`ParallelProcessing` or :class:`ParallelEvaluation`.
    """

    # Whether distributed backends run in hand-back mode (in memory, nothing
    # on disk); ParallelEvaluation's callers need a shared cache directory.
    _supports_handback = False

    @abstractmethod
    def __init__(self, backend=None, n_jobs=None, verbose=None):
        self.job = None
        self.__initialized__ = 0
        self._row_records = {}
        if backend is None:
            backend = active_backend()
        self.backend = config.get_backend() if backend is None else backend
        self.memory = backend_kind(self.backend)
        self.__threading__ = self.memory == "shared"
        self.n_jobs = (config.get_n_jobs() if n_jobs is None
                       else config._check_n_jobs(n_jobs))
        self.verbose = int(verbose) if verbose else 0

    def __repr__(self):
        return "%s(backend=%r, n_jobs=%r, verbose=%r)" % (
            type(self).__name__, self.backend, self.n_jobs, self.verbose)

    @property
    def _handback(self):
        """Tasks hand their results back (distributed backend)."""
        return self.memory == "distributed" and self._supports_handback

    @property
    def _in_memory(self):
        """Inputs, ``P`` and the cache live in this process's memory."""
        return self.__threading__ or self._handback

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.clear()

    def initialize(self, job, X, y=None, path=None, warm_start=False,
                   return_preds=False, stack=False, split=False):
        """Prepare the engine for a call.

        Parameters
        ----------
        job : str
            ``'fit'``, ``'predict'``, ``'transform'`` (or ``'evaluate'``).
        X : array-like, scipy.sparse matrix, str or os.PathLike
            Input data, or a file to load it from (``.npy``, ``.npz``,
            ``.mmap``, text).
        y : array-like, str or os.PathLike, optional
            Targets; needed for ``'fit'``.
        path : None, dict, str or os.PathLike, optional
            Estimation cache. ``None``: a temporary one (in memory for
            shared-memory backends). A dict (an empty one too) is used as the
            in-memory cache; a directory as a persistent on-disk cache, which
            is never deleted.
        warm_start : bool
            Keep the current cache (and sub-cache numbering), and reuse the
            already prepared inputs when ``X`` and ``y`` are the very objects
            of the previous call. The new ``job`` always applies and the
            input restarts from ``X``. (ML-Ensemble instead kept the whole old
            job, silently ignoring the new ``job``, ``X``, ``y`` and
            ``path``.) Without a current job this is a plain initialization.
        return_preds : bool or list of str
            ``True``: return the last task's output; a list (or a single
            str) of task names: return those tasks' outputs.
        stack : bool, default False
            Each task's output becomes the next task's input.
        split : bool, default False
            Each task gets a sub-cache of its own.

        Returns
        -------
        out : dict
            ``{}``, ``{'return_final': True}`` or ``{'return_final': False,
            'return_names': [...]}``, for :meth:`ParallelProcessing.process`.
        """
        out = _check_return_preds(return_preds)
        self._row_records = {}
        if warm_start and self.job is not None:
            self._warm_initialize(job, X, y, path, stack, split)
        else:
            self._initialize(job=job, X=X, y=y, path=path, stack=stack,
                             split=split)
        return out

    def _prepare(self, job, X, y):
        """Load or memory-map X and y into ``job`` (in-memory engines: load
        only; a distributed backend gets them scattered by the engine)."""
        arrays = []
        for name, arr in (("X", X), ("y", y)):
            if sp.issparse(arr):
                # Tasks index the matrix: refuse a corrupt one here, as
                # the kernels would (the matrix is passed on as it is).
                kernels.to_csr(arr, name)
            if arr is not None:
                if self._in_memory:
                    if _store.is_pathlike(arr):
                        arr = _store.load(arr)
                else:
                    arr = _store.load_mmap(dump_array(arr, name,
                                                      job.scratch))
            arrays.append(arr)
        X, y = arrays
        nx, ny = _n_rows(X), _n_rows(y)
        if nx is not None and ny is not None and nx != ny:
            raise ValueError("X and y have different numbers of rows: %d and %d"
                             % (nx, ny))
        job.predict_in, job.targets = X, y
        job._origin = (X, y)

    def _initialize(self, job, X, y=None, path=None, stack=False, split=False):
        """Create a fresh :class:`Job` (see :meth:`initialize`)."""
        if self.job is not None:
            self.clear()
        new = Job(job, stack=stack, split=split)
        try:
            _store.set_cache(new, path, self._in_memory, self._handback)
            self._prepare(new, X, y)
        except BaseException:
            new.release()
            raise
        self.job = new
        self.__initialized__ = 1
        return self

    def _warm_initialize(self, job, X, y, path, stack, split):
        old = self.job
        if path is not None and path is not old.dir and not (
                _store.is_pathlike(path) and isinstance(old.dir, str)
                and os.path.abspath(os.fspath(path)) == os.path.abspath(old.dir)):
            raise ValueError("warm_start=True keeps the current cache; a "
                             "different path needs warm_start=False")
        new = Job(job, stack=stack, split=split, dir=old.dir, tmp=old.tmp)
        new.scratch = old.scratch
        new._n_dir = old._n_dir
        new._last_y = old._origin[1] if old._origin[1] is not None \
            else old._last_y
        X0, y0 = old._origin
        if y0 is None:
            # A warm predict/transform in between keeps the fit's targets.
            y0 = old._last_y
        X = X0 if X is None else X
        y = y0 if y is None and job in ("fit", "evaluate") else y
        if X is X0 and y is y0:
            new.predict_in, new.targets = X0, y0
            new._origin = (X0, y0)
        else:
            self._prepare(new, X, y)
        if old.tmp is not None:
            # The new job now owns the temporary directory.
            old.tmp.detach()
            new.tmp = _store.own_finalizer(new, old.scratch)
            old.tmp = None
        self.job = new
        self.__initialized__ = 1

    def _parallel(self):
        """The ``parallel`` handed to tasks: a joblib ``Parallel`` started on
        first use, whose ``run(jobs, keys, small, sizes)`` schedules
        subtasks (see :class:`mlcore._joblib.LazyParallel`)."""
        temp_folder = self.job.scratch
        # max_nbytes=None: joblib must not dump arrays on its own; the engine
        # memory-maps what workers share, and joblib passes memmaps by
        # reference.
        records = (os.path.join(temp_folder, "running")
                   if temp_folder is not None else None)
        return LazyParallel(records=records,
                            n_jobs=self.n_jobs, backend=self.backend,
                            verbose=self.verbose, temp_folder=temp_folder,
                            max_nbytes=None)

    def _share_inputs(self):
        """Memory-map the current input and targets again after a shuffle,
        so process workers keep receiving them by reference, not by value."""
        job = self.job
        if self.__threading__ or job.scratch is None:
            return
        job._n_shared += 1
        for attr, name in (("predict_in", "X"), ("targets", "y")):
            arr = getattr(job, attr)
            if arr is not None and not isinstance(arr, np.memmap):
                f = dump_array(arr, "%s_shuffled_%d" % (name, job._n_shared),
                               job.scratch)
                setattr(job, attr, _store.load_mmap(f))

    def clear(self):
        """Drop the job and remove the temporary cache, if the engine made
        one. A cache directory passed as ``path`` is left alone (ML-Ensemble
        deleted it). Safe to call repeatedly."""
        job, self.job = self.job, None
        self.__initialized__ = 0
        if job is not None:
            job.release()


def _check_return_preds(return_preds):
    if return_preds is True or return_preds is False or isinstance(
            return_preds, np.bool_):
        return {"return_final": True} if return_preds else {}
    if isinstance(return_preds, str):
        return {"return_final": False, "return_names": [return_preds]}
    if isinstance(return_preds, (list, tuple, set, frozenset)):
        names = list(return_preds)
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise TypeError("return_preds names must be str, got %r" % (bad,))
        return {"return_final": False, "return_names": names}
    raise TypeError("return_preds must be True, False or a list of task "
                    "names, got %r" % (return_preds,))


# key of the last task's record in BaseProcessor._row_records
_LAST = object()


def _opts_in(obj, flag):
    """Whether a task or caller opts in to one of mlcore's protocol fixes
    (see the module docstring)."""
    return bool(getattr(obj, flag, False))


def _task_offset(task, job, n_in, n_out):
    offset = getattr(task, "row_offset", None)
    if callable(offset):
        offset = offset(job)
    if offset is None:
        return n_in - n_out
    if not isinstance(offset, (numbers.Integral, np.integer)) or isinstance(
            offset, bool) or not 0 <= offset <= n_in - n_out:
        raise ValueError("task %r: row_offset=%r does not fit %d output rows "
                         "into %d input rows" % (getattr(task, "name", task),
                                                 offset, n_out, n_in))
    return int(offset)


###############################################################################
class ParallelProcessing(BaseProcessor):
    """Engine that runs the tasks of a caller, each in one flat pool.

    Parameters
    ----------
    backend, n_jobs, verbose
        See :class:`BaseProcessor` (given positionally as in ML-Ensemble).

    Examples
    --------
    >>> with ParallelProcessing('threading', 2) as engine:  # doctest: +SKIP
    ...     P = engine.stack(layers, 'fit', X, y, return_preds=True)

    On a distributed backend (``'dask'``, ``'ray'``, ...) tasks run in
    hand-back mode with nothing on disk (see the module docstring).
    """

    _supports_handback = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    def map(self, caller, job, X, y=None, path=None, return_preds=False,
            warm_start=False, split=False, **kwargs):
        """Run the tasks of ``caller`` independently on the same input.

        All tasks share one sub-cache unless ``split=True``, so task names
        must be unique. With ``task.shuffle`` set, every task sees the input
        shuffled by its own ``random_state`` (ML-Ensemble reshuffled the
        already shuffled input before each task).

        Parameters
        ----------
        caller : iterable of tasks
        job, X, y, path, return_preds, warm_start, split
            See :meth:`BaseProcessor.initialize`.
        **kwargs
            Forwarded in its ``args`` dict to every task that opts in with
            ``forward_kwargs`` (see the module docstring). The misspelling
            ``wart_start`` of ML-Ensemble is still accepted (deprecated).

        Returns
        -------
        None, the last task's output, or a list of outputs (see
        ``return_preds``).
        """
        if "wart_start" in kwargs:
            warnings.warn("'wart_start' is a misspelling kept for ML-Ensemble "
                          "callers; use 'warm_start'", DeprecationWarning,
                          stacklevel=2)
            warm_start = bool(kwargs.pop("wart_start")) or warm_start
        out = self.initialize(job=job, X=X, y=y, path=path,
                              warm_start=warm_start, return_preds=return_preds,
                              split=split, stack=False)
        return self.process(caller=caller, out=out, **kwargs)

    def stack(self, caller, job, X, y=None, path=None, return_preds=False,
              warm_start=False, split=True, **kwargs):
        """Run the tasks of ``caller`` in sequence, each on the previous
        task's output (layers of an ensemble).

        Each task gets its own sub-cache unless ``split=False``. Targets are
        lined up with tasks that output fewer rows than they read.

        Parameters and return value as in :meth:`map`.
        """
        out = self.initialize(job=job, X=X, y=y, path=path,
                              warm_start=warm_start, return_preds=return_preds,
                              split=split, stack=True)
        return self.process(caller=caller, out=out, **kwargs)

    def process(self, caller, out, **kwargs):
        """Run every task of ``caller`` on the initialized job.

        Parameters
        ----------
        caller : iterable of tasks
            A single task without ``__iter__`` must be wrapped in a list.
        out : dict
            As returned by :meth:`BaseProcessor.initialize`.
        **kwargs
            Forwarded in its ``args`` dict to every task that opts in with
            ``forward_kwargs``.

        Returns
        -------
        None, an array (``return_final``; ``None`` if the caller had no task
        or its last task has no output, where ML-Ensemble raised
        UnboundLocalError or returned ``array(nan)``), or a list of arrays
        (``return_names``). Each output's rows come in the caller's row order
        if its task opts in with ``restore_order``, else in the order the
        task worked in (see :meth:`get_preds` and :meth:`output_rows`).

        Notes
        -----
        If a task raises, the job is cleared (its temporary cache removed)
        before the exception propagates, annotated with the task's name.
        """
        if self.job is None or not self.__initialized__:
            raise ParallelProcessingError(
                "The processor is not initialized: call map() or stack(), or "
                "initialize() before process().")
        return_names = list(out.get("return_names", []))
        return_final = bool(out.get("return_final", False))
        try:
            tasks = iter(caller)
        except TypeError:
            self.clear()
            raise TypeError("caller must be an iterable of tasks (a layer, a "
                            "group or a list); wrap a single task in a list. "
                            "Got %s" % type(caller).__name__) from None

        self.job.kwargs = dict(kwargs)
        preds = [] if return_names else None
        found = set()
        last = None
        task = None
        with terminate_guard():  # SIGTERM: clean up first, then die
            try:
                with self._parallel() as parallel:
                    for task in tasks:
                        last = task
                        self.job.clear()
                        self._partial_process(task, parallel)
                        name = getattr(task, "name", None)
                        if return_names and name in return_names:
                            found.add(name)
                            preds.append(self._collect(task))
                        self.job.update()
                        task = None
            except BaseException as exc:
                if task is not None:
                    _annotate(exc, "mlcore: raised by task %r during %r"
                              % (getattr(task, "name", task), self.job.job
                                 if self.job is not None else "?"))
                self.clear()
                raise
        if return_names and len(found) < len(set(return_names)):
            warnings.warn("return_preds: no task named %s"
                          % sorted(set(return_names) - found),
                          ParallelProcessingWarning, stacklevel=2)
        if return_final:
            if last is None or self.job.predict_out is None:
                return None
            return self._collect(last)
        return preds

    def _collect(self, task):
        if self.job.predict_out is None:
            return None
        return self.get_preds(dtype=_dtype(task),
                              restore_order=_opts_in(task, "restore_order"))

    def _partial_process(self, task, parallel, **kwargs):
        """Run one task: shuffle, setup, output array, call, propagation."""
        job = self.job
        if not job.stack:
            job.reset()
        if job.job == "fit" and getattr(task, "shuffle", False):
            job.shuffle(getattr(task, "random_state", None))
            self._share_inputs()
        handback = self._handback
        if handback and not hasattr(task, "handback"):
            raise ParallelProcessingError(
                "task %r cannot run on the distributed backend %r: its "
                "subtasks would write predictions and fitted estimators into "
                "worker copies of P and of the cache, which never come back. "
                "Tasks that support hand-back (mlcore layers) define a "
                "'handback' attribute; otherwise use 'threading', 'loky' or "
                "'multiprocessing'." % (getattr(task, "name", task),
                                        self.backend))
        task.setup(job.predict_in, job.targets, job.job)
        has_output = not getattr(task, "__no_output__", False)
        if has_output:
            self._gen_prediction_array(task, job.job, self._in_memory)
        # ML-Ensemble's tasks get ML-Ensemble's four keys only.
        forwarded = (dict(job.kwargs, **kwargs)
                     if _opts_in(task, "forward_kwargs") else {})
        if handback:
            forwarded["handback"] = True
            scatter = getattr(parallel, "scatter", None)
            if scatter is not None:  # X and y go to the workers once
                scatter((job.predict_in, job.targets))
        task(job.args(**forwarded), parallel=parallel)
        if has_output and job.predict_out is not None:
            n_in = _n_rows(job.predict_in)
            n_out = job.predict_out.shape[0]
            if n_in is not None:
                job._offset = _task_offset(task, job.job, n_in, n_out)
                if job._rows is not None:
                    job._out_rows = job._rows[job._offset:job._offset + n_out]
            self._record_rows(task, n_out)
            if getattr(task, "n_feature_prop", 0):
                self._propagate_features(task)

    def _record_rows(self, task, n_out):
        """Remember which rows of ``X`` the task's output covers, for
        :meth:`output_rows` (kept after :meth:`clear`)."""
        job = self.job
        record = (job._out_rows, job._start + (job._offset or 0), n_out,
                  _opts_in(task, "restore_order"))
        self._row_records[getattr(task, "name", None)] = record
        self._row_records[_LAST] = record

    def output_rows(self, name=None):
        """Rows of the caller's ``X`` that a task's returned output covers.

        Parameters
        ----------
        name : str, optional
            A task of the last call; by default the last task with output.

        Returns
        -------
        rows : ndarray of int64
            ``rows[i]`` is the row of ``X`` (as given to ``map`` or
            ``stack``) that row ``i`` of the task's output, as returned by
            the processor, belongs to. After a shuffled fit of a task that
            does not opt in with ``restore_order``, this is the permutation
            the task worked in: ``y[rows]`` lines up with the output. It is
            ascending for tasks that do. Fewer rows than ``X`` for tasks
            that predict only some rows (a blend layer at fit time).

        Raises
        ------
        KeyError
            No task of that name produced output in the last call.
        """
        key = _LAST if name is None else name
        if key not in self._row_records:
            raise KeyError("no task %s produced output in the last call"
                           % ("at all" if name is None else repr(name)))
        rows, start, n_out, restored = self._row_records[key]
        if rows is None:
            return np.arange(start, start + n_out, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        return np.sort(rows) if restored else rows.copy()

    def _propagate_features(self, task):
        """Copy ``task.propagate_features`` input columns into the first
        columns of the output (a canonical CSR matrix for sparse input)."""
        job = self.job
        cols = np.asarray(task.propagate_features)
        if cols.shape[0] != task.n_feature_prop:
            raise ValueError("task %r: n_feature_prop=%d but %d "
                             "propagate_features" % (task.name,
                                                     task.n_feature_prop,
                                                     cols.shape[0]))
        offset = job._offset
        if offset is None:
            offset = job.predict_in.shape[0] - job.predict_out.shape[0]
        if sp.issparse(job.predict_in):
            job.predict_out = kernels.propagate_features_sparse(
                job.predict_in, cols, offset, job.predict_out)
        else:
            kernels.propagate_features(job.predict_in, cols, offset,
                                       job.predict_out)

    def _gen_prediction_array(self, task, job, threading):
        """Allocate the output array of ``task``: zeros in memory for
        shared-memory backends and hand-back mode (``threading`` true), a
        memory-mapped ``.npy`` file in the cache otherwise. The dtype is
        ``task.dtype``, or
        :func:`mlcore.config.get_dtype` (ML-Ensemble allocated float64 but
        returned float32)."""
        shape = task.shape(job)
        try:
            shape = tuple(int(s) for s in shape)
        except TypeError:
            raise ValueError("task %r: shape(%r) must return a tuple of ints, "
                             "got %r" % (task.name, job, shape)) from None
        if any(s < 0 for s in shape):
            raise ValueError("task %r: negative output shape %r"
                             % (task.name, shape))
        dtype = _dtype(task)
        dtype = config.get_dtype() if dtype is None else np.dtype(dtype)
        # With sparse input and propagated features, P becomes a CSR matrix
        # once the subtasks are done, and its first n_feature_prop columns
        # are never written before. Column-major, those columns stay
        # untouched zero pages: only the prediction columns take memory.
        fortran = (len(shape) == 2 and sp.issparse(self.job.predict_in) and
                   getattr(task, "n_feature_prop", 0) > 0)
        if threading:
            self.job.predict_out = np.zeros(shape, dtype=dtype,
                                            order="F" if fortran else "C")
            return
        self.job.predict_out = _store.open_output(self.job.scratch, task.name,
                                                  shape, dtype, fortran)

    def get_preds(self, dtype=None, order="C", restore_order=None):
        """Return the current output array.

        Parameters
        ----------
        dtype : numpy dtype, optional
            Cast to this dtype; by default the output's own dtype.
        order : {'C', 'F'}
            Memory order of a dense result.
        restore_order : bool, optional
            Put the rows of a shuffled fit back into the row order of the
            caller's ``X``. By default, whether the last task opts in with
            ``restore_order`` (see the module docstring); ML-Ensemble
            returned the rows in the shuffled order.

        Returns
        -------
        P : ndarray or csr_matrix
            An array that owns its memory (never a view onto the engine's
            memory-mapped files, which ML-Ensemble returned). Sparse
            outputs are canonical CSR. :meth:`output_rows` says which row
            of ``X`` each row belongs to.

        Raises
        ------
        ParallelProcessingError
            No output: the processor was never run, or was cleared.
        """
        job = self.job
        if job is None or job.predict_out is None:
            raise ParallelProcessingError(
                "No prediction array: the processor has not run a task with "
                "output, or it has been cleared.")
        if restore_order is None:
            restore_order = self._row_records.get(_LAST, (0, 0, 0, False))[3]
        P = job.predict_out
        rows = job._out_rows if restore_order else None
        if sp.issparse(P):
            P = kernels.to_csr(P)
            if rows is not None:
                P = P[np.argsort(rows, kind="stable")]
            if dtype is not None and P.dtype != np.dtype(dtype):
                P = P.astype(dtype)
            return P
        dtype = P.dtype if dtype is None else np.dtype(dtype)
        if rows is not None:
            order_idx = np.argsort(rows, kind="stable")
            P = kernels.take_rows(P, order_idx)
        if isinstance(P, np.memmap) or not P.flags.owndata:
            # Never hand out a view onto the engine's files or buffers.
            return np.array(P, dtype=dtype, order=order, copy=True)
        # An in-memory output is not written again once its task is done,
        # so it can be returned without a copy.
        return np.asarray(P, dtype=dtype, order=order)


###############################################################################
class ParallelEvaluation(BaseProcessor):
    """Engine for cross-validated evaluation (``Evaluator``, ``Benchmark``).

    Fits the caller's indexer and calls ``caller(parallel, args, case)``
    once; the caller dispatches its own subtasks and collects results from
    the cache. Use it as a context manager: it does not clear itself.

    Parameters
    ----------
    backend, n_jobs, verbose
        See :class:`BaseProcessor`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    def process(self, caller, case, X, y, path=None, **kwargs):
        """Evaluate ``caller`` on ``X``, ``y``.

        Parameters
        ----------
        caller : object
            Has an ``indexer`` and is callable as
            ``caller(parallel, args, case)``.
        case : str
            ``'preprocess'``, ``'evaluate'`` or ``'preprocess-evaluate'``.
        X, y : array-like
        path : None, dict, str or os.PathLike, optional
            Cache (see :meth:`BaseProcessor.initialize`).
        **kwargs
            Forwarded in the ``args`` dict if the caller opts in with
            ``forward_kwargs`` (ML-Ensemble dropped them).

        Notes
        -----
        ``caller.shuffle`` and ``caller.random_state`` are applied only for
        a caller that opts in with ``apply_shuffle = True``: the rows are
        then permuted with ``check_random_state(random_state)
        .permutation(n)`` before the indexer is fitted. ML-Ensemble never
        applied them (so ``Evaluator(shuffle=True)``, its default, never
        shuffled); without the opt-in the rows stay in order.
        """
        self._initialize(job="fit", X=X, y=y, path=path, split=False,
                         stack=False)
        self.job.kwargs = dict(kwargs)
        forwarded = kwargs if _opts_in(caller, "forward_kwargs") else {}
        with terminate_guard():  # SIGTERM: clean up first, then die
            try:
                if _opts_in(caller, "apply_shuffle") and getattr(
                        caller, "shuffle", False):
                    self.job.shuffle(getattr(caller, "random_state", None))
                    self._share_inputs()
                with self._parallel() as parallel:
                    caller.indexer.fit(self.job.predict_in, self.job.targets,
                                       self.job.job)
                    caller(parallel, self.job.args(**forwarded), case)
            except BaseException:
                self.clear()
                raise
