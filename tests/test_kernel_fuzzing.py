"""The kernels (mlcore.kernels) under bad input and stress.

* Bad input: each case gets a clear exception of the documented type or
  correct handling; a crash or a wrong result fails.
* Hypothesis comparisons against numpy/scipy references
  (``test_kernel_fuzz_*``) and 16 threads calling the kernels at once
  (``test_kernel_concurrent_*``). ``HYPOTHESIS_PROFILE=stress`` (registered
  in conftest.py) raises every fuzz test to 10000 examples and, like
  ``MLCORE_STRESS=1``, runs many more concurrency rounds.
* Regression tests for kernel bugs these tests found.
"""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from mlcore import kernels

from tests._tasks import _arr, _bits_equal

pytestmark = [
    # NaN and inf are fed on purpose; numpy's notices about them are noise.
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
]

STRESS = (os.environ.get("HYPOTHESIS_PROFILE") == "stress"
          or os.environ.get("MLCORE_STRESS", "") not in ("", "0"))
CONCURRENT_ROUNDS = 400 if STRESS else 25
HAS_NOTES = sys.version_info >= (3, 11)


###############################################################################
# Bad input

# -- kernels -------------------------------------------------------------------

X5 = _arr(5, 3)
_I32_BEYOND = np.array([0, 2 ** 31 + 5], dtype=np.int64)

