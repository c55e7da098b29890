"""Faults and bad input in the processing engine (mlcore.backend).

* Fault injection through a protocol-following task (``FoldTask``): errors
  in fit and predict subtasks, KeyboardInterrupt in the driver, a killed
  loky worker, a failing disk, processes that exit without ``clear()``, and
  another process's live cache.
* Bad input to the backend (``test_bad_input_*``).
* Determinism across backends and ``n_jobs``.

``HYPOTHESIS_PROFILE=stress`` or ``MLCORE_STRESS=1`` repeats the fault
scenarios many times. Every helper that runs in a worker is a module-level
function (here or in ``tests/_tasks.py``), so that loky and multiprocessing
can pickle it by reference.
"""
import errno
import gc
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

import mlcore
from mlcore.backend import ParallelEvaluation, ParallelProcessing
from mlcore.exceptions import ParallelProcessingError

from tests._tasks import FaultEvalCaller as EvalCaller
from tests._tasks import FaultTask as FoldTask
from tests._tasks import InjectedError as LearnerError
from tests._tasks import (_arr, _bits_equal, _child_env, assert_clean,
                          check_reusable, make_data, reference_fit, tree)
from tests._tasks import _reset_config, cache_root  # noqa: F401 (fixtures)

pytestmark = [
    # NaN and inf are fed on purpose; numpy's notices about them are noise.
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
]

STRESS = (os.environ.get("HYPOTHESIS_PROFILE") == "stress"
          or os.environ.get("MLCORE_STRESS", "") not in ("", "0"))
REPEAT = 10 if STRESS else 1          # repetitions of each fault scenario

BACKENDS = ("threading", "sequential", "loky", "multiprocessing")
PROCESS_BACKENDS = ("loky", "multiprocessing")
N_JOBS = 2
HAS_NOTES = sys.version_info >= (3, 11)

try:
    from joblib.externals.loky.process_executor import \
        BrokenProcessPool as _BrokenPool
except ImportError:  # pragma: no cover
    from concurrent.futures.process import BrokenProcessPool as _BrokenPool


###############################################################################
# 1. Fault injection

