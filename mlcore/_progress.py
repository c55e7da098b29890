"""Live progress of long fits: fits done / total per layer, elapsed time, an
estimate of the time left, and per-learner fit times at the end.

An ensemble (or an Evaluator) with ``verbose`` set opens a :class:`Progress`
for the duration of its fit with :func:`reporting`. A layer announces how
many fits it will run (:meth:`Progress.expect`) before it runs any, and
every pool of subtasks that :func:`mlcore._subtasks.run` starts in that
thread reports each finished subtask, as it finishes, on every backend:

* threading and sequential backends (and the quick subtasks of small inputs
  that run inline): the subtask itself reports when it returns, with its
  learner, fold and fit time;
* process and distributed backends (loky, multiprocessing, dask): joblib
  counts each completed batch in the driver (``Parallel.print_progress``,
  the hook behind its own ``verbose`` output), so the count and the
  estimate move as the workers finish; the learner and fit time of each
  fit are read from the results when the pool returns. A batch holds
  several subtasks when joblib's automatic batching groups quick ones.

The display is a `tqdm <https://tqdm.github.io/>`_ bar per layer when tqdm
is installed, else plain lines at most every ``interval`` seconds (and at
the end of each layer), on the stream ML-Ensemble printed to
(:func:`verbose_stream`: stdout unless ``verbose`` is high). The clock is a
parameter, so the estimate and the throttle are testable without real time.
"""
import math
import sys
import threading
import time
from collections import OrderedDict, namedtuple

__all__ = ["Progress", "Fit", "reporting", "current", "wrap", "settle",
           "verbose_stream"]

_LOCAL = threading.local()

Fit = namedtuple("Fit", "layer name fold seconds")
Fit.__doc__ = "One finished fit: its layer, learner, fold and fit time."


def verbose_stream(verbose, stderr_from):
    """Where ``verbose`` output goes, as in ML-Ensemble: ``sys.stdout``
    below the level ``stderr_from`` (10 for the ensembles, 20 for the
    Evaluator), ``sys.stderr`` from it. Read at each call, so that a
    redirected stream is honoured."""
    return sys.stderr if int(verbose or 0) >= stderr_from else sys.stdout


def current():
    """The :class:`Progress` open in this thread, or None."""
    return getattr(_LOCAL, "progress", None)


class reporting(object):
    """Context manager: make ``progress`` (or nothing, if None) the display
    of the subtasks dispatched from this thread; closes it on exit."""

    def __init__(self, progress):
        self.progress = progress

    def __enter__(self):
        self._previous = current()
        _LOCAL.progress = self.progress
        return self.progress

    def __exit__(self, exc_type, exc, tb):
        _LOCAL.progress = self._previous
        if self.progress is not None:
            self.progress.close(failed=exc_type is not None)


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def _seconds(s):
    return "%.1f s" % s if s < 100 else "%d min %02d s" % divmod(int(s), 60)


def describe_subresult(result):
    """``(name, fold, fit seconds)`` of a layer subtask's result (a
    :class:`mlcore._subtasks.SubResult`); preprocessing fits are named
    ``'<case> (preprocessing)'``. None for any other result."""
    name = getattr(result, "name", None)
    if name is None or getattr(result, "fit_time", None) is None:
        return None
    if result.kind == "transformer":
        name = "%s (preprocessing)" % name
    return name, (result.partition, result.fold), result.fit_time


class _Layer(object):
    """Counts of one layer (or of an Evaluator's whole run)."""

    def __init__(self, name, started):
        self.name, self.started = name, started
        self.done = self.expected = self.dispatched = 0
        self.bar = None

    @property
    def total(self):
        return max(self.expected, self.dispatched)


class _Pool(object):
    """One pool of ``n`` subtasks: which of them reported themselves, and
    how many joblib counted as completed."""

    def __init__(self, n):
        self.n = n
        self.reported = set()
        self.counted = 0
        self.shown = 0


