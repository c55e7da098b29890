"""Hostile input to the kernels: corrupt sparse matrices, lossy casts and
malformed arrays get a clear Python exception, never a crash or garbage.

scipy builds sparse matrices from raw arrays without checking their values
and lets them be changed afterwards, so a matrix can hold column indices
past its width, a decreasing ``indptr`` or arrays of mismatched lengths
while ``has_canonical_format`` says it is fine. Several of these crash the
interpreter (in mlcore's loops or in scipy's conversions), so every corrupt
case runs in a child process: a crash fails its own test and the test run
goes on. Each case checks every kernel entry point that takes a sparse
argument (``to_csr``, ``propagate_features_sparse`` as ``P_in`` and as
``P_out``, ``shuffle_rows``), against an independent numpy reference for
the matrices that are valid but mislabelled.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, strategies as st

import mlcore
from mlcore import _kernels
from mlcore import kernels as K


###############################################################################
# Corrupt sparse matrices
#
# Each builder returns (M, dense) where dense is the matrix M stands for
# when M is valid but mislabelled (computed here from M's raw arrays with
# numpy), or None when M is corrupt and must be refused.

def _csr(n=3, p=3):
    # rows: [0 2 .], [. . 3], [4 . 5]
    return sp.csr_matrix((np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
                          np.array([0, 1, 2, 0, 2], dtype=np.int32),
                          np.array([0, 2, 3, 5], dtype=np.int32)),
                         shape=(n, p))


def _dense_from_compressed(indptr, indices, data, shape, by_rows=True):
    """Dense matrix of raw compressed arrays, duplicates summed."""
    out = np.zeros(shape if by_rows else shape[::-1], dtype=data.dtype)
    major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    np.add.at(out, (major, indices[:indptr[-1]]), data[:indptr[-1]])
    return out if by_rows else out.T


def case_csr_index_too_large():
    return sp.csr_matrix((np.ones(3), np.array([0, 1, 10 ** 6]),
                          np.array([0, 1, 2, 3])), shape=(3, 3)), None


def case_csr_index_negative():
    return sp.csr_matrix((np.ones(3), np.array([0, -1, 2]),
                          np.array([0, 1, 2, 3])), shape=(3, 3)), None


def case_csr_indptr_decreasing():
    return sp.csr_matrix((np.arange(1.0, 6.0), np.array([0, 1, 2, 0, 1]),
                          np.array([0, 4, 2, 5])), shape=(3, 3)), None


def case_csr_indptr_past_end():
    M = _csr()
    M.indptr = np.array([0, 2, 3, 9], dtype=np.int32)
    return M, None


def case_csr_indptr_not_from_zero():
    M = _csr()
    M.indptr = np.array([1, 2, 3, 5], dtype=np.int32)
    return M, None


def case_csr_indptr_too_short():
    M = _csr()
    M.indptr = np.array([0, 2, 5], dtype=np.int32)
    return M, None


def case_csr_data_too_short():
    M = _csr()
    M.data = M.data[:3]
    return M, None


def case_csr_float_indices():
    M = _csr()
    M.indices = M.indices.astype(np.float64)
    return M, None


def case_csr_2d_indices():
    M = _csr()
    M.indices = M.indices.reshape(1, -1)
    return M, None


def case_csr_object_data():
    M = _csr()
    M.data = M.data.astype(object)
    return M, None


def case_csr_stale_canonical_flag():
    # Canonical when the flag was computed; then changed in place, which
    # scipy does not notice (the flag is cached).
    M = _csr()
    assert M.has_canonical_format
    M.indices[[0, 1]] = M.indices[[1, 0]]
    M.indices[4] = 0  # row 2 now holds column 0 twice
    assert M.has_canonical_format
    return M, _dense_from_compressed(M.indptr, M.indices, M.data, M.shape)


def case_csr_forced_canonical_flag():
    M = sp.csr_matrix((np.array([1.0, 2.0, 3.0, 4.0]),
                       np.array([2, 0, 2, 1]), np.array([0, 3, 3, 4])),
                      shape=(3, 3))
    M.has_canonical_format = True  # unsorted, with a duplicate
    return M, _dense_from_compressed(M.indptr, M.indices, M.data, M.shape)


def case_csr_slack_past_indptr():
    # indptr[-1] < len(indices): the tail is not part of the matrix.
    M = _csr()
    M.indices = np.r_[M.indices, np.int32(2), np.int32(1)]
    M.data = np.r_[M.data, 7.0, 8.0]
    M.indptr = np.array([0, 2, 3, 5], dtype=np.int32)
    return M, _dense_from_compressed(M.indptr, M.indices, M.data, M.shape)


def case_csc_index_too_large():
    M = sp.csc_matrix(np.eye(3))
    M.indices[1] = 70000
    return M, None


def case_csc_indptr_decreasing():
    M = sp.csc_matrix(np.eye(3))
    M.indptr = np.array([0, 2, 1, 3], dtype=M.indptr.dtype)
    return M, None


def case_coo_row_too_large():
    M = sp.coo_matrix(np.eye(3))
    M.row[1] = 100000
    return M, None


def case_coo_col_negative():
    M = sp.coo_matrix(np.eye(3))
    M.col[1] = -2
    return M, None


def case_coo_length_mismatch():
    M = sp.coo_matrix(np.eye(3))
    M.row = M.row[:2]
    return M, None


def case_dia_offsets_too_short():
    M = sp.dia_matrix((np.ones((3, 3)), [0, 1, -1]), shape=(3, 3))
    M.offsets = np.array([0], dtype=np.int32)
    return M, None


def case_dia_repeated_offsets():
    data = np.arange(1.0, 10.0).reshape(3, 3)
    M = sp.dia_matrix((data, [0, 1, -1]), shape=(3, 3))
    M.offsets = np.array([0, 0, 1], dtype=np.int32)
    dense = np.zeros((3, 3))
    for d, k in zip(data, M.offsets):
        for j in range(3):
            if 0 <= j - k < 3:
                dense[j - k, j] += d[j]
    return M, dense


def case_lil_more_values_than_columns():
    M = sp.lil_matrix(np.eye(3))
    M.data[0] = [1.0] * 1000
    return M, None


def case_lil_column_out_of_range():
    M = sp.lil_matrix(np.eye(3))
    M.rows[0] = [0, 7]
    M.data[0] = [1.0, 2.0]
    return M, None


def case_lil_too_few_rows():
    M = sp.lil_matrix(np.eye(3))
    M.rows = M.rows[:2]
    return M, None


def case_bsr_block_index_too_large():
    M = sp.bsr_matrix(np.eye(4), blocksize=(2, 2))
    M.indices[0] = 7
    return M, None


def case_bsr_data_too_short():
    M = sp.bsr_matrix(np.eye(4), blocksize=(2, 2))
    M.data = M.data[:1]
    return M, None


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items())
         if name.startswith("case_")}
ENTRIES = ("to_csr", "P_in", "P_out", "X")


def _call(entry, M):
    """Run one kernel entry point on M; a canonical CSR comes back."""
    n, p = M.shape
    if entry == "to_csr":
        return K.to_csr(M)
    if entry == "P_in":  # M's columns [p-1, 0] ahead of two dense columns
        return K.propagate_features_sparse(M, [p - 1, 0], 0, np.ones((n, 4)))
    if entry == "P_out":  # one column of a valid input ahead of M[:, 1:]
        A = sp.csr_matrix(np.arange(1.0, n + 1).reshape(n, 1))
        return K.propagate_features_sparse(A, [0], 0, M)
    Xp, _, perm = K.shuffle_rows(M, None, 0)
    return Xp[np.argsort(perm)]


def _expected_dense(entry, dense):
    n, p = dense.shape
    if entry == "P_in":
        return np.hstack([dense[:, [p - 1, 0]], np.ones((n, 2))])
    if entry == "P_out":
        return np.hstack([np.arange(1.0, n + 1).reshape(n, 1), dense[:, 1:]])
    return dense


def _report(case, entry):
    M, _ = CASES[case]()
    try:
        out = _call(entry, M)
    except Exception as exc:  # reported to the parent, which judges it
        return {"raised": type(exc).__name__, "message": str(exc)}
    indptr, indices = np.asarray(out.indptr), np.asarray(out.indices)
    if max(out.shape) > 50 or indices.shape[0] > 500:
        return {"returned": "a matrix of shape %r with %d entries"
                % (out.shape, indices.shape[0])}
    return {"format": out.format, "shape": list(out.shape),
            "indptr": indptr.tolist(), "indices": indices.tolist(),
            "dense": out.toarray().tolist(),
            "flag": bool(out.has_canonical_format)}


def _child(pairs):
    """Child process: one JSON line before and after every (case, entry),
    so that the parent knows which one crashed."""
    for case, entry in pairs:
        print(json.dumps({"start": [case, entry]}), flush=True)
        print(json.dumps({"done": [case, entry],
                          "result": _report(case, entry)}), flush=True)


def _text(b):
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def _run_children(pairs):
    """Run the pairs in child processes; a pair that kills its process is
    recorded as a crash and the rest run in a fresh process."""
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(mlcore.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    results, todo = {}, list(pairs)
    while todo:
        try:
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), json.dumps(todo)],
                capture_output=True, text=True, env=env, timeout=300)
        except subprocess.TimeoutExpired as exc:
            # A hang (a corrupted heap can deadlock malloc): blame the case
            # in progress. The limit only catches hangs; the run takes
            # seconds.
            proc = subprocess.CompletedProcess(
                exc.cmd, "hung", _text(exc.stdout), _text(exc.stderr))
        current = last = None
        for line in proc.stdout.splitlines():
            msg = json.loads(line)
            if "start" in msg:
                current = tuple(msg["start"])
            else:
                results[last := tuple(msg["done"])] = msg["result"]
                current = None
        if proc.returncode == 0 and current is None:
            break
        if current is None and proc.returncode == "hung":
            current = next(p for p in map(tuple, todo) if p not in results)
        crash = {"crashed": proc.returncode, "stderr": proc.stderr[-2000:]}
        if current is None:
            # Died after the last case, e.g. heap corruption found at exit:
            # blame the last case that ran (memory errors show up late).
            results[last] = dict(crash, after=True)
            break
        results[current] = crash
        todo = todo[todo.index(list(current)) + 1:]
    return results


@pytest.fixture(scope="module")
def outcomes():
    return _run_children([[c, e] for c in CASES for e in ENTRIES])


def _is_canonical(r):
    """Independent check of canonical CSR from the reported arrays."""
    indptr, indices = np.array(r["indptr"]), np.array(r["indices"])
    n, q = r["shape"]
    if r["format"] != "csr" or len(indptr) != n + 1 or indptr[0] != 0 \
            or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        return False
    return all(np.all(np.diff(indices[indptr[i]:indptr[i + 1]]) > 0)
               and np.all((indices[indptr[i]:indptr[i + 1]] >= 0)
                          & (indices[indptr[i]:indptr[i + 1]] < q))
               for i in range(n))


ARG_NAMES = {"to_csr": "M", "P_in": "P_in", "P_out": "P_out", "X": "X"}


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_sparse_input(outcomes, case, entry):
    r = outcomes[(case, entry)]
    assert "crashed" not in r, "%s/%s killed the interpreter (status %s):\n%s" \
        % (case, entry, r.get("crashed"), r.get("stderr"))
    _, dense = CASES[case]()
    if dense is None:
        # Refused with a clear error that names the argument.
        assert r.get("raised") in ("ValueError", "TypeError"), r
        assert r["message"].startswith(ARG_NAMES[entry] + " ("), r["message"]
    else:
        # Valid but mislabelled: a canonical result with the right values.
        assert "raised" not in r, r
        assert "returned" not in r, r
        assert _is_canonical(r), r
        assert r["flag"]
        np.testing.assert_array_equal(np.array(r["dense"]),
                                      _expected_dense(entry, dense))


def test_corrupt_sparse_input_leaves_it_untouched():
    # Refusing or canonicalizing never sorts, sums or prunes the caller's
    # arrays (these cases do not crash, so they run in this process).
    for case in ("csr_stale_canonical_flag", "csr_forced_canonical_flag",
                 "csr_slack_past_indptr", "csr_index_too_large"):
        M, _ = CASES[case]()
        before = [a.copy() for a in (M.data, M.indices, M.indptr)]
        try:
            K.to_csr(M)
        except ValueError:
            pass
        for a, b in zip((M.data, M.indices, M.indptr), before):
            np.testing.assert_array_equal(a, b)


###############################################################################
# The structure check itself, against a plain numpy classification

def _classify(indptr, indices, n_minor):
    """Reference for _kernels.check_compressed, written with numpy."""
    indptr, indices = np.asarray(indptr, np.int64), np.asarray(indices,
                                                               np.int64)
    if indptr[0] != 0:
        return _kernels.CSR_BAD_START
    for i in range(len(indptr) - 1):
        s, e = indptr[i], indptr[i + 1]
        if e < s:
            return _kernels.CSR_DECREASING
        if e > len(indices):
            return _kernels.CSR_PAST_END
        if np.any((indices[s:e] < 0) | (indices[s:e] >= n_minor)):
            return _kernels.CSR_OUT_OF_RANGE
    sorted_rows = all(np.all(np.diff(indices[indptr[i]:indptr[i + 1]]) > 0)
                      for i in range(len(indptr) - 1))
    return _kernels.CSR_CANONICAL if sorted_rows else _kernels.CSR_UNSORTED


@given(indptr=st.lists(st.integers(-2, 12), min_size=1, max_size=8),
       indices=st.lists(st.integers(-3, 6), max_size=12),
       n_minor=st.integers(0, 6),
       dtypes=st.sampled_from([(np.int32, np.int32), (np.int64, np.int64),
                               (np.int32, np.int64), (np.int64, np.int32)]))
def test_check_compressed_matches_numpy(indptr, indices, n_minor, dtypes):
    indptr = np.array(indptr, dtype=dtypes[0])
    indices = np.array(indices, dtype=dtypes[1])
    status, pos, value = _kernels.check_compressed(indptr, indices, n_minor)
    assert status == _classify(indptr, indices, n_minor)
    if status >= 0:
        assert (pos, value) == (-1, indptr[-1])
    elif status == _kernels.CSR_OUT_OF_RANGE:
        assert indices[pos] == value and not 0 <= value < n_minor
    elif status == _kernels.CSR_BAD_START:
        assert value == indptr[0]
    else:
        assert indptr[pos + 1] == value


###############################################################################
# Dense entry points

LOSSY = [
    (np.complex128, np.float64, "imaginary parts would be dropped"),
    (np.complex64, np.float32, "imaginary parts would be dropped"),
    (np.float64, np.int64, "truncated to integers"),
    (np.float32, np.int32, "truncated to integers"),
    (np.float64, np.bool_, "truncated to integers"),
    (np.int64, np.int16, "integers could wrap around"),
    (np.int8, np.uint8, "integers could wrap around"),
    (object, np.float64, "without losing information"),
]


@pytest.mark.parametrize("src, dst, why", LOSSY)
def test_propagate_features_refuses_lossy_casts(src, dst, why):
    P_in = (np.arange(12).reshape(4, 3) * 1.5 + 0.5j).astype(src) \
        if np.dtype(src).kind == "c" else \
        (np.arange(12).reshape(4, 3) - 6.5).astype(src)
    P_out = np.zeros((3, 3), dtype=dst)
    with pytest.raises(TypeError, match=why):
        K.propagate_features(P_in, [2, 0], 1, P_out)
    assert not P_out.any()  # nothing written


@pytest.mark.parametrize("src, dst", [
    (np.float64, np.float32), (np.float32, np.float64), (np.int64, np.float32),
    (np.bool_, np.float64), (np.float64, np.complex128),
    (np.int16, np.int64), (np.uint8, np.int16), (np.float16, np.float64)])
def test_propagate_features_keeps_allowed_casts(src, dst):
    P_in = np.arange(12).reshape(4, 3).astype(src)
    P_out = np.full((3, 3), 7, dtype=dst)
    expected = P_out.copy()
    expected[:, :2] = P_in[1:, [2, 0]]
    K.propagate_features(P_in, [2, 0], 1, P_out)
    np.testing.assert_array_equal(P_out, expected)
    assert P_out.dtype == np.dtype(dst)


def test_check_cast_is_the_rule_of_propagate_features():
    # Callers that allocate P_out can check before any work is done.
    for src, dst, why in LOSSY:
        with pytest.raises(TypeError, match=why):
            K.check_cast(src, dst, "X", "the prediction array")
    K.check_cast(np.float64, np.float32)
    K.check_cast(np.int32, np.float64)


def test_propagate_features_0d_output_is_a_clear_error():
    with pytest.raises(ValueError, match="P_out must be 2-D"):
        K.propagate_features(np.ones((3, 2)), [0], 0, np.array(1.0))
    with pytest.raises(ValueError, match="P_out must"):
        K.propagate_features_sparse(sp.csr_matrix(np.ones((3, 2))), [0], 0,
                                    np.array(1.0))


def test_rebase_0d_targets_is_a_clear_error():
    for targets in (np.array(3.0), [1, 2, 3], 5):
        with pytest.raises(TypeError, match="targets must be an array"):
            K.rebase(targets, 0)


def test_sparse_propagation_refuses_non_numeric_output():
    A = sp.csr_matrix(np.eye(3))
    for dtype in (object, "U2", "M8[s]"):
        with pytest.raises(TypeError, match="P_out has dtype"):
            K.propagate_features_sparse(A, [0], 0, np.zeros((3, 2), dtype))


def test_sparse_propagation_float16_output():
    # scipy.sparse has no float16: the result is float32 (float64 when the
    # input is float64), exact since float16 values fit both.
    A = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.5], [3.0, 0.0]]))
    B = np.array([[0.5, 0], [0, 0.25], [1.5, 2]], dtype=np.float16)
    for a_dtype, want in ((np.float64, np.float64), (np.float32, np.float32),
                          (np.int8, np.float32), (np.bool_, np.float32)):
        got = K.propagate_features_sparse(A.astype(a_dtype), [1], 0, B)
        assert got.dtype == want
        expected = np.hstack([A.astype(a_dtype).toarray()[:, [1]],
                              B[:, 1:]]).astype(want)
        np.testing.assert_array_equal(got.toarray(), expected)


def test_sparse_input_must_be_2d():
    v = sp.csr_array(np.array([1.0, 0.0, 2.0]))
    if v.ndim != 1:
        pytest.skip("this scipy has no 1-D sparse arrays")
    with pytest.raises(ValueError, match="M must be 2-D"):
        K.to_csr(v)


###############################################################################
# End to end: a stacked ensemble given a corrupt sparse X

_ENSEMBLE_SCRIPT = r"""
import numpy as np, scipy.sparse as sp
from mlcore.ensemble import SuperLearner
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
X = sp.csr_matrix((np.ones(40), np.r_[np.zeros(39, int), BAD],
                   np.arange(41)), shape=(40, 3))