FAULTS = [
    pytest.param(("raise", "fit", 2), LearnerError, id="fit-raises"),
    pytest.param(("raise", "fit", 0), LearnerError, id="full-fit-raises"),
    pytest.param(("raise", "predict", 3), ZeroDivisionError,
                 id="predict-raises"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fail, exc_type", FAULTS)
def test_fault_subtask_raises(cache_root, backend, fail, exc_type):
    X, y = make_data()
    _, job, fold = fail
    for _ in range(REPEAT):
        pp = ParallelProcessing(backend, N_JOBS)
        if job == "predict":
            good = FoldTask("bad")
            pp.map([good], "fit", X, y)
            good.fail = fail
            tasks = [good]
        else:
            tasks = [FoldTask("bad", fail=fail)]
        with pytest.raises(exc_type) as info:
            pp.map(tasks, job, X, y if job == "fit" else None,
                   return_preds=True)
        exc = info.value
        assert type(exc) is exc_type
        # The learner's message (naming learner and fold) arrives intact ...
        assert "learner 'bad', fold %d, job %r" % (fold, job) in str(exc)
        # ... and the engine adds the task on Python >= 3.11.
        if HAS_NOTES:
            notes = getattr(exc, "__notes__", [])
            assert any("task 'bad'" in n and repr(job) in n for n in notes), \
                notes
        del exc, info
        assert pp.job is None
        assert_clean(cache_root)
        check_reusable(pp, X, y)
        assert_clean(cache_root)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["setup", "call"])
def test_fault_keyboard_interrupt_in_driver(cache_root, backend, where):
    X, y = make_data()
    # The class, not an instance: a stored instance would keep its traceback
    # (and with it the frames holding the input memmaps) alive.
    kw = {"setup_error" if where == "setup" else "call_error":
          KeyboardInterrupt}
    pp = ParallelProcessing(backend, N_JOBS)
    with pytest.raises(KeyboardInterrupt) as info:
        # "call": the pool is alive (subtasks ran) when the interrupt comes.
        pp.map([FoldTask("first"), FoldTask("ki", **kw)], "fit", X, y)
    if HAS_NOTES:
        assert any("task 'ki'" in n for n in getattr(info.value,
                                                      "__notes__", []))
    del info
    assert pp.job is None
    assert_clean(cache_root)
    check_reusable(pp, X, y)
    assert_clean(cache_root)


@pytest.mark.parametrize("how", ["kill", "exit"])
def test_fault_loky_worker_dies(cache_root, how):
    X, y = make_data()
    for _ in range(REPEAT):
        pp = ParallelProcessing("loky", N_JOBS)
        with pytest.raises(_BrokenPool) as info:
            pp.map([FoldTask("victim", fail=(how, "fit", 1))], "fit", X, y)
        # TerminatedWorkerError for a SIGKILL and os._exit alike
        assert "terminated" in str(info.value).lower() or \
            "exit" in str(info.value).lower()
        del info
        assert pp.job is None
        assert_clean(cache_root)
        check_reusable(pp, X, y)
        assert_clean(cache_root)


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _partial_write_then_enospc(file, *args, **kwargs):
    if hasattr(file, "write"):  # half a file, as a full disk leaves it
        file.write(b"\x93NUMPY")
    else:
        with open(file, "wb") as f:
            f.write(b"\x93NUMPY")
    _enospc()


_real_open_memmap = np.lib.format.open_memmap


def _create_memmap_enospc(filename, mode="r+", *args, **kwargs):
    if mode == "w+":  # creating P; np.load(mmap_mode=...) reads through here
        _enospc()
    return _real_open_memmap(filename, mode, *args, **kwargs)


DISK_FAULTS = {
    "mkdtemp": ("tempfile.mkdtemp", _enospc),
    "save-X": ("numpy.save", _partial_write_then_enospc),
    "open_memmap-P": ("numpy.lib.format.open_memmap", _create_memmap_enospc),
    "joblib.dump-sparse": ("joblib.dump", _enospc),
}


@pytest.mark.parametrize("backend", PROCESS_BACKENDS)
@pytest.mark.parametrize("fault", sorted(DISK_FAULTS))
def test_fault_disk_full(cache_root, monkeypatch, backend, fault):
    X, y = make_data()
    if fault == "joblib.dump-sparse":
        X = sp.csr_matrix(X)
    target, replacement = DISK_FAULTS[fault]
    pp = ParallelProcessing(backend, N_JOBS)
    with monkeypatch.context() as m:
        m.setattr(target, replacement)
        with pytest.raises(OSError) as info:
            pp.map([FoldTask("disk")], "fit", X, y, return_preds=True)
    exc = info.value
    # The reason is there: in the error itself or in its cause.
    reasons = [exc, exc.__cause__]
    assert any(getattr(e, "errno", None) == errno.ENOSPC for e in reasons)
    if fault == "open_memmap-P":
        assert "task 'disk'" in str(exc) and "MB" in str(exc)
    del exc, info
    assert pp.job is None
    assert_clean(cache_root)
    check_reusable(pp, make_data()[0], make_data()[1])
    assert_clean(cache_root)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_fault_unwritable_tmpdir(cache_root):  # pragma: no cover - root here
    X, y = make_data()
    os.chmod(cache_root, 0o500)
    try:
        with pytest.raises(OSError):
            ParallelProcessing("loky", N_JOBS).map([FoldTask()], "fit", X, y)
    finally:
        os.chmod(cache_root, 0o700)
    assert_clean(cache_root)


def test_fault_missing_tmpdir(tmp_path, monkeypatch):
    missing = tmp_path / "does" / "not" / "exist"
    monkeypatch.setenv("MLCORE_TMPDIR", str(missing))
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    with pytest.raises(OSError):
        pp.map([FoldTask()], "fit", X, y)
    assert not missing.exists()
    assert pp.job is None


def test_fault_cache_removal_fails_warns(cache_root, monkeypatch):
    """If the cache cannot be removed the user is told where it is."""
    import shutil
    X, y = make_data()
    pp = ParallelProcessing("loky", N_JOBS)
    pp.map([FoldTask()], "fit", X, y)
    d = pp.job.dir
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)
    with pytest.warns(mlcore.ParallelProcessingWarning, match=re.escape(d)):
        pp.clear()
    monkeypatch.undo()
    shutil.rmtree(d)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fault_evaluation_subtask_raises(cache_root, backend):
    X, y = make_data()
    pe = ParallelEvaluation(backend, N_JOBS)
    with pytest.raises(LearnerError, match="learner 'evaluated', fold 2"):
        pe.process(EvalCaller(fail=("raise", "fit", 2)), "evaluate", X, y)
    assert pe.job is None
    assert_clean(cache_root)
    caller = EvalCaller()
    with pe:  # reusable, and the context manager clears it
        pe.process(caller, "evaluate", X, y)
    assert len(caller.scores_) == 3
    assert_clean(cache_root)
    # Without a context manager: removed when the processor goes away.
    pe = ParallelEvaluation(backend, N_JOBS)
    pe.process(EvalCaller(), "evaluate", X, y)
    del pe
    assert_clean(cache_root)