KERNEL_CASES = {
    # take_rows
    "take-index-too-large": (IndexError, lambda: kernels.take_rows(X5, [5])),
    "take-index-huge": (IndexError, lambda: kernels.take_rows(X5, [2 ** 62])),
    "take-index-too-negative": (IndexError,
                                lambda: kernels.take_rows(X5, [-6])),
    "take-index-int64-beyond-int32": (
        IndexError, lambda: kernels.take_rows(X5, _I32_BEYOND)),
    "take-index-int64-min": (
        IndexError, lambda: kernels.take_rows(X5, np.array(
            [np.iinfo(np.int64).min]))),
    "take-index-uint64-max": (IndexError, lambda: kernels.take_rows(
        X5, np.array([2 ** 64 - 1], dtype=np.uint64))),
    "take-index-float": (TypeError, lambda: kernels.take_rows(X5, [0.0])),
    "take-index-bool-mask": (TypeError, lambda: kernels.take_rows(
        X5, np.ones(5, bool))),
    "take-index-2d": (ValueError, lambda: kernels.take_rows(X5, [[0]])),
    "take-index-object": (TypeError, lambda: kernels.take_rows(
        X5, np.array([0, None], dtype=object))),
    "take-index-sparse": (TypeError, lambda: kernels.take_rows(
        X5, sp.csr_matrix([[0, 1]]))),
    "take-X-0d": (ValueError, lambda: kernels.take_rows(np.float64(1), [0])),
    "take-X-3d": (ValueError, lambda: kernels.take_rows(np.zeros((2, 2, 2)),
                                                        [0])),
    "take-X-sparse": (TypeError, lambda: kernels.take_rows(
        sp.csr_matrix(X5), [0])),
    "take-out-wrong-shape": (ValueError, lambda: kernels.take_rows(
        X5, [0, 1], out=np.empty((3, 3)))),
    "take-out-wrong-dtype": (TypeError, lambda: kernels.take_rows(
        X5, [0], out=np.empty((1, 3), np.float32))),
    "take-out-read-only": (ValueError, lambda: kernels.take_rows(
        X5, [0], out=_readonly(np.empty((1, 3))))),
    "take-out-overlaps-X": (ValueError, lambda: kernels.take_rows(
        X5, [0, 1], out=X5[3:])),
    "take-out-not-array": (TypeError, lambda: kernels.take_rows(
        X5, [0], out=[[0, 0, 0]])),
    # shuffle_rows
    "shuffle-length-mismatch": (ValueError, lambda: kernels.shuffle_rows(
        X5, np.zeros(4), 0)),
    "shuffle-bad-random_state": (ValueError, lambda: kernels.shuffle_rows(
        X5, None, "seed")),
    "shuffle-bool-random_state": (ValueError, lambda: kernels.shuffle_rows(
        X5, None, True)),
    "shuffle-X-3d": (ValueError, lambda: kernels.shuffle_rows(
        np.zeros((2, 2, 2)), None, 0)),
    # propagate_features
    "prop-column-out-of-range": (IndexError, lambda: kernels.propagate_features(
        X5, [3], 0, np.zeros((5, 2)))),
    "prop-column-huge": (IndexError, lambda: kernels.propagate_features(
        X5, np.array([2 ** 40]), 0, np.zeros((5, 2)))),
    "prop-column-negative": (IndexError, lambda: kernels.propagate_features(
        X5, [-4], 0, np.zeros((5, 2)))),
    "prop-offset-negative": (ValueError, lambda: kernels.propagate_features(
        X5, [0], -1, np.zeros((5, 2)))),
    "prop-offset-too-large": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 1, np.zeros((5, 2)))),
    "prop-offset-huge": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 2 ** 62, np.zeros((1, 2)))),
    "prop-offset-float": (TypeError, lambda: kernels.propagate_features(
        X5, [0], 0.0, np.zeros((5, 2)))),
    "prop-offset-bool": (TypeError, lambda: kernels.propagate_features(
        X5, [0], False, np.zeros((5, 2)))),
    "prop-too-many-columns": (ValueError, lambda: kernels.propagate_features(
        X5, [0, 1, 2], 0, np.zeros((5, 2)))),
    "prop-P_in-1d": (ValueError, lambda: kernels.propagate_features(
        np.zeros(5), [0], 0, np.zeros((5, 2)))),
    "prop-P_out-1d": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 0, np.zeros(5))),
    "prop-P_out-read-only": (ValueError, lambda: kernels.propagate_features(
        X5, [0], 0, _readonly(np.zeros((5, 2))))),
    "prop-P_out-is-P_in": (ValueError, lambda: _propagate_into_itself()),
    "prop-P_out-overlaps": (ValueError, lambda: _overlapping_propagation()),
    "prop-sparse-input": (TypeError, lambda: kernels.propagate_features(
        sp.csr_matrix(X5), [0], 0, np.zeros((5, 2)))),
    "prop-P_out-list": (TypeError, lambda: kernels.propagate_features(
        X5, [0], 0, [[0.0, 0.0]] * 5)),
    # propagate_features_sparse
    "sparse-prop-dense-input": (TypeError,
                                lambda: kernels.propagate_features_sparse(
                                    X5, [0], 0, np.zeros((5, 2)))),
    "sparse-prop-column-out-of-range": (
        IndexError, lambda: kernels.propagate_features_sparse(
            sp.csr_matrix(X5), [7], 0, np.zeros((5, 2)))),
    "sparse-prop-offset-too-large": (
        ValueError, lambda: kernels.propagate_features_sparse(
            sp.csr_matrix(X5), [0], 3, np.zeros((3, 2)))),
    "sparse-prop-too-many-columns": (
        ValueError, lambda: kernels.propagate_features_sparse(
            sp.csr_matrix(X5), [0, 1, 2], 0, np.zeros((5, 2)))),
    # to_csr
    "to_csr-dense": (TypeError, lambda: kernels.to_csr(X5)),
    "to_csr-list": (TypeError, lambda: kernels.to_csr([[1, 0]])),
    # rebase
    "rebase-too-many-rows": (ValueError, lambda: kernels.rebase(
        np.arange(5), 6)),
    "rebase-negative-rows": (ValueError, lambda: kernels.rebase(
        np.arange(5), -1)),
    "rebase-offset-past-end": (ValueError, lambda: kernels.rebase(
        np.arange(5), 3, offset=3)),
    "rebase-negative-offset": (ValueError, lambda: kernels.rebase(
        np.arange(5), 3, offset=-1)),
    "rebase-float-rows": (TypeError, lambda: kernels.rebase(
        np.arange(5), 2.0)),
    "rebase-bool-rows": (TypeError, lambda: kernels.rebase(
        np.arange(5), True)),
}


def _readonly(a):
    a.setflags(write=False)
    return a


def _propagate_into_itself():
    A = _arr(5, 3)
    return kernels.propagate_features(A, [2], 0, A)


def _overlapping_propagation():
    buf = np.zeros((5, 6))
    return kernels.propagate_features(buf[:, :3], [0], 0, buf[:, 2:])


@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_bad_input_kernel_raises(case):
    exc, fn = KERNEL_CASES[case]
    snapshot = X5.copy()
    with pytest.raises(exc):
        fn()
    np.testing.assert_array_equal(X5, snapshot)  # inputs never modified


def _nan_payload(dtype):
    """A NaN with an unusual payload, and a negative one: a copy must keep
    the bits, not just produce 'some NaN'."""
    if np.dtype(dtype).itemsize == 8:
        return np.array([0x7FF8DEADBEEF0001, 0xFFF0000000000001],
                        np.uint64).view(np.float64).astype(dtype)
    return np.array([0x7FC0BEEF, 0xFF800001], np.uint32).view(
        np.float32).astype(dtype)