sl = SuperLearner(folds=2).add([DummyRegressor()],
                               propagate_features=[0, 1, 2])
sl.add_meta(LinearRegression())
try:
    sl.fit(X, np.arange(40.0))
except ValueError as exc:
    print("ValueError:", exc)
else:
    print("fitted")
"""


@pytest.mark.parametrize("bad", [10 ** 7, -1])
def test_superlearner_with_corrupt_sparse_x(bad):
    root = os.path.dirname(os.path.dirname(os.path.abspath(mlcore.__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run(
        [sys.executable, "-c", _ENSEMBLE_SCRIPT.replace("BAD", str(bad))],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ValueError:"), proc.stdout
    assert "is not a valid column index" in proc.stdout


###############################################################################
# The fuzz harness (tools/fuzz_kernels.py) keeps working

def test_fuzz_harness_random_inputs():
    # The harness without atheris: random inputs through every entry point,
    # each checked against numpy/scipy (CI runs it coverage-guided).
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    harness = os.path.join(root, "tools", "fuzz_kernels.py")
    if not os.path.exists(harness):
        pytest.skip("tools/ not in this copy")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(os.path.abspath(mlcore.__file__))))
    proc = subprocess.run([sys.executable, harness, "--random", "--runs",
                           "400", "--seed", "3"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "400 random runs, no finding" in proc.stdout
    # Every target ran and checked some inputs against the reference.
    stats = dict(line.split(None, 1) for line in proc.stdout.splitlines()
                 if line.startswith("  fuzz_"))
    for name in ("take_rows", "shuffle_rows", "propagate_features",
                 "propagate_features_sparse", "to_csr", "rebase",
                 "check_random_state", "check_compressed"):
        assert "checked" in stats["fuzz_" + name], stats


###############################################################################
# The bounds-checked build (MLCORE_DEBUG_KERNELS=1)

@pytest.mark.skipif(not getattr(_kernels, "BOUNDS_CHECKED", False),
                    reason="normal build (bounds checks compiled out)")
def test_debug_build_catches_an_unchecked_call():
    # Bypass the wrappers: a column index past A's width in a raw loop.
    indptr = np.array([0, 1], dtype=np.int32)
    indices = np.array([5], dtype=np.int32)
    mult = np.zeros(3, dtype=np.intp)
    with pytest.raises(IndexError):
        _kernels._count_a_rows(indptr, indices, 0, mult,
                               np.zeros(1, dtype=np.int32))
    # Negative indices are not wrapped around either.
    with pytest.raises(IndexError):
        _kernels._count_a_rows(indptr, np.array([-1], dtype=np.int32), 0,
                               mult, np.zeros(1, dtype=np.int32))


if __name__ == "__main__":  # child process of _run_children
    _child(json.loads(sys.argv[1]))


_FORMATS_SCRIPT = r"""
import numpy as np, scipy.sparse as sp
from mlcore.ensemble import SuperLearner
from sklearn.linear_model import LinearRegression
n = 40
idx = np.r_[np.zeros(n - 1, int), BAD]
if FMT == "csc":
    X = sp.csc_matrix((np.ones(n), np.arange(n), np.r_[0, n, n, n]),
                      shape=(n, 3))
    X.indices[-1] = BAD