# -- processes that end without clear() ---------------------------------------

_CHILD = textwrap.dedent(r"""
    import os, sys
    import numpy as np
    from mlcore import config
    from mlcore.backend import ParallelProcessing, delayed

    def sub(X, P, k):
        P[k::2, 0] = X[k::2, 0] + 1.0

    class Task:
        name = "t"; __no_output__ = False; dtype = np.float64
        def setup(self, X, y, job): self.n = X.shape[0]
        def shape(self, job): return (self.n, 1)
        def __call__(self, args, parallel):
            X, P = args["main"]["X"], args["main"]["P"]
            parallel(delayed(sub)(X, P, k) for k in range(2))

    backend, mode = sys.argv[1], sys.argv[2]
    X = np.arange(12.0).reshape(6, 2)
    pp = ParallelProcessing(backend, 2)
    P = pp.map([Task()], "fit", X, np.arange(6.0), return_preds=True)
    assert (P[:, 0] == X[:, 0] + 1).all()
    d = pp.job.dir
    print("CACHE", d, os.path.isdir(d), flush=True)
    if mode == "del":
        del pp
        print("AFTER_DEL", os.path.isdir(d), flush=True)
    elif mode == "raise":
        raise SystemExit("error: exiting with a live processor")
    elif mode == "exception":
        raise RuntimeError("unhandled")
    elif mode == "wait":
        sys.stdin.readline()   # hold the cache until told to go on
        ok = os.path.isdir(d) and sorted(os.listdir(d))[:1] == ["X.npy"]
        P2 = pp.get_preds()
        assert (P2 == P).all()
        print("STILL_OK", ok, flush=True)
    # "exit" and everything else: just end the script without clear()
""")


def _run_child(root, backend, mode):
    r = subprocess.run([sys.executable, "-c", _CHILD, backend, mode],
                       env=_child_env(root), capture_output=True, text=True,
                       timeout=120)
    m = re.search(r"^CACHE (\S+) True$", r.stdout, re.M)
    assert m, (r.stdout, r.stderr)
    return r, m.group(1)


@pytest.mark.parametrize("backend, mode", [
    ("loky", "exit"), ("loky", "del"), ("loky", "raise"),
    ("loky", "exception"), ("multiprocessing", "exit"),
    ("multiprocessing", "del")])
def test_fault_process_exits_without_clear(cache_root, backend, mode):
    r, d = _run_child(cache_root, backend, mode)
    assert os.path.dirname(d) == str(cache_root)
    assert not os.path.exists(d), "cache %s outlived its process" % d
    if mode == "del":
        assert "AFTER_DEL False" in r.stdout  # removed at once, not at exit
    if mode in ("exit", "del"):
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    else:
        assert r.returncode == 1
    assert "Could not remove" not in r.stderr and "leak" not in r.stderr
    assert_clean(cache_root)