def _special_values(dtype):
    v = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, 1.0, -1.0],
                 dtype=np.float64).astype(dtype)
    return np.concatenate([v, _nan_payload(dtype)])


def _kernel_ok_cases():
    cases = {}
    for dt in ("<f8", "<f4", ">f8", ">f4"):
        v = _special_values(dt)
        X = np.stack([v, v[::-1], np.roll(v, 3)], axis=1)  # (10, 3)
        idx = np.array([9, 0, -1, 3, 3, 5])
        for order in ("C", "F"):
            Xo = np.asarray(X, order=order)
            cases["take-nonfinite-%s-%s" % (dt, order)] = (
                lambda Xo=Xo, idx=idx: kernels.take_rows(Xo, idx),
                lambda Xo=Xo, idx=idx: Xo[idx])
            cases["take-1d-nonfinite-%s-%s" % (dt, order)] = (
                lambda Xo=Xo, idx=idx: kernels.take_rows(Xo[:, 1], idx),
                lambda Xo=Xo, idx=idx: Xo[:, 1][idx])
        for out_dt in ("<f8", "<f4"):
            def run(X=X, out_dt=out_dt):
                P = np.full((6, 3), 7.0, dtype=out_dt)
                return kernels.propagate_features(X, [2, 0], 4, P)

            def ref(X=X, out_dt=out_dt):
                P = np.full((6, 3), 7.0, dtype=out_dt)
                P[:, :2] = X[4:, [2, 0]]
                return P
            cases["prop-nonfinite-%s-to-%s" % (dt, out_dt)] = (run, ref)
    big = np.arange(20.0).reshape(10, 2)
    for name, idx in {
            "int8": np.array([1, -1], np.int8),
            "uint8": np.array([9, 0], np.uint8),
            "int16": np.array([3], np.int16),
            "uint64": np.array([2, 9], np.uint64),
            "int64-small-values": np.array([0, 9, -10], np.int64),
            "int32": np.array([4, -3], np.int32),
            ">i8": np.array([1, 2], ">i8"),
            "list": [1, 2, -1],
            "empty-list": [],
            "non-contiguous": (np.arange(20) // 2)[::4]}.items():
        cases["take-index-%s" % name] = (
            lambda idx=idx: kernels.take_rows(big, idx),
            lambda idx=idx: big[np.asarray(idx, dtype=np.int64)])
    obj = np.array([["a", 1], [None, 2.5], [3, "z"]], dtype=object)
    cases["take-object-dtype"] = (lambda: kernels.take_rows(obj, [2, 0]),
                                  lambda: obj[[2, 0]])
    cases["take-0-rows"] = (lambda: kernels.take_rows(np.zeros((0, 4)), []),
                            lambda: np.zeros((0, 4)))
    cases["take-0-columns"] = (lambda: kernels.take_rows(np.zeros((3, 0)),
                                                         [2, 1]),
                               lambda: np.zeros((2, 0)))
    cases["shuffle-0-rows"] = (
        lambda: kernels.shuffle_rows(np.zeros((0, 2)), np.zeros(0), 0)[0],
        lambda: np.zeros((0, 2)))
    cases["prop-0-rows"] = (
        lambda: kernels.propagate_features(np.zeros((0, 3)), [1], 0,
                                           np.zeros((0, 2))),
        lambda: np.zeros((0, 2)))
    cases["prop-int-into-float"] = (
        lambda: kernels.propagate_features(np.arange(6).reshape(3, 2), [1], 1,
                                           np.zeros((2, 2), np.float32)),
        lambda: np.array([[3, 0], [5, 0]], np.float32))
    # An axis longer than int32 (a broadcast view: no memory used) with
    # int64 indices beyond the int32 range, on the compiled path.
    huge = np.broadcast_to(np.arange(3.0), (2 ** 31 + 10, 3))
    far = np.array([2 ** 31 + 9, 2 ** 31, 1, -1], dtype=np.int64)
    cases["take-int64-index-beyond-int32-on-huge-axis"] = (
        lambda: kernels.take_rows(huge, far),
        lambda: np.tile(np.arange(3.0), (4, 1)))
    huge1 = np.broadcast_to(np.float32(7), (2 ** 32 + 3,))
    cases["take-1d-uint64-index-beyond-uint32"] = (
        lambda: kernels.take_rows(huge1, np.array([2 ** 32 + 2], np.uint64)),
        lambda: np.array([7], np.float32))
    cases["rebase-0-rows"] = (lambda: kernels.rebase(np.arange(5.0), 0),
                              lambda: np.arange(5.0)[5:])
    return cases


KERNEL_OK = _kernel_ok_cases()


@pytest.mark.parametrize("case", sorted(KERNEL_OK))
def test_bad_input_kernel_handles(case):
    run, ref = KERNEL_OK[case]
    got, want = run(), ref()
    if got.dtype == object:
        assert got.shape == want.shape and (got == want).all()
    else:
        assert _bits_equal(got, want), (got, want)


def _messy_coo(dtype=np.float64, sparray=False):
    """Unsorted entries with duplicates (some cancelling to an explicit
    zero), NaN and inf."""
    row = np.array([3, 0, 3, 1, 0, 3, 2, 0, 2])
    col = np.array([2, 1, 2, 0, 1, 0, 4, 4, 4])
    val = np.array([1.0, 2.0, 4.0, np.nan, -2.0, np.inf, 1.5, -0.0, -1.5])
    cls = sp.coo_array if sparray else sp.coo_matrix
    return cls((val.astype(dtype), (row, col)), shape=(4, 5))


def _unsorted_csr(sparray=False, index_dtype=np.int32):
    indptr = np.array([0, 3, 3, 6, 7], dtype=index_dtype)
    indices = np.array([4, 0, 4, 2, 1, 2, 0], dtype=index_dtype)
    data = np.array([1.0, 2.0, 3.0, np.nan, -1.0, 0.5, np.inf])
    cls = sp.csr_array if sparray else sp.csr_matrix
    M = cls((data, indices, indptr), shape=(4, 5))
    assert not M.has_canonical_format
    return M


def _unsorted_csc():
    indptr = np.array([0, 2, 2, 4, 5, 7])
    indices = np.array([3, 0, 1, 1, 2, 3, 0])
    data = np.array([1.0, np.nan, 2.0, 3.0, -0.0, np.inf, 4.0])
    M = sp.csc_matrix((data, indices, indptr), shape=(4, 5))
    assert not M.has_canonical_format
    return M


def _scipy_canonical(M):
    R = M.tocsr(copy=True)
    R.sum_duplicates()
    return R


def _same_csr(got, want):
    assert got.format == "csr" and got.shape == want.shape
    assert got.dtype == want.dtype
    assert _is_canonical(got)
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)  # NaN == NaN here


def _is_canonical(M):
    indptr, indices = np.asarray(M.indptr), np.asarray(M.indices)
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) \
            or indptr[-1] != len(indices) or len(M.data) != len(indices):
        return False
    for r in range(M.shape[0]):
        seg = indices[indptr[r]:indptr[r + 1]]
        if np.any(np.diff(seg) <= 0) or np.any(seg < 0) \
                or np.any(seg >= M.shape[1]):
            return False
    return True


