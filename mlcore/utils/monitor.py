"""CPU and memory logging in the background (``CMLog``).

Needs psutil (``pip install psutil``, or the ``bench`` extra).
"""
import numbers
import os
import threading
from time import perf_counter

import numpy as np

__all__ = ["CMLog"]


def _import_psutil():
    try:
        import psutil
    except ImportError as exc:
        raise ImportError("CMLog needs psutil to read CPU and memory use: "
                          "pip install psutil (or pip install "
                          "'mlcore[bench]')") from exc
    return psutil


def _record(sample, out, stop, ival, halt, clock):
    """Append ``sample()`` to ``out`` every ``ival`` seconds.

    Stops when ``halt`` is set or, if ``stop`` is not None, once ``stop``
    seconds have passed since the call (by ``clock``). ``halt.wait(ival)``
    is both the pause and the stop signal, so a halted recorder returns at
    once instead of finishing its pause.
    """
    t0 = clock()
    while not halt.wait(ival):
        if stop is not None and clock() - t0 >= stop:
            return
        out.append(sample())


def _check_seconds(value, name, allow_none):
    if value is None and allow_none:
        return None
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not value > 0):
        raise ValueError("CMLog: %s must be a positive number of seconds%s, "
                         "got %r" % (name, " or None" if allow_none else "",
                                     value))
    return float(value)


class CMLog:
    """CPU and memory logger.

    ``monitor()`` starts recording, in a background thread, the system-wide
    CPU use (``psutil.cpu_percent``) and this process's resident and virtual
    memory (``rss`` and ``vms`` of ``psutil.Process().memory_info()``) at a
    fixed interval; ``collect()`` stops it and stores the readings as numpy
    arrays in :attr:`cpu`, :attr:`rss` and :attr:`vms`.

    Parameters
    ----------
    verbose : bool, default=False
        Print a line when monitoring starts and when it is collected.

    Attributes
    ----------
    pid : int
        The process monitored (the one that created the logger).
    cpu : ndarray of float
        CPU use in percent, one reading per interval. Set by
        :meth:`collect`. The first reading covers only the moment since
        ``monitor()`` started and is close to meaningless.
    rss, vms : ndarray of int64
        Resident and virtual memory of the process in bytes. Set by
        :meth:`collect`.

    Raises
    ------
    ImportError
        On construction, if psutil is not installed.

    Notes
    -----
    ML-Ensemble recorded in a subprocess; a thread is enough here, since
    the readings are short calls into psutil that the interpreter switches
    to even while another thread runs Python code. One reading is taken
    when ``monitor()`` is called, so a collected log is never empty.

    Examples
    --------
    >>> cm = CMLog()                       # doctest: +SKIP
    >>> cm.monitor(stop=2, ival=0.5)       # doctest: +SKIP
    >>> ensemble.fit(X, y)                 # doctest: +SKIP
    >>> cm.collect()                       # doctest: +SKIP
    >>> cm.rss.max() / 2 ** 20             # doctest: +SKIP
    """

    _clock = staticmethod(perf_counter)

    def __init__(self, verbose=False):
        self.verbose = verbose
        self.pid = os.getpid()
        self._psutil = _import_psutil()
        self._job = None

    def monitor(self, stop=None, ival=0.1, kill=True):
        """Start recording.

        Parameters
        ----------
        stop : float or None, default=None
            Seconds to record for; ``None`` records until :meth:`collect`.
        ival : float, default=0.1
            Seconds between readings.
        kill : bool, default=True
            What :meth:`collect` does while the ``stop`` seconds have not
            passed yet: stop recording (True) or wait until they have
            (False). Must be True when ``stop`` is None.

        Raises
        ------
        ValueError
            For a non-positive ``stop`` or ``ival``, or ``stop=None`` with
            ``kill=False`` (which would wait forever).
        RuntimeError
            If a recording is running: collect it first.
        """
        stop = _check_seconds(stop, "stop", True)
        ival = _check_seconds(ival, "ival", False)
        if stop is None and not kill:
            raise ValueError("CMLog: with stop=None recording ends only at "
                             "collect(), so kill must be True")
        if self._job is not None:
            raise RuntimeError("CMLog: a recording is running; call collect() "
                               "before starting another")
        for name in ("cpu", "rss", "vms"):
            self.__dict__.pop(name, None)

        psutil = self._psutil
        process = psutil.Process(self.pid)
        psutil.cpu_percent(None)  # start psutil's CPU interval now

        def sample():
            mem = process.memory_info()
            return psutil.cpu_percent(None), mem.rss, mem.vms

        samples = [sample()]
        halt = threading.Event()
        thread = threading.Thread(
            target=_record, args=(sample, samples, stop, ival, halt,
                                  self._clock),
            name="mlcore-CMLog", daemon=True)
        self._job = (thread, halt, samples, kill)
        if self.verbose:
            until = ("for %g seconds" % stop if stop is not None
                     else "until collect()")
            print("[CMLog] recording %s, every %g seconds" % (until, ival))
        thread.start()

    def collect(self):
        """Stop recording (see ``kill`` in :meth:`monitor`) and store the
        readings in :attr:`cpu`, :attr:`rss` and :attr:`vms`.

        Returns
        -------
        None
            Also when no recording was started (a message is printed then,
            as in ML-Ensemble).
        """
        if self._job is None:
            print("[CMLog] no recording started: nothing to collect")
            return None
        thread, halt, samples, kill = self._job
        if thread.is_alive() and kill:
            halt.set()
        thread.join()
        self._job = None
        data = np.array(samples, dtype=np.float64).reshape(-1, 3)
        self.cpu = data[:, 0]
        self.rss = np.array([s[1] for s in samples], dtype=np.int64)
        self.vms = np.array([s[2] for s in samples], dtype=np.int64)
        if self.verbose:
            print("[CMLog] collected %d readings" % len(samples))
        return None

    # ML-Ensemble's name for collect, which its documented examples call
    _collect = collect

    def __del__(self):
        job = getattr(self, "_job", None)
        if job is not None:
            job[1].set()