def _snapshot(path):
    out = {}
    for rel in tree(path):
        full = os.path.join(path, rel)
        if os.path.isfile(full):
            with open(full, "rb") as f:
                out[rel] = (f.read(), os.stat(full).st_mtime_ns)
        else:
            out[rel] = None
    return out


def test_fault_other_process_cache_untouched(cache_root):
    """mlcore never touches caches it did not create: not on import, not
    on any call, not at exit (ML-Ensemble's clear_cache removed them)."""
    fake = cache_root / ".mlcore_cache_other_process"
    (fake / "task_0").mkdir(parents=True)
    np.save(fake / "X.npy", np.arange(5.0))
    (fake / "task_0" / "est.0.pkl").write_bytes(b"not mine")
    old = fake / "stale_out_array.npy"
    old.write_bytes(b"x")
    os.utime(old, (1, 1))  # ancient: no age-based sweeping either
    fake_snapshot = _snapshot(fake)

    live = subprocess.Popen([sys.executable, "-c", _CHILD, "loky", "wait"],
                            env=_child_env(cache_root), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = live.stdout.readline()
        m = re.match(r"CACHE (\S+) True", line)
        assert m, (line, live.stderr.read() if live.poll() is not None else "")
        live_dir = m.group(1)
        live_snapshot = _snapshot(live_dir)

        # 1. importing mlcore elsewhere
        env = _child_env(cache_root)
        subprocess.run([sys.executable, "-c", "import mlcore, mlcore.config, "
                        "mlcore.backend, mlcore.kernels"], env=env,
                       check=True, timeout=60)
        # 2. other processes that run, fail, exit without clear()
        _run_child(cache_root, "loky", "exception")
        # 3. every call here, successful or not, on every backend
        X, y = make_data()
        for backend in BACKENDS:
            with ParallelProcessing(backend, N_JOBS) as pp:
                pp.stack([FoldTask("a"), FoldTask("b")], "fit", X, y)
                with pytest.raises(LearnerError):
                    pp.map([FoldTask(fail=("raise", "fit", 1))], "fit", X, y)
            pp = ParallelProcessing(backend, N_JOBS)
            pp.map([FoldTask()], "fit", X, y)
            del pp
            gc.collect()
        assert _snapshot(fake) == fake_snapshot
        assert _snapshot(live_dir) == live_snapshot
        assert sorted(os.listdir(cache_root)) == sorted(
            [fake.name, os.path.basename(live_dir)])
        out, err = live.communicate("go\n", timeout=60)
        assert "STILL_OK True" in out, (out, err)
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()
    assert not os.path.exists(live_dir)     # its owner removed it at exit
    assert _snapshot(fake) == fake_snapshot  # still nobody else's business



###############################################################################
# 2. Bad input
#
# Each case gets either a clear exception of the documented type or correct
# handling; a crash or a wrong result fails. test_bad_input_* counts them.

def _with_nonfinite(dtype=np.float64):
    X = _arr(8, 3, dtype=dtype)
    X[0, 0], X[1, 1], X[2, 2], X[3, 0] = np.nan, np.inf, -np.inf, -0.0
    return X


# -- backend ------------------------------------------------------------------

def _map(backend, X, y=None, job="fit", **kw):
    pp = ParallelProcessing(backend, N_JOBS)
    try:
        task = FoldTask("t", **kw)
        if job != "fit":
            pp.map([task], "fit", np.zeros((X.shape[0], X.shape[1])),
                   np.zeros(X.shape[0]))
        return pp.map([task], job, X, y, return_preds=True)
    finally:
        pp.clear()


def _nonfinite_passthrough(backend):
    """NaN/inf pass through the engine and feature propagation untouched."""
    X = _with_nonfinite()
    y = np.arange(8.0)
    P = _map(backend, X, y, propagate_features=[0, 1, 2])
    assert P[:, :3].tobytes() == X.tobytes()   # NaN, inf, -0.0 bit-exact
    X32 = _with_nonfinite(np.float32)
    P = _map(backend, X32, y, propagate_features=[2, 0], dtype=np.float32)
    np.testing.assert_array_equal(P[:, :2], X32[:, [2, 0]])


def _nonfinite_predict(backend):
    X = _with_nonfinite()
    P = _map(backend, X, job="predict", propagate_features=[1])
    np.testing.assert_array_equal(P[:, 0], X[:, 1])


def _variant_layouts(backend):
    """Fortran order, '>f8', float32 and strided views give the same
    predictions as the plain C array."""
    X, y = make_data()
    ref = _map(backend, X, y, propagate_features=[3, 1])
    for variant in (np.asfortranarray(X), X.astype(">f8"),
                    np.repeat(X, 2, axis=0)[::2], np.hstack([X, X])[:, :4]):
        np.testing.assert_array_equal(
            _map(backend, variant, y, propagate_features=[3, 1]), ref)


def _object_dtype(backend):
    X, y = make_data()
    P = _map(backend, X.astype(object), y)
    np.testing.assert_array_equal(P, reference_fit(X, y))


def _empty(backend):
    P = _map(backend, np.zeros((0, 3)), np.zeros(0))
    assert P.shape == (0, 1)
    P = _map(backend, np.zeros((0, 3)), job="predict", propagate_features=[1])
    assert P.shape == (0, 2)


def _sparse_input(backend):
    X, y = make_data()
    X[X < 0] = 0
    P = _map(backend, sp.coo_matrix(X), y)
    np.testing.assert_array_equal(P, reference_fit(X, y))
    P = _map(backend, sp.coo_matrix(X), y, propagate_features=[2, 0])
    assert sp.isspmatrix_csr(P) and P.has_canonical_format
    np.testing.assert_array_equal(P.toarray()[:, :2], X[:, [2, 0]])


def _raises(exc, match=None):
    def check(fn):
        with pytest.raises(exc, match=match):
            fn()
    return check


def _task_rejects_ndim(backend):
    # The engine passes X through; the learner rejects it, the error
    # arrives intact and the cache is removed.
    for X in (np.arange(5.0), np.zeros((4, 2, 2)), np.float64(3.0)):
        with pytest.raises(ValueError, match="expected a 2-D X"):
            _map(backend, X, None)


BACKEND_CASES = {
    "nan-inf-pass-through": _nonfinite_passthrough,
    "nan-inf-predict": _nonfinite_predict,
    "fortran-bigendian-strided": _variant_layouts,
    "object-dtype": _object_dtype,
    "empty-0-rows": _empty,
    "sparse-coo-input": _sparse_input,
    "wrong-ndim": _task_rejects_ndim,
    "X-y-length-mismatch": lambda b: _raises(
        ValueError, "different numbers of rows")(
            lambda: _map(b, np.zeros((5, 2)), np.zeros(4))),
    "caller-not-iterable": lambda b: _raises(TypeError, "iterable")(
        lambda: ParallelProcessing(b, N_JOBS).map(FoldTask(), "fit",
                                                  *make_data())),
    "caller-is-None": lambda b: _raises(TypeError, "iterable")(
        lambda: ParallelProcessing(b, N_JOBS).map(None, "fit", *make_data())),
    "unknown-job": lambda b: _raises(ValueError, "job must be one of")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fitt",
                                                  *make_data())),
    "job-not-str": lambda b: _raises(ValueError, "job must be one of")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], 1,
                                                  *make_data())),
    "path-wrong-type": lambda b: _raises(TypeError, "path must be")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fit",
                                                  *make_data(), path=3)),
    "path-empty-str": lambda b: _raises(ValueError, "empty string")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fit",
                                                  *make_data(), path="")),
    "return_preds-int": lambda b: _raises(TypeError, "return_preds")(
        lambda: ParallelProcessing(b, N_JOBS).map([FoldTask()], "fit",
                                                  *make_data(),
                                                  return_preds=1)),
    "missing-input-file": lambda b: _raises(FileNotFoundError)(
        lambda: ParallelProcessing(b, N_JOBS).map(
            [FoldTask()], "fit", "/nonexistent/mlcore/X.npy")),
    "task-negative-shape": lambda b: _raises(ValueError, "negative")(
        lambda: ParallelProcessing(b, N_JOBS).map(
            [_NegativeShapeTask()], "fit", *make_data())),
    "get_preds-before-run": lambda b: _raises(ParallelProcessingError)(
        lambda: ParallelProcessing(b, N_JOBS).get_preds()),
}