SPARSE_INPUTS = {
    "coo-duplicates": lambda: _messy_coo(),
    "coo-duplicates-float32": lambda: _messy_coo(np.float32),
    "coo_array-duplicates": lambda: _messy_coo(sparray=True),
    "csr-unsorted-duplicates": lambda: _unsorted_csr(),
    "csr_array-unsorted": lambda: _unsorted_csr(sparray=True),
    "csr-unsorted-int64-indices": lambda: _unsorted_csr(
        index_dtype=np.int64),
    "csc-from-coo": lambda: _messy_coo().tocsc(),
    "csc-unsorted": lambda: _unsorted_csc(),
    "lil": lambda: _messy_coo().tolil(),
    "dok": lambda: _messy_coo().todok(),
    "bsr": lambda: _messy_coo().tobsr(),
    "dia": lambda: _messy_coo().todia(),
    "empty-0x0": lambda: sp.csr_matrix((0, 0)),
    "empty-nnz": lambda: sp.coo_matrix((4, 5)),
}


@pytest.mark.parametrize("case", sorted(SPARSE_INPUTS))
def test_bad_input_sparse_to_csr(case):
    M = SPARSE_INPUTS[case]()
    before = M.copy()
    got = kernels.to_csr(M)
    _same_csr(got, _scipy_canonical(M))
    assert sp.issparse(got)
    assert isinstance(got, sp.sparray) == isinstance(M, sp.sparray)
    # input untouched (to_csr never sorts or sums the caller's matrix)
    np.testing.assert_array_equal(before.toarray(), M.toarray())
    if M.format == "csr":
        np.testing.assert_array_equal(before.indices, M.indices)


@pytest.mark.parametrize("case", sorted(k for k in SPARSE_INPUTS
                                        if not k.startswith("empty-0x0")))
