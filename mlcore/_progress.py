"""Live progress of long fits: fits done / total per layer, elapsed time, an
estimate of the time left, and per-learner fit times at the end.

An ensemble (or an Evaluator) with ``verbose`` set opens a :class:`Progress`
for the duration of its fit with :func:`reporting`. Every pool of subtasks
that :func:`mlcore._subtasks.run` starts in that thread is counted, and each
finished subtask is reported:

* as it finishes, when the subtasks run in this process (threading and
  sequential backends, and the quick subtasks of small layers run inline);
* when its pool returns, on process and distributed backends, whose workers
  cannot reach this process's display (a layer has one or two pools: its
  preprocessing fits, then its learner fits).

The display is a `tqdm <https://tqdm.github.io/>`_ bar per layer on stderr
when tqdm is installed, else plain lines on stderr at most every
``interval`` seconds (and at the end of each layer). The clock is a
parameter, so the estimate and the throttle are testable without real time.
"""
import os
import sys
import threading
import time
from collections import OrderedDict

__all__ = ["Progress", "reporting", "current"]

_LOCAL = threading.local()


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
        Plain lines: at most one per ``interval`` seconds per layer.
    clock : callable, default=time.perf_counter
        Returns the time in seconds.
    """

    def __init__(self, title, stream=None, use_tqdm=None, interval=1.0,
                 clock=time.perf_counter):
        self.title = title
        self.stream = sys.stderr if stream is None else stream
        self._tqdm = _tqdm() if use_tqdm in (None, True) else None
        if use_tqdm and self._tqdm is None:
            raise ImportError("use_tqdm=True needs tqdm: pip install tqdm")
        self.interval = interval
        self.clock = clock
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._layer = None
        self._bar = None
        self.layers = OrderedDict()     # name -> [done, total, started]
        self.times = OrderedDict()      # (layer, learner) -> [seconds, fits]
        self._started = clock()
        self._last_line = None

    # Process workers get a copy that does nothing: only this process can
    # write to the display (see the module notes).
    def __getstate__(self):
        return {"pid": self.pid, "_remote": True}

    def __setstate__(self, state):
        self.__dict__.update(state)

    _remote = False

    def local(self):
        """True in the process (and not a copy) that owns the display."""
        return not self._remote and os.getpid() == self.pid

    # -- events ---------------------------------------------------------
    def start_layer(self, name):
        """The fit reaches layer ``name``."""
        with self._lock:
            self._finish_layer()
            self._layer = name
            self.layers[name] = [0, 0, self.clock()]
            if self._tqdm is not None:
                self._bar = self._tqdm(total=0, desc=name, unit="fit",
                                       file=self.stream, leave=True)

    def add(self, n):
        """A pool of ``n`` subtasks starts in the current layer."""
        with self._lock:
            state = self._state()
            state[1] += n
            if self._bar is not None:
                self._bar.total = state[1]
                self._bar.refresh()

    def done(self, *results):
        """Subtasks finished: one per entry of ``results`` (their
        SubResults, or anything else for subtasks without timings)."""
        if not self.local() or not results:
            return
        with self._lock:
            state = self._state()
            state[0] += len(results)
            for result in results:
                fit_time = getattr(result, "fit_time", None)
                name = getattr(result, "name", None)
                if fit_time is not None and name is not None:
                    entry = self.times.setdefault((self._layer, name),
                                                  [0.0, 0])
                    entry[0] += fit_time
                    entry[1] += 1
            if self._bar is not None:
                self._bar.update(len(results))
            else:
                self._line(final=False)

    def close(self, failed=False):
        """End of the fit: finish the last layer; print the per-learner fit
        times (not after a failure)."""
        with self._lock:
            self._finish_layer()
            if failed or not self.times:
                return
            width = max(len("%s/%s" % key) for key in self.times)
            lines = ["%s: fit time per learner (all folds), %s in all"
                     % (self.title, _seconds(self.clock() - self._started))]
            for (layer, name), (seconds, fits) in self.times.items():
                lines.append("  %-*s %10s  %d fit(s)"
                             % (width, "%s/%s" % (layer, name),
                                _seconds(seconds), fits))
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    # -- helpers (called with the lock held) -----------------------------
    def _state(self):
        if self._layer is None:  # a fit without layers (an Evaluator)
            self._layer = self.title
            self.layers[self._layer] = [0, 0, self.clock()]
            if self._tqdm is not None:
                self._bar = self._tqdm(total=0, desc=self.title, unit="fit",
                                       file=self.stream, leave=True)
        return self.layers[self._layer]

    def _finish_layer(self):
        if self._layer is None:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._line(final=True)

    def _line(self, final):
        now = self.clock()
        if not final and self._last_line is not None and \
                now - self._last_line < self.interval:
            return
        done, total, started = self.layers[self._layer]
        elapsed = now - started
        text = "[mlcore] %s: %d/%d fits, %s elapsed" % (
            self._layer, done, total, _seconds(elapsed))
        if final:
            text += ", done"
        elif 0 < done < total:
            text += ", ~%s left" % _seconds(elapsed / done * (total - done))
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_line = None if final else now


class _Reported(object):
    """A subtask that reports to ``progress`` when it returns."""

    def __init__(self, func, progress):
        self.func, self.progress = func, progress

    def __call__(self, *args, **kwargs):
        result = self.func(*args, **kwargs)
        self.progress.done(result)
        return result


def wrap(jobs, progress):
    """``jobs`` (joblib-style triples) reporting to ``progress``."""
    progress.add(len(jobs))
    return [(_Reported(func, progress), args, kwargs)
            for func, args, kwargs in jobs]


def settle(progress, results):
    """After a pool returned: report the subtasks that ran elsewhere (their
    copies of ``progress`` could not)."""
    with progress._lock:
        state = progress._state()
        missing = state[1] - state[0]
    if missing > 0:
        progress.done(*list(results)[-missing:])