class Progress(object):
    """A progress display for the subtasks of one fit.

    Parameters
    ----------
    title : str
        Printed before the summary, e.g. the estimator's class name.
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    use_tqdm : bool or None, default=None
        None: tqdm when it is installed.
    interval : float, default=1.0
        Plain lines: at most one per ``interval`` seconds.
    clock : callable, default=time.perf_counter
        Returns the time in seconds.
    describe : callable, default=describe_subresult
        Maps a subtask's result to ``(name, fold, fit seconds)``, or None for
        a result that is not a fit.

    Attributes
    ----------
    fits : list of Fit
        Every finished fit, in the order the display learnt of it.
    """

    def __init__(self, title, stream=None, use_tqdm=None, interval=1.0,
                 clock=time.perf_counter, describe=describe_subresult):
        self.title = title
        self.stream = sys.stderr if stream is None else stream
        self._tqdm = _tqdm() if use_tqdm in (None, True) else None
        if use_tqdm and self._tqdm is None:
            raise ImportError("use_tqdm=True needs tqdm: pip install tqdm")
        self.interval = interval
        self.clock = clock
        self.describe = describe
        self.layers = OrderedDict()     # name -> _Layer
        self.fits = []
        self.closed = False
        self._lock = threading.Lock()
        self._layer = None
        self._pool = None
        self._started = clock()
        self._last_line = None

    # -- events ---------------------------------------------------------
    def start_layer(self, name):
        """The fit reaches layer ``name``."""
        with self._lock:
            self._finish_layer()
            self._open(name)

    def expect(self, n):
        """The current layer will run ``n`` subtasks in all."""
        with self._lock:
            layer = self._current()
            layer.expected += n
            self._refresh_total(layer)

    def counts(self, name=None):
        """``(done, total)`` of layer ``name`` (default: the current one)."""
        layer = self.layers[self._layer if name is None else name]
        return layer.done, layer.total

    def times(self):
        """``{(layer, name): (seconds, fits)}``: fit time summed over
        folds, in the order the learners first finished."""
        out = OrderedDict()
        for fit in self.fits:
            seconds, n = out.get((fit.layer, fit.name), (0.0, 0))
            out[(fit.layer, fit.name)] = (seconds + fit.seconds, n + 1)
        return out

    def write(self, text):
        """Print a log line without breaking an open tqdm bar."""
        with self._lock:
            if self._tqdm is not None:
                self._tqdm.write(text, file=self.stream)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def close(self, failed=False):
        """End of the fit: finish the last layer; print the per-learner fit
        times (not after a failure)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._finish_layer()
            times = self.times()
            if failed or not times:
                return
            width = max(len("%s/%s" % key) for key in times)
            lines = ["%s: fit time per learner (all folds), %s in all"
                     % (self.title, _seconds(self.clock() - self._started))]
            for (layer, name), (seconds, fits) in times.items():
                lines.append("  %-*s %10s  %d fit(s)"
                             % (width, "%s/%s" % (layer, name),
                                _seconds(seconds), fits))
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    # -- a pool of subtasks (see wrap and settle) ------------------------
    def _start_pool(self, n):
        with self._lock:
            layer = self._current()
            layer.dispatched += n
            self._refresh_total(layer)
            self._pool = pool = _Pool(n)
            return pool

    def _reported(self, pool, index, result):
        """Subtask ``index`` of ``pool`` returned ``result`` here."""
        with self._lock:
            if self.closed or index in pool.reported:
                return
            pool.reported.add(index)
            self._record(result)
            self._advance(pool)

    def _counted(self, pool, n_completed):
        """joblib counted ``n_completed`` subtasks of ``pool`` as done."""
        with self._lock:
            if self.closed or pool is not self._pool:
                return
            pool.counted = max(pool.counted, n_completed)
            self._advance(pool)

    def _settle(self, pool, results):
        with self._lock:
            if self.closed:
                return
            for i, result in enumerate(results):
                if i not in pool.reported:
                    pool.reported.add(i)
                    self._record(result)
            pool.counted = pool.n
            self._advance(pool)
            if self._pool is pool:
                self._pool = None

    # -- helpers (called with the lock held) -----------------------------
    def _open(self, name):
        self._layer = name
        self.layers[name] = layer = _Layer(name, self.clock())
        return layer

    def _current(self):
        if self._layer is None:  # a fit without layers (an Evaluator)
            return self._open(self.title)
        return self.layers[self._layer]

    def _refresh_total(self, layer):
        if self._tqdm is not None and layer.bar is None:
            # Opened once the layer knows its total: a bar of total 0 would
            # print a line without one.
            layer.bar = self._tqdm(total=layer.total, desc=layer.name,
                                   unit="fit", file=self.stream, leave=True)
        elif layer.bar is not None and layer.bar.total != layer.total:
            layer.bar.total = layer.total
            layer.bar.refresh()

    def _record(self, result):
        described = self.describe(result) if self.describe else None
        if described is None:
            return
        name, fold, seconds = described
        if seconds is not None and not math.isnan(seconds):
            self.fits.append(Fit(self._layer, name, fold, seconds))

    def _advance(self, pool):
        shown = min(pool.n, max(len(pool.reported), pool.counted))
        if shown <= pool.shown:
            return
        layer = self._current()
        layer.done += shown - pool.shown
        if layer.bar is not None:
            layer.bar.update(shown - pool.shown)
        pool.shown = shown
        # (the last fit of a layer is shown by the layer's final line)
        if layer.bar is None and layer.done < layer.total:
            self._line(layer, final=False)

    def _finish_layer(self):
        if self._layer is None:
            return
        layer = self.layers[self._layer]
        if layer.bar is not None:
            layer.bar.close()
            layer.bar = None
        else:
            self._line(layer, final=True)

    def _line(self, layer, final):
        now = self.clock()
        if not final and self._last_line is not None and \
                now - self._last_line < self.interval:
            return
        done, total = layer.done, layer.total
        elapsed = now - layer.started
        text = "[mlcore] %s: %d/%d fits, %s elapsed" % (
            layer.name, done, total, _seconds(elapsed))
        if final:
            text += ", done"
        elif 0 < done < total:
            text += ", ~%s left" % _seconds(elapsed / done * (total - done))
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_line = None if final else now


class _Reported(object):
    """A subtask that reports to its display when it returns in the process
    that owns the display. A copy sent to a worker process is the bare
    subtask (the driver learns of it through joblib and the results)."""

    def __init__(self, func, progress, pool, index):
        self.func, self.progress = func, progress
        self.pool, self.index = pool, index

    def __getstate__(self):
        return {"func": self.func, "progress": None}

    def __call__(self, *args, **kwargs):
        if self.progress is None:
            return self.func(*args, **kwargs)
        # A subtask that fits an ensemble of its own in this thread must
        # not report that ensemble's pools as pools of this layer.
        previous, _LOCAL.progress = current(), None
        try:
            result = self.func(*args, **kwargs)
        finally:
            _LOCAL.progress = previous
        self.progress._reported(self.pool, self.index, result)
        return result


def _joblib_parallel(parallel):
    """The joblib ``Parallel`` that will run a pool in this process's
    driver thread, or None (the pool runs on mlcore's own threads)."""
    from joblib import Parallel
    if isinstance(parallel, Parallel):
        return parallel
    # mlcore's engines (mlcore._joblib.LazyParallel) hand a pool to their
    # Parallel when they have no thread workers of their own.
    if getattr(parallel, "workers", 0) is None and hasattr(parallel, "_get"):
        return parallel._get()
    return None


def _watch(parallel, progress, pool):
    """Count the completions joblib sees in the driver: it calls
    ``print_progress`` on its ``Parallel`` after every completed batch, on
    every backend. The instance attribute shadows the method for this pool
    (a later pool on the same Parallel replaces it)."""
    inner = _joblib_parallel(parallel)
    if inner is None or not hasattr(type(inner), "print_progress"):
        return
    original = type(inner).print_progress

    def print_progress():
        original(inner)
        progress._counted(pool, getattr(inner, "n_completed_tasks", 0))

    inner.print_progress = print_progress


def wrap(jobs, progress, parallel=None):
    """``jobs`` (joblib-style triples) of a pool that reports to
    ``progress``; ``parallel`` is the engine that will run them."""
    pool = progress._start_pool(len(jobs))
    if parallel is not None:
        _watch(parallel, progress, pool)
    return [(_Reported(func, progress, pool, i), args, kwargs)
            for i, (func, args, kwargs) in enumerate(jobs)]


def settle(progress, results):
    """After a pool returned: report the subtasks that ran elsewhere (in a
    worker process, whose copy of the subtask could not), with their
    learners and fit times from ``results``."""
    pool = progress._pool
    if pool is not None:
        progress._settle(pool, list(results))