class _NegativeShapeTask(FoldTask):
    def shape(self, job):
        return (-1, 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(BACKEND_CASES))
def test_bad_input_backend(cache_root, backend, case):
    BACKEND_CASES[case](backend)
    assert_clean(cache_root)


@pytest.mark.parametrize("args, match", [
    (("nope",), "Unknown backend"),
    (("", 1), "Unknown backend"),
    ((None,), None),  # None = the configured default: fine
    ((3,), "backend must be"),
    (("loky", 0), "n_jobs"),
    (("loky", 1.5), "n_jobs"),
    (("loky", "two"), "n_jobs"),
    (("threading", True), "n_jobs"),
], ids=["unknown", "empty", "default", "int", "n_jobs-0", "n_jobs-float",
        "n_jobs-str", "n_jobs-bool"])
def test_bad_input_processor_args(args, match):
    for cls in (ParallelProcessing, ParallelEvaluation):
        if match is None:
            cls(*args)
        else:
            with pytest.raises(ValueError, match=match):
                cls(*args)


@pytest.mark.parametrize("value, match", [
    ("nope", "Unknown backend"),
    ("0", "n_jobs"),
    ("int8", "floating dtype"),
    ("a/b", "prefix"),
], ids=["MLCORE_BACKEND", "MLCORE_N_JOBS", "MLCORE_DTYPE", "MLCORE_PREFIX"])
def test_bad_input_environment(monkeypatch, value, match):
    var = {"Unknown backend": "MLCORE_BACKEND", "n_jobs": "MLCORE_N_JOBS",
           "floating dtype": "MLCORE_DTYPE", "prefix": "MLCORE_PREFIX"}[match]
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=match):
        pp = ParallelProcessing(None if var == "MLCORE_BACKEND" else "loky")
        pp.map([FoldTask(dtype=None)], "fit", *make_data(),
               return_preds=True)



