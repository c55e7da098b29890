"""Limits on the native thread pools (BLAS, OpenMP) of this process.

Parallel learners oversubscribe the cores when each of them also runs a
BLAS or OpenMP team as wide as the machine. The layer therefore limits those
teams while its thread workers run (see :func:`mlcore._scheduler.run_jobs`).

threadpoolctl does this for every library it knows, but its first
``ThreadpoolController()`` resolves the real path of every shared library
mapped into the process (10-20 ms with scikit-learn and pandas loaded, paid
by the first fit of every process). The common case on Linux, OpenBLAS
(numpy's and scipy's wheels) and the GNU/LLVM/Intel OpenMP runtimes, is
handled here from the names ``dl_iterate_phdr`` reports (about 0.5 ms for
250 libraries), and rescanned only when the loader's load/unload counters
change (a few microseconds to check). Any other pool library (MKL, BLIS,
FlexiBLAS, ...), a platform without ``dl_iterate_phdr``, or a library whose
entry points are not found, falls back to threadpoolctl; without
threadpoolctl the limits are skipped.
"""
import contextlib
import ctypes
import os
import sys
import threading

__all__ = ["native_limits", "native_threads"]

# basename prefixes -> kind; the same families threadpoolctl recognizes.
_OPENBLAS = ("libopenblas", "libscipy_openblas")
_OPENMP = ("libgomp", "libomp", "libiomp")
_OTHER = ("libmkl_rt", "mkl_rt", "libblis", "libflexiblas", "libvcomp",
          "vcomp")


def _kind(path):
    base = os.path.basename(path)
    if base.startswith(_OPENBLAS):
        return "openblas"
    if base.startswith(_OPENMP):
        return "openmp"
    if base.startswith(_OTHER):
        return "other"
    return None


def _openblas_entry_points(lib):
    """(get, set) of an OpenBLAS build, whatever its symbol prefix and
    suffix (``scipy_openblas_set_num_threads64_`` in numpy's wheels)."""
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64"):
            try:
                get = getattr(lib, "%sopenblas_get_num_threads%s"
                              % (prefix, suffix))
                set_ = getattr(lib, "%sopenblas_set_num_threads%s"
                               % (prefix, suffix))
            except AttributeError:
                continue
            return get, set_
    return None


class _Native(object):
    """Entry points of the OpenBLAS and OpenMP libraries found in one scan;
    ``None`` from :meth:`scan` when some pool library is not handled here."""

    def __init__(self, blas, openmp, names):
        self.blas = blas      # [(get, set)]
        self.openmp = openmp  # [(get, set)]
        self.names = names    # the libraries' file names: blas, then openmp

    @classmethod
    def scan(cls, paths):
        blas, openmp, names = [], [], {"openblas": [], "openmp": []}
        for path in sorted(paths):
            kind = _kind(path)
            if kind is None:
                continue
            if kind == "other":
                return None
            try:
                lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
            except OSError:
                return None
            if kind == "openblas":
                pair = _openblas_entry_points(lib)
            else:
                try:
                    pair = lib.omp_get_max_threads, lib.omp_set_num_threads
                except AttributeError:
                    pair = None
            if pair is None:
                return None
            get, set_ = pair
            get.restype, get.argtypes = ctypes.c_int, []
            set_.restype, set_.argtypes = None, [ctypes.c_int]
            (blas if kind == "openblas" else openmp).append(pair)
            names[kind].append(os.path.basename(path))
        return cls(blas, openmp, names["openblas"] + names["openmp"])

    def threads(self):
        kinds = ["openblas"] * len(self.blas) + ["openmp"] * len(self.openmp)
        return tuple((kind, name, get()) for kind, name, (get, _) in
                     zip(kinds, self.names, self.blas + self.openmp))

    @contextlib.contextmanager
    def limit(self, pairs, n):
        saved = [(set_, get()) for get, set_ in pairs]
        for set_, old in saved:
            if old > n:
                set_(n)
        try:
            yield
        finally:
            for set_, old in saved:
                set_(old)


class _ThreadpoolctlLimits(object):
    """The same two limits through threadpoolctl (slower first call)."""

    def __init__(self, controller):
        self.controller = controller

    def blas(self, n):
        return self.controller.limit(limits=n, user_api="blas")

    def openmp(self, n):
        return self.controller.limit(limits=n, user_api="openmp")

    def threads(self):
        return tuple(sorted(
            (info["internal_api"], os.path.basename(info["filepath"]),
             info["num_threads"]) for info in self.controller.info()))