elif FMT == "coo":
    X = sp.coo_matrix((np.ones(n), (np.arange(n), np.zeros(n, int))),
                      shape=(n, 3))
    X.row[-1] = BAD
else:
    X = sp.csr_matrix((np.ones(n), idx, np.arange(n + 1)), shape=(n, 3))
sl = SuperLearner(folds=2).add([LinearRegression()])
sl.add_meta(LinearRegression())
try:
    sl.fit(X, np.arange(float(n)))
except ValueError as exc:
    print("ValueError:", exc)
else:
    print("fitted")
"""


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_ensemble_checks_a_corrupt_sparse_x_before_any_learner(fmt):
    # Without propagated features no kernel runs on X: the ensemble's own
    # CSR conversion and the learners would index the corrupt matrix.
    root = os.path.dirname(os.path.dirname(os.path.abspath(mlcore.__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    script = _FORMATS_SCRIPT.replace("FMT", repr(fmt)).replace("BAD", "10**7")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.startswith("ValueError:"), proc.stdout


@pytest.mark.parametrize("backend", ["sequential", "loky"])
def test_processors_refuse_a_corrupt_sparse_x(backend):
    from mlcore import ParallelProcessing
    X = sp.csr_matrix((np.ones(4), np.array([0, 1, 2, 10 ** 6]),
                       np.arange(5)), shape=(4, 3))
    with ParallelProcessing(backend, n_jobs=1) as engine:
        with pytest.raises(ValueError, match="not a valid column index"):
            engine.map([], "fit", X, np.arange(4.0))


def test_ensemble_refuses_a_bsr_with_too_little_data_before_converting_it():
    from sklearn.linear_model import LinearRegression
    from mlcore.ensemble import SuperLearner
    X = sp.random(40, 6, density=0.4, format="csr",
                  random_state=0).tobsr(blocksize=(2, 2))
    X.data = X.data[:2]            # 2 blocks of data for many block indices
    y = np.arange(40.0)
    ens = SuperLearner(folds=2, backend="sequential", n_jobs=1)
    ens.add([LinearRegression()], propagate_features=[0, 1])
    with pytest.raises(ValueError, match="data has 2 entries"):
        ens.fit(X, y)
    good = sp.random(40, 6, density=0.4, format="csr", random_state=1)
    ens.fit(good, y)
    with pytest.raises(ValueError, match="data has 2 entries"):
        ens.predict(X)