###############################################################################
# 5. Determinism

def _determinism_run(backend, n_jobs, X, y):
    pp = ParallelProcessing(backend, n_jobs)
    try:
        tasks = [FoldTask("a", shuffle=True, random_state=11),
                 FoldTask("b", n_folds=4, shuffle=True, random_state=12)]
        mapped = pp.map(tasks, "fit", X, y, return_preds=["a", "b"])
        stacked = pp.stack([FoldTask("s1", shuffle=True, random_state=3),
                            FoldTask("s2", shuffle=True, random_state=4,
                                     propagate_features=[0])],
                           "fit", X, y, return_preds=True)
        return mapped + [stacked]
    finally:
        pp.clear()


def test_determinism_across_backends(cache_root):
    X, y = make_data(n=101, p=5, seed=3)
    runs = {(b, j): _determinism_run(b, j, X, y)
            for b in BACKENDS for j in (1, 2)}
    ref = runs[("sequential", 1)]
    np.testing.assert_array_equal(ref[0], reference_fit(X, y, 3, 11))
    np.testing.assert_array_equal(ref[1], reference_fit(X, y, 4, 12))
    for key, outs in runs.items():
        assert len(outs) == 3
        for got, want in zip(outs, ref):
            assert _bits_equal(got, want), key
    # a different seed gives different folds, hence different output
    other = ParallelProcessing("threading", 2).map(
        [FoldTask("a", shuffle=True, random_state=99)], "fit", X, y,
        return_preds=True)
    assert not _bits_equal(other, ref[0])
    assert_clean(cache_root)