class _NativeLimits(object):
    def __init__(self, native):
        self.native = native

    def blas(self, n):
        return self.native.limit(self.native.blas, n)

    def openmp(self, n):
        return self.native.limit(self.native.openmp, n)

    def threads(self):
        return self.native.threads()


class _NoLimits(object):
    def blas(self, n):
        return contextlib.nullcontext()

    openmp = blas

    def threads(self):
        # no way to ask the libraries: what their defaults come from
        return ("unknown", os.cpu_count()) + tuple(
            (var, os.environ.get(var)) for var in _THREAD_VARIABLES)


# The environment variables that set the native pools' default sizes.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                     "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


_LOCK = threading.Lock()
_UNSCANNED = object()
_STATE = {"key": _UNSCANNED, "limits": None, "controller": None}


class _PhdrInfo(ctypes.Structure):
    # the leading fields of glibc's / musl's struct dl_phdr_info
    _fields_ = [("dlpi_addr", ctypes.c_void_p),
                ("dlpi_name", ctypes.c_char_p),
                ("dlpi_phdr", ctypes.c_void_p),
                ("dlpi_phnum", ctypes.c_uint16),
                ("dlpi_adds", ctypes.c_ulonglong),
                ("dlpi_subs", ctypes.c_ulonglong)]


_PHDR_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_PhdrInfo),
                                  ctypes.c_size_t, ctypes.c_void_p)


def _dl_iterate_phdr():
    """libc's ``dl_iterate_phdr``, or None (not Linux, or not found)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).dl_iterate_phdr
    except (OSError, AttributeError):
        return None


def _load_counters(iterate):
    """(loads, unloads) of the dynamic loader so far, or None where the
    libc does not report them."""
    out = []

    def first(info, size, data):
        if size >= _PhdrInfo.dlpi_subs.offset + _PhdrInfo.dlpi_subs.size:
            out.append((info.contents.dlpi_adds, info.contents.dlpi_subs))
        return 1  # stop after the first object

    iterate(_PHDR_CALLBACK(first), None)
    return out[0] if out else None


def _pool_paths(iterate):
    """The paths of the pool libraries loaded in this process."""
    paths = set()

    def collect(info, size, data):
        name = info.contents.dlpi_name
        if name:
            path = os.fsdecode(name)
            if _kind(path) is not None:
                paths.add(path)
        return 0

    iterate(_PHDR_CALLBACK(collect), None)
    return frozenset(paths)


def _threadpoolctl_limits():
    if _STATE["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController
            _STATE["controller"] = ThreadpoolController()
        except Exception:  # threadpoolctl missing or broken
            return _NoLimits()
    return _ThreadpoolctlLimits(_STATE["controller"])


def native_limits():
    """An object whose ``blas(n)`` and ``openmp(n)`` return context managers
    that cap the BLAS pools (process-wide) and the OpenMP team size of the
    calling thread at ``n`` threads, restoring the previous values on exit.

    Libraries loaded since the previous call are picked up: the libraries
    are scanned again whenever the loader has loaded or unloaded any.
    """
    iterate = _dl_iterate_phdr()
    with _LOCK:
        if iterate is None:
            if _STATE["limits"] is None:
                _STATE["limits"] = _threadpoolctl_limits()
            return _STATE["limits"]
        key = _load_counters(iterate)
        if key is not None and key == _STATE["key"]:
            return _STATE["limits"]
        paths = _pool_paths(iterate)
        native = _Native.scan(paths)
        if native is not None:
            limits = _NativeLimits(native)
        else:
            # threadpoolctl keeps the libraries of its first scan: make a
            # new controller when the loaded libraries change.
            _STATE["controller"] = None
            limits = _threadpoolctl_limits()
        _STATE["key"], _STATE["limits"] = key, limits
        return limits


def native_threads():
    """The native thread pools that a computation started in the calling
    thread would use now: a tuple of ``(library, file name, threads)``
    for every BLAS library (process-wide) and OpenMP runtime (this
    thread's team size) loaded, in a stable order.

    BLAS and OpenMP split sums over their threads, so a fit can come out
    otherwise in its last bits under another thread count (up to 2.2e-12
    in the predictions of a ridge and linear regression ensemble on
    1500 x 300 inputs, between one and two OpenBLAS threads): the fit
    store keys every fit by this tuple, read where the fit runs. Without
    any way to ask the libraries, the CPU count and the environment
    variables that set their defaults stand in for it.
    """
    return native_limits().threads()