def test_bad_input_sparse_propagation(case):
    M = SPARSE_INPUTS[case]()
    n_in, p = M.shape
    for cols, offset, P_out in (([4, 0, 2], 1, np.zeros((3, 5))),
                                ([1, 1], 0, sp.coo_matrix(np.eye(4, 3))),
                                ([-1], 2, np.ones((2, 1), np.float32)),
                                ([], 0, np.zeros((4, 2)))):
        got = kernels.propagate_features_sparse(M, cols, offset, P_out)
        A = _scipy_canonical(M)
        n, k = P_out.shape[0], len(cols)
        left = A[offset:offset + n][:, np.asarray(cols, dtype=np.intp)]
        right = sp.csr_matrix(P_out)[:, k:]
        want = sp.hstack([left, right], format="csr",
                         dtype=np.result_type(M.dtype, P_out.dtype))
        want.sum_duplicates()
        _same_csr(got, want)



###############################################################################
# 3. Kernels under stress: hypothesis against the references

from hypothesis.extra import numpy as hnp  # noqa: E402

FLOAT_DTYPES = ("<f8", "<f4", ">f8", ">f4")
DATA_DTYPES = FLOAT_DTYPES + ("<f2", "<i8", "<i4", "|u1", "|b1")
INDEX_DTYPES = ("<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "|u1", ">i8", ">i4")


@st.composite
def dense(draw, ndims=(1, 2), dtypes=DATA_DTYPES, min_rows=0, max_rows=40,
          max_cols=9, rows=None, cols=None):
    """An array of any layout: C, Fortran, row- or column-strided, reversed,
    read-only; values include NaN (with payloads), inf, -0.0, subnormals."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    ndim = draw(st.sampled_from(ndims))
    n = rows if rows is not None else draw(st.integers(min_rows, max_rows))
    p = cols if cols is not None else draw(st.integers(0, max_cols))
    shape = (n,) if ndim == 1 else (n, p)
    native = dtype.newbyteorder("=")
    values = draw(hnp.arrays(native, shape, elements=hnp.from_dtype(native)
                             if native.kind != "f" else None))
    if native.kind == "f" and draw(st.booleans()):
        flat = values.reshape(-1)
        special = _special_values(native)
        for i in draw(st.lists(st.integers(0, max(flat.size - 1, 0)),
                               max_size=6)):
            if flat.size:
                flat[i] = special[draw(st.integers(0, special.size - 1))]
    values = values.astype(dtype)
    layout = draw(st.sampled_from(["C", "F", "rows", "reversed", "cols"]))
    if layout == "F":
        out = np.asfortranarray(values)
    elif layout == "rows":
        base = np.zeros((2 * n,) + shape[1:], dtype)
        out = base[::2]
        out[...] = values
    elif layout == "reversed":
        out = np.zeros(shape, dtype)[::-1]
        out[...] = values
    elif layout == "cols" and ndim == 2:
        base = np.zeros((n, 2 * p + 1), dtype)
        out = base[:, 1::2]
        out[...] = values
    else:
        out = np.ascontiguousarray(values)
    if draw(st.booleans()):
        out.setflags(write=False)
    assert _bits_equal(out, values)
    return out


@st.composite
def index_for(draw, n, max_len=50):
    dtype = np.dtype(draw(st.sampled_from(INDEX_DTYPES)))
    length = draw(st.integers(0, max_len)) if n else 0
    info = np.iinfo(dtype)
    lo, hi = max(-n, int(info.min)), min(n - 1, int(info.max))
    if lo > hi:
        length = 0
    vals = draw(st.lists(st.integers(lo, hi), min_size=length,
                         max_size=length)) if length else []
    return np.array(vals, dtype=dtype)


@given(data=st.data())
def test_kernel_fuzz_take_rows(data):
    X = data.draw(dense())
    snapshot = X.copy()
    idx = data.draw(index_for(X.shape[0]))
    want = X[idx.astype(np.int64)]
    if data.draw(st.booleans()):
        out = np.full(want.shape, 1, dtype=X.dtype,
                      order=data.draw(st.sampled_from("CF")))
        got = kernels.take_rows(X, idx, out=out)
        assert got is out
    else:
        got = kernels.take_rows(X, idx)
    assert _bits_equal(got, want)
    assert _bits_equal(X, snapshot)


@given(data=st.data())
def test_kernel_fuzz_take_rows_out_of_bounds(data):
    X = data.draw(dense(ndims=(2,), dtypes=FLOAT_DTYPES))
    n = X.shape[0]
    bad = data.draw(st.one_of(st.integers(n, 2 ** 63 - 1),
                              st.integers(-2 ** 63, -n - 1)))
    idx = data.draw(index_for(n, max_len=10)).astype(np.int64)
    pos = data.draw(st.integers(0, len(idx)))
    idx = np.insert(idx, pos, bad)
    out = np.full((len(idx),) + X.shape[1:], 3.0, X.dtype)
    with pytest.raises(IndexError):
        kernels.take_rows(X, idx, out=out)
    assert (out == 3.0).all()  # validated before any write


@given(data=st.data())
def test_kernel_fuzz_shuffle_rows(data):
    sparse = data.draw(st.booleans())
    if sparse:
        X = data.draw(sparse_matrix())
    else:
        X = data.draw(dense())
    n = X.shape[0]
    y = data.draw(st.one_of(st.none(), dense(rows=n)))
    seed = data.draw(st.integers(0, 2 ** 32 - 1))
    use_generator = data.draw(st.booleans())
    rs = np.random.default_rng(seed) if use_generator else seed
    ref_rs = (np.random.default_rng(seed) if use_generator
              else np.random.RandomState(seed))
    perm_ref = ref_rs.permutation(n)
    Xp, yp, perm = kernels.shuffle_rows(X, y, rs)
    np.testing.assert_array_equal(perm, perm_ref)
    if sparse:
        _same_csr(Xp, _scipy_canonical(X)[perm_ref])
    else:
        assert _bits_equal(Xp, X[perm_ref])
    if y is None:
        assert yp is None
    else:
        assert _bits_equal(yp, y[perm_ref])


@given(data=st.data())
def test_kernel_fuzz_propagate_features(data):
    P_in = data.draw(dense(ndims=(2,), dtypes=DATA_DTYPES, min_rows=0))
    n_in, p = P_in.shape
    n = data.draw(st.integers(0, n_in))
    offset = data.draw(st.integers(0, n_in - n))
    k = data.draw(st.integers(0, 6)) if p else 0
    cols = data.draw(st.lists(st.integers(-p, p - 1), min_size=k,
                              max_size=k)) if k else []
    cols = np.array(cols, dtype=data.draw(st.sampled_from(INDEX_DTYPES[:2])))
    q = k + data.draw(st.integers(0, 3))
    out_dtype = data.draw(st.sampled_from(("<f8", "<f4", ">f8")))
    P_out = data.draw(dense(ndims=(2,), dtypes=(out_dtype,), rows=n, cols=q))
    if not P_out.flags.writeable:
        P_out = P_out.copy(order="K")
    want = P_out.copy()
    want[:, :k] = P_in[offset:offset + n][:, cols.astype(np.int64)]
    got = kernels.propagate_features(P_in, cols, offset, P_out)
    assert got is P_out
    assert _bits_equal(P_out, want)


SPARSE_FORMATS = ("coo", "csr-raw", "csr", "csc", "lil", "dok", "bsr", "dia")


@st.composite
def sparse_matrix(draw, rows=None, cols=None, dtypes=("<f8", "<f4")):
    """A sparse matrix or array in any format, COO/CSR with duplicates and
    unsorted indices, values that sum exactly (so the order in which
    duplicates are summed does not matter) plus NaN and inf."""
    n = rows if rows is not None else draw(st.integers(0, 12))
    p = cols if cols is not None else draw(st.integers(0, 8))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    nnz = draw(st.integers(0, min(3 * n * p, 60))) if n and p else 0
    vals = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 0.5, -3.0, np.nan,
                            np.inf, -np.inf])
    r = np.array(draw(st.lists(st.integers(0, n - 1), min_size=nnz,
                               max_size=nnz)) if nnz else [], dtype=np.int64)
    c = np.array(draw(st.lists(st.integers(0, p - 1), min_size=nnz,
                               max_size=nnz)) if nnz else [], dtype=np.int64)
    v = np.array(draw(st.lists(vals, min_size=nnz, max_size=nnz))
                 if nnz else [], dtype=dtype)
    as_array = draw(st.booleans())
    fmt = draw(st.sampled_from(SPARSE_FORMATS))
    coo = (sp.coo_array if as_array else sp.coo_matrix)((v, (r, c)),
                                                        shape=(n, p))
    if fmt == "coo":
        return coo
    if fmt == "csr-raw":  # unsorted, duplicated, as built by hand
        order = np.lexsort((draw(st.permutations(range(nnz))) if nnz else [],
                            r)) if nnz else np.array([], dtype=np.int64)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, r + 1, 1)
        indptr = np.cumsum(indptr)
        idx_dtype = draw(st.sampled_from((np.int32, np.int64)))
        cls = sp.csr_array if as_array else sp.csr_matrix
        return cls((v[order], c[order].astype(idx_dtype),
                    indptr.astype(idx_dtype)), shape=(n, p))
    return coo.asformat(fmt)


def _snapshot_sparse(M):
    return {name: np.array(getattr(M, name), copy=True)
            for name in ("data", "indices", "indptr", "row", "col", "offsets")
            if isinstance(getattr(M, name, None), np.ndarray)
            and getattr(M, name).dtype != object}


@given(M=sparse_matrix())
def test_kernel_fuzz_to_csr(M):
    before = _snapshot_sparse(M)
    was_canonical = M.format == "csr" and M.has_canonical_format
    got = kernels.to_csr(M)
    _same_csr(got, _scipy_canonical(M))
    assert isinstance(got, sp.sparray) == isinstance(M, sp.sparray)
    if was_canonical:
        assert got is M
    for name, arr in before.items():
        assert _bits_equal(getattr(M, name), arr), name


@given(data=st.data())
def test_kernel_fuzz_propagate_features_sparse(data):
    P_in = data.draw(sparse_matrix())
    n_in, p = P_in.shape
    n = data.draw(st.integers(0, n_in))
    offset = data.draw(st.integers(0, n_in - n))
    k = data.draw(st.integers(0, 5)) if p else 0
    cols = np.array(data.draw(st.lists(st.integers(-p, p - 1), min_size=k,
                                       max_size=k)) if k else [],
                    dtype=np.int64)
    q = k + data.draw(st.integers(0, 3))
    if data.draw(st.booleans()):
        P_out = data.draw(sparse_matrix(rows=n, cols=q))
    else:
        P_out = data.draw(dense(ndims=(2,), dtypes=("<f8", "<f4"), rows=n,
                                cols=q))
    before_in, before_out = _snapshot_sparse(P_in), (
        _snapshot_sparse(P_out) if sp.issparse(P_out) else P_out.copy())
    got = kernels.propagate_features_sparse(P_in, cols, offset, P_out)
    dtype = np.result_type(P_in.dtype, P_out.dtype)
    left = _scipy_canonical(P_in)[offset:offset + n][:, cols]
    right = (_scipy_canonical(P_out) if sp.issparse(P_out)
             else sp.csr_matrix(P_out))[:, k:]
    want = sp.csr_matrix(sp.hstack([left, right], format="csr", dtype=dtype))
    want.sum_duplicates()
    _same_csr(got, want)
    as_array = isinstance(P_in, sp.sparray) or isinstance(P_out, sp.sparray)
    assert isinstance(got, sp.sparray) == as_array
    for name, arr in before_in.items():
        assert _bits_equal(getattr(P_in, name), arr), name
    if not sp.issparse(P_out):
        assert _bits_equal(P_out, before_out)


@given(data=st.data())
def test_kernel_fuzz_rebase(data):
    targets = data.draw(dense(max_rows=60))
    n = targets.shape[0]
    n_rows = data.draw(st.integers(0, n))
    if data.draw(st.booleans()):
        offset = None
        want = targets[n - n_rows:]
    else:
        offset = data.draw(st.integers(0, n - n_rows))
        want = targets[offset:offset + n_rows]
    got = kernels.rebase(targets, n_rows, offset)
    assert _bits_equal(got, want)
    assert got.base is targets or got.base is targets.base  # a view, O(1)
    bad = data.draw(st.integers(n + 1, n + 2 ** 40))
    with pytest.raises(ValueError):
        kernels.rebase(targets, bad, offset)


# -- 16 threads at once on shared read-only inputs ----------------------------

def _shared_inputs():
    rng = np.random.RandomState(42)
    X = rng.standard_normal((3000, 40))
    X[rng.rand(*X.shape) < 0.01] = np.nan
    X[0, :5] = [np.inf, -np.inf, -0.0, 5e-324, np.nan]
    inputs = {
        "X": X,
        "X32": X.astype(np.float32),
        "XF": np.asfortranarray(X),
        "Xbig": X.astype(">f8"),
        "y": rng.standard_normal(3000),
        "idx": rng.randint(-3000, 3000, size=5000),
        "cols": np.array([39, 0, 5, 5, -1, 17]),
        "A": sp.random(3000, 40, density=0.05, format="csr", random_state=1,
                       dtype=np.float64),
        "Acoo": sp.random(500, 30, density=0.2, format="coo", random_state=2),
    }
    inputs["Acoo"] = sp.coo_matrix((np.r_[inputs["Acoo"].data,
                                          inputs["Acoo"].data],
                                    (np.r_[inputs["Acoo"].row,
                                           inputs["Acoo"].row],
                                     np.r_[inputs["Acoo"].col,
                                           inputs["Acoo"].col])),
                                   shape=inputs["Acoo"].shape)
    for v in inputs.values():
        for arr in ((v.data, getattr(v, "indices", v.data),
                     getattr(v, "indptr", v.data)) if sp.issparse(v) else (v,)):
            arr.setflags(write=False)
    return inputs


def _references(inp):
    idx = inp["idx"]
    ref = {}
    for name in ("X", "X32", "XF", "Xbig"):
        ref["take_" + name] = inp[name][idx]
    ref["take_y"] = inp["y"][idx]
    for name in ("X", "X32", "XF"):
        for out_dt in (np.float64, np.float32):
            P = np.full((2500, 8), -1.0, out_dt)
            P[:, :6] = inp[name][500:][:, inp["cols"]]
            ref["prop_%s_%s" % (name, np.dtype(out_dt).name)] = P
    perm = np.random.RandomState(7).permutation(3000)
    ref["shuffle_X"], ref["shuffle_y"] = inp["X"][perm], inp["y"][perm]
    A = inp["A"]
    ref["sprop"] = sp.hstack([A[1000:][:, inp["cols"]],
                              sp.csr_matrix(np.eye(2000, 8))[:, 6:]],
                             format="csr")
    ref["sprop"].sum_duplicates()
    ref["to_csr"] = _scipy_canonical(inp["Acoo"])
    return ref


def _thread_worker(inp, ref, rounds, tid):
    rng = np.random.RandomState(tid)
    out64 = np.empty((5000, 40))
    checks = 0
    for r in range(rounds):
        op = rng.randint(7)
        if op == 0:
            name = ("X", "X32", "XF", "Xbig")[rng.randint(4)]
            if name == "Xbig":
                got = kernels.take_rows(inp[name], inp["idx"])
            elif name == "X32":
                got = kernels.take_rows(inp[name], inp["idx"])
            else:
                got = kernels.take_rows(inp[name], inp["idx"], out=out64)
            assert _bits_equal(got, ref["take_" + name]), name
        elif op == 1:
            got = kernels.take_rows(inp["y"], inp["idx"])
            assert _bits_equal(got, ref["take_y"])
        elif op == 2:
            name = ("X", "X32", "XF")[rng.randint(3)]
            out_dt = (np.float64, np.float32)[rng.randint(2)]
            P = np.full((2500, 8), -1.0, out_dt,
                        order="CF"[rng.randint(2)])
            kernels.propagate_features(inp[name], inp["cols"], 500, P)
            assert _bits_equal(P, ref["prop_%s_%s"
                                      % (name, np.dtype(out_dt).name)])
        elif op == 3:
            Xp, yp, _ = kernels.shuffle_rows(inp["X"], inp["y"], 7)
            assert _bits_equal(Xp, ref["shuffle_X"])
            assert _bits_equal(yp, ref["shuffle_y"])
        elif op == 4:
            got = kernels.propagate_features_sparse(
                inp["A"], inp["cols"], 1000, np.eye(2000, 8))
            _same_csr(got, ref["sprop"])
        elif op == 5:
            _same_csr(kernels.to_csr(inp["Acoo"]), ref["to_csr"])
        else:
            got = kernels.rebase(inp["y"], 100, offset=rng.randint(2900))
            assert got.shape == (100,) and np.shares_memory(got, inp["y"])
        checks += 1
    return checks


def test_kernel_concurrent_16_threads():
    inp = _shared_inputs()
    ref = _references(inp)
    snapshot = {k: (v.copy() if not sp.issparse(v) else v.toarray())
                for k, v in inp.items()}
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(_thread_worker, inp, ref, CONCURRENT_ROUNDS, t)
                   for t in range(16)]
        done = sum(f.result() for f in futures)
    assert done == 16 * CONCURRENT_ROUNDS
    for k, v in inp.items():
        now = v if not sp.issparse(v) else v.toarray()
        assert _bits_equal(now, snapshot[k]), k



###############################################################################
# Regressions: bugs these tests found

# Was: kernels.rebase validates n_rows but not offset: 1.5, True and '1' are
# silently taken as 1
@pytest.mark.parametrize("offset", [1.5, True, "1"],
                         ids=["float", "bool", "str"])
def test_regression_rebase_offset_validated(offset):
    with pytest.raises(TypeError):
        kernels.rebase(np.arange(5), 2, offset=offset)


# Was: kernels._check_index: idx + n overflows an int32 index array when the
# axis has >= 2**31 rows
def test_regression_int32_negative_index_on_huge_axis():
    X = np.broadcast_to(np.arange(3.0), (2 ** 31 + 10, 3))  # no memory used
    got = kernels.take_rows(X, np.array([-1, 0], dtype=np.int32))
    np.testing.assert_array_equal(got, [[0.0, 1.0, 2.0]] * 2)
