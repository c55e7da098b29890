"""Tests of mlcore.kernels against numpy/scipy references, exact equality.

Every compiled kernel is compared with the numpy or scipy expression it
replaces, over random shapes (0 and 1 rows included), dtypes (the compiled
float32/float64 ones and the numpy fallbacks), index dtypes, memory layouts
(C, F, strided and reversed views, broadcast and read-only arrays, memmaps)
and preallocated or fresh outputs. Hypothesis example counts come from the
profile chosen in conftest.py (HYPOTHESIS_PROFILE=stress for many more).
"""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, strategies as st

from mlcore import _kernels
from mlcore import kernels as K

FLOATS = [np.float32, np.float64]
FALLBACKS = [np.int8, np.int32, np.int64, np.uint16, np.bool_, np.float16,
             np.complex128, ">f8", ">f4", object]
INDEX_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                np.uint32, np.uint64, np.intp, ">i8", ">i4", "<i2"]
LAYOUTS = ["C", "F", "rows_step", "cols_step", "reversed", "neg_cols"]

HAS_SPARRAY = hasattr(sp, "csr_array")


###############################################################################
# Helpers

def values(rng, shape, dtype):
    """Random values of a dtype, with NaN, inf, -0.0 and 0 among floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        v = rng.standard_normal(shape) * 10
        special = rng.random(shape)
        v[special < 0.05] = np.nan
        v[(special >= 0.05) & (special < 0.08)] = np.inf
        v[(special >= 0.08) & (special < 0.11)] = -0.0
        v[(special >= 0.11) & (special < 0.2)] = 0.0
        return v.astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape)
                + 1j * rng.standard_normal(shape)).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind == "O":
        return rng.integers(-50, 50, size=shape).astype(object)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), size=shape,
                        endpoint=True).astype(dtype)


def layout(a, kind):
    """A copy of ``a`` in the given memory layout (same values)."""
    a = np.asarray(a)
    if kind == "C" or a.ndim == 0:
        return np.ascontiguousarray(a)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "rows_step":
        big = np.empty((2 * a.shape[0],) + a.shape[1:], dtype=a.dtype)
        big[::2] = a
        out = big[::2]
    elif kind == "cols_step" and a.ndim == 2:
        big = np.empty((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
        big[:, ::2] = a
        out = big[:, ::2]
    elif kind == "reversed":
        out = np.ascontiguousarray(a[::-1])[::-1]
    elif kind == "neg_cols" and a.ndim == 2:
        out = np.ascontiguousarray(a[:, ::-1])[:, ::-1]
    else:
        out = np.ascontiguousarray(a)
    assert np.array_equal(out, a, equal_nan=a.dtype.kind in "fc")
    return out


def assert_same(got, expected):
    """Exact equality, same dtype and shape; NaN equals NaN."""
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    assert np.array_equal(got, expected,
                          equal_nan=np.dtype(expected.dtype).kind in "fc")


def read_only(a):
    a = a.view()
    a.flags.writeable = False
    return a


def index_array(rng, n, m, dtype, allow_negative=True):
    """m valid indices for an axis of length n, in the given dtype."""
    dtype = np.dtype(dtype)
    if n == 0:
        return np.zeros(0, dtype=dtype)
    lo = -n if (allow_negative and dtype.kind == "i") else 0
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = max(lo, int(info.min))
        hi = min(n - 1, int(info.max))
    return rng.integers(lo, hi, size=m, endpoint=True).astype(dtype)


def assert_canonical(M):
    """Independent check of canonical CSR: consistent indptr, indices in
    range and strictly increasing within every row."""
    indptr, indices = np.asarray(M.indptr), np.asarray(M.indices)
    n, q = M.shape
    assert indptr.shape == (n + 1,)
    assert indptr[0] == 0 and indptr[-1] == indices.shape[0] == M.data.shape[0]
    assert np.all(np.diff(indptr) >= 0)
    if indices.size:
        assert indices.min() >= 0 and indices.max() < q
        same_row = np.ones(indices.size, dtype=bool)
        same_row[indptr[:-1][indptr[:-1] < indices.size]] = False
        assert np.all(np.diff(indices.astype(np.int64))[same_row[1:]] > 0)


seeds = st.integers(0, 2 ** 32 - 1)


###############################################################################
# take_rows

@given(seed=seeds, n=st.integers(0, 40), p=st.integers(0, 6),
       ndim=st.sampled_from([1, 2]), dtype=st.sampled_from(FLOATS + FALLBACKS),
       idx_dtype=st.sampled_from(INDEX_DTYPES), m=st.integers(0, 50),
       x_layout=st.sampled_from(LAYOUTS), out_kind=st.sampled_from(
           [None, "C", "F", "rows_step", "cols_step"]),
       readonly=st.booleans())
def test_take_rows_matches_numpy(seed, n, p, ndim, dtype, idx_dtype, m,
                                 x_layout, out_kind, readonly):
    rng = np.random.default_rng(seed)
    shape = (n,) if ndim == 1 else (n, p)
    X = layout(values(rng, shape, dtype), x_layout)
    if readonly:
        X = read_only(X)
    idx = index_array(rng, n, m if n else 0, idx_dtype)
    expected = X[idx.astype(np.int64)]
    if out_kind is None:
        got = K.take_rows(X, idx)
    else:
        out = layout(np.zeros(expected.shape, dtype=X.dtype), out_kind)
        got = K.take_rows(X, idx, out=out)
        assert got is out
    assert_same(got, expected)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [1, 3, 16, 64, 65, 200])
@pytest.mark.parametrize("x_layout", LAYOUTS)
def test_take_rows_long(dtype, p, x_layout):
    # Long enough for the prefetching loop (more than 16 rows ahead), with
    # row widths below, at and beyond the prefetch window.
    rng = np.random.default_rng(p)
    X = layout(values(rng, (1000, p), dtype), x_layout)
    idx = rng.integers(-1000, 1000, size=1500)
    assert_same(K.take_rows(X, idx), X[idx])
    out = np.empty((1500, p), dtype=dtype, order="F")
    assert_same(K.take_rows(X, idx, out=out), X[idx])
    y = layout(values(rng, (1000,), dtype), x_layout)
    assert_same(K.take_rows(y, idx), y[idx])


def test_take_rows_broadcast_input():
    # A stride-0, read-only input (np.broadcast_to).
    row = np.arange(5, dtype=np.float64)
    X = np.broadcast_to(row, (30, 5))
    idx = np.array([3, 0, -1, 29])
    assert_same(K.take_rows(X, idx), X[idx])


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", FLOATS + [np.int64, ">f8"])
def test_take_rows_memmap(tmp_path, order, dtype):
    rng = np.random.default_rng(1)
    data = values(rng, (50, 7), dtype)
    path = tmp_path / "x.mmap"
    mm = np.memmap(path, dtype=data.dtype, mode="w+", shape=data.shape,
                   order=order)
    mm[:] = data
    mm.flush()
    del mm
    X = np.memmap(path, dtype=data.dtype, mode="r", shape=data.shape,
                  order=order)
    assert not X.flags.writeable
    idx = rng.integers(-50, 50, size=80)
    assert_same(K.take_rows(X, idx), data[idx])
    assert_same(K.take_rows(X[:, 2], idx), data[idx, 2])


def test_take_rows_empty_and_single():
    X = np.arange(12.0).reshape(4, 3)
    assert_same(K.take_rows(X, []), X[[]])
    assert K.take_rows(X, []).shape == (0, 3)
    assert_same(K.take_rows(X, np.array([], dtype=np.uint8)), X[:0])
    assert_same(K.take_rows(X[:1], [0, -1, 0]), X[[0, 0, 0]])
    assert_same(K.take_rows(X[:0], []), X[:0])
    assert_same(K.take_rows(np.zeros((5, 0)), [1, 2]), np.zeros((2, 0)))
    # Python ints and lists work like numpy
    assert_same(K.take_rows(X, [2, -4]), X[[2, -4]])


@pytest.mark.parametrize("bad", [4, -5, 2 ** 40, -(2 ** 62), 2 ** 63 - 1])
def test_take_rows_out_of_bounds(bad):
    X = np.arange(12.0).reshape(4, 3)
    with pytest.raises(IndexError):
        X[[0, bad]]  # the numpy reference raises too
    out = np.full((2, 3), -7.0)
    with pytest.raises(IndexError):
        K.take_rows(X, [0, bad], out=out)
    assert np.all(out == -7.0)  # nothing was written
    with pytest.raises(IndexError):
        K.take_rows(X[:, 0], np.array([bad, 0]))


def test_take_rows_huge_unsigned_index():
    X = np.arange(12.0).reshape(4, 3)
    with pytest.raises(IndexError):
        K.take_rows(X, np.array([1, 2 ** 63 + 5], dtype=np.uint64))
    with pytest.raises(IndexError):
        K.take_rows(X, np.array([4], dtype=np.uint8))
    with pytest.raises(IndexError):
        K.take_rows(np.zeros((0, 3)), [0])


@pytest.mark.parametrize("idx, exc", [
    (np.array([True, False, True, False]), TypeError),
    (np.array([0.0, 1.0]), TypeError),
    ([0.5], TypeError),
    (np.array(["a"]), TypeError),
    (np.array([[0, 1]]), ValueError),
    (np.int64(1), ValueError),
    (sp.csr_matrix(np.array([[1]])), TypeError),
])
def test_take_rows_bad_indices(idx, exc):
    X = np.arange(12.0).reshape(4, 3)
    with pytest.raises(exc):
        K.take_rows(X, idx)


def test_take_rows_bad_arrays():
    X = np.arange(12.0).reshape(4, 3)
    with pytest.raises(ValueError):
        K.take_rows(np.zeros((2, 2, 2)), [0])
    with pytest.raises(ValueError):
        K.take_rows(np.float64(3.0), [0])
    with pytest.raises(TypeError):
        K.take_rows(sp.csr_matrix(X), [0])
    with pytest.raises(ValueError):  # wrong shape
        K.take_rows(X, [0, 1], out=np.empty((3, 3)))
    with pytest.raises(ValueError):  # wrong ndim
        K.take_rows(X, [0, 1], out=np.empty(6))
    with pytest.raises(TypeError):  # wrong dtype
        K.take_rows(X, [0, 1], out=np.empty((2, 3), dtype=np.float32))
    with pytest.raises(TypeError):  # not an array
        K.take_rows(X, [0, 1], out=[[0.0] * 3] * 2)
    with pytest.raises(ValueError):  # read-only out
        K.take_rows(X, [0, 1], out=read_only(np.empty((2, 3))))


def test_take_rows_overlapping_out():
    X = np.arange(24.0).reshape(8, 3)
    before = X.copy()
    with pytest.raises(ValueError):
        K.take_rows(X[:4], [0, 1], out=X[2:4])
    with pytest.raises(ValueError):
        K.take_rows(X, np.arange(8), out=X)
    assert np.array_equal(X, before)
    # Disjoint parts of one buffer are fine.
    got = K.take_rows(X[:4], [3, 0], out=X[4:6])
    assert np.array_equal(got, before[[3, 0]])


###############################################################################
# shuffle_rows and check_random_state

@given(seed=seeds, n=st.integers(0, 60), p=st.integers(1, 5),
       with_y=st.booleans(), dtype=st.sampled_from(FLOATS + [np.int32, ">f8"]),
       y_2d=st.booleans(), x_layout=st.sampled_from(LAYOUTS))
def test_shuffle_rows_matches_randomstate(seed, n, p, with_y, dtype, y_2d,
                                          x_layout):
    from sklearn.utils import check_random_state as sk_check

    rng = np.random.default_rng(seed)
    X = layout(values(rng, (n, p), dtype), x_layout)
    y = None
    if with_y:
        y = values(rng, (n, 2) if y_2d else (n,), np.float64)
    X_before = X.copy()
    Xp, yp, perm = K.shuffle_rows(X, y, random_state=seed)
    ref = np.random.RandomState(seed).permutation(n)
    assert np.array_equal(perm, ref)
    assert np.array_equal(perm, sk_check(seed).permutation(n))
    assert_same(Xp, X[ref])
    if with_y:
        assert_same(yp, y[ref])
    else:
        assert yp is None
    assert_same(X, X_before)


def test_shuffle_rows_random_state_kinds():
    X = np.arange(40.0).reshape(20, 2)
    # An instance is used (and advanced) in place, like mlens/sklearn.
    rs = np.random.RandomState(3)
    ref = np.random.RandomState(3)
    for _ in range(3):
        _, _, perm = K.shuffle_rows(X, None, rs)
        assert np.array_equal(perm, ref.permutation(20))
    # None uses numpy's global RandomState.
    np.random.seed(11)
    _, _, perm = K.shuffle_rows(X, None, None)
    np.random.seed(11)
    assert np.array_equal(perm, np.random.permutation(20))
    # A Generator is accepted.
    _, _, perm = K.shuffle_rows(X, None, np.random.default_rng(5))
    assert np.array_equal(perm, np.random.default_rng(5).permutation(20))
    # numpy integer seeds
    _, _, perm = K.shuffle_rows(X, None, np.int32(7))
    assert np.array_equal(perm, np.random.RandomState(7).permutation(20))


def test_check_random_state():
    assert K.check_random_state(None) is np.random.mtrand._rand
    assert K.check_random_state(np.random) is np.random.mtrand._rand
    rs = np.random.RandomState(0)
    assert K.check_random_state(rs) is rs
    g = np.random.default_rng(0)
    assert K.check_random_state(g) is g
    a = K.check_random_state(4).random_sample(3)
    assert np.array_equal(a, np.random.RandomState(4).random_sample(3))
    for bad in ("1", 1.5, True, [1]):
        with pytest.raises(ValueError):
            K.check_random_state(bad)


def test_shuffle_rows_y_mismatch():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError):
        K.shuffle_rows(X, np.zeros(4), 0)
    with pytest.raises(ValueError):
        K.shuffle_rows(sp.csr_matrix(X), np.zeros(6), 0)
    with pytest.raises(ValueError):
        K.shuffle_rows(np.zeros((2, 2, 2)), None, 0)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil"])
@pytest.mark.parametrize("container", ["matrix", "array"])
def test_shuffle_rows_sparse(fmt, container):
    if container == "array" and not HAS_SPARRAY:
        pytest.skip("scipy without sparse arrays")
    rng = np.random.default_rng(2)
    dense = values(rng, (30, 6), np.float64)
    dense[rng.random(dense.shape) < 0.6] = 0
    M = sp.csr_matrix(dense) if container == "matrix" else sp.csr_array(dense)
    M = M.asformat(fmt)
    before = M.toarray()
    y = np.arange(30.0)
    Xp, yp, perm = K.shuffle_rows(M, y, 9)
    ref = np.random.RandomState(9).permutation(30)
    assert np.array_equal(perm, ref)
    assert Xp.format == "csr"
    assert np.array_equal(Xp.toarray(), dense[ref], equal_nan=True)
    assert np.array_equal(yp, y[ref])
    assert np.array_equal(M.toarray(), before, equal_nan=True)


###############################################################################
# propagate_features (dense)

@given(seed=seeds, n_in=st.integers(0, 30), p=st.integers(1, 8),
       q_extra=st.integers(0, 3), data=st.data(),
       in_dtype=st.sampled_from(FLOATS + [np.int32, ">f8", np.float16,
                                          np.complex64, np.uint8]),
       out_dtype=st.sampled_from(FLOATS + [np.int64, np.complex128,
                                           np.int16, np.uint16]),
       idx_dtype=st.sampled_from(INDEX_DTYPES),
       in_layout=st.sampled_from(LAYOUTS),
       out_layout=st.sampled_from(LAYOUTS), readonly=st.booleans())
def test_propagate_features_matches_numpy(seed, n_in, p, q_extra, data,
                                          in_dtype, out_dtype, idx_dtype,
                                          in_layout, out_layout, readonly):
    rng = np.random.default_rng(seed)
    n = data.draw(st.integers(0, n_in), label="n")
    r = data.draw(st.integers(0, n_in - n), label="row_offset")
    k = data.draw(st.integers(0, p + 2), label="k")
    mode = data.draw(st.sampled_from(["random", "sorted", "range"]),
                     label="cols")
    if mode == "range":
        start = data.draw(st.integers(0, p - 1), label="start")
        k = min(k, p - start)
        cols = np.arange(start, start + k).astype(idx_dtype)
    else:
        cols = index_array(rng, p, k, idx_dtype)
        if mode == "sorted":
            cols = np.sort(cols)
    q = k + q_extra
    P_in = layout(values(rng, (n_in, p), in_dtype), in_layout)
    if readonly:
        P_in = read_only(P_in)
    P_out = layout(values(rng, (n, q), out_dtype), out_layout)
    expected = P_out.copy()
    if lossy_cast(P_in.dtype, P_out.dtype):
        # numpy's assignment would drop imaginary parts, truncate floats or
        # wrap integers: refused before anything is written.
        with pytest.raises(TypeError, match="cannot copy P_in"):
            K.propagate_features(P_in, cols, r, P_out)
        assert_same(P_out, expected)
        return
    with np.errstate(all="ignore"):
        expected[:, :k] = P_in[r:r + n][:, cols.astype(np.int64)]
        got = K.propagate_features(P_in, cols, r, P_out)
    assert got is P_out
    assert_same(P_out, expected)


def lossy_cast(src, dst):
    """Copies propagate_features refuses, by kind: complex into real,
    float into integer or bool, integer into an integer type that cannot
    hold all its values."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src.kind == "c":
        return dst.kind != "c"
    if src.kind == "f":
        return dst.kind in "iub"
    if src.kind in "iu" and dst.kind in "iu":
        lo, hi = np.iinfo(src).min, np.iinfo(src).max
        return lo < np.iinfo(dst).min or hi > np.iinfo(dst).max
    return False


@pytest.mark.parametrize("in_dtype", FLOATS)
@pytest.mark.parametrize("out_dtype", FLOATS)
@pytest.mark.parametrize("cols", [
    np.arange(10, 30), np.array([5]), np.array([39, 0, 0, 7, -1]),
    np.arange(0, 40, 3), np.arange(40)])
@pytest.mark.parametrize("in_layout", ["C", "F", "cols_step", "reversed"])
def test_propagate_features_long(in_dtype, out_dtype, cols, in_layout):
    rng = np.random.default_rng(len(cols))
    P_in = layout(values(rng, (300, 40), in_dtype), in_layout)
    for out_order in ("C", "F"):
        P_out = np.full((250, len(cols) + 2), 7, dtype=out_dtype,
                        order=out_order)
        expected = P_out.copy()
        expected[:, :len(cols)] = P_in[50:][:, cols]
        K.propagate_features(P_in, cols, 50, P_out)
        assert_same(P_out, expected)


def test_propagate_features_single_column_input():
    P_in = np.arange(10.0).reshape(10, 1)
    P_out = np.zeros((4, 3), dtype=np.float32)
    K.propagate_features(P_in, [0, 0], 6, P_out)
    expected = np.zeros((4, 3), dtype=np.float32)
    expected[:, :2] = P_in[6:, [0, 0]]
    assert_same(P_out, expected)


def test_propagate_features_memmap(tmp_path):
    rng = np.random.default_rng(0)
    data = values(rng, (40, 6), np.float64)
    path = tmp_path / "p.mmap"
    np.save(path.with_suffix(".npy"), data)
    P_in = np.load(path.with_suffix(".npy"), mmap_mode="r")
    assert isinstance(P_in, np.memmap) and not P_in.flags.writeable
    P_out = np.zeros((30, 4), dtype=np.float32)
    expected = P_out.copy()
    expected[:, :3] = data[10:, [4, 1, 5]]
    K.propagate_features(P_in, [4, 1, -1], 10, P_out)
    assert_same(P_out, expected)


def test_propagate_features_errors():
    P_in = np.arange(60.0).reshape(10, 6)
    P_out = np.full((8, 4), -1.0)
    cases = [
        ((P_in, [6], 2, P_out), IndexError),
        ((P_in, [-7], 2, P_out), IndexError),
        ((P_in, [0, 1, 2, 3, 4], 2, P_out), ValueError),  # k > q
        ((P_in, [0], 3, P_out), ValueError),  # rows past the end
        ((P_in, [0], -1, P_out), ValueError),
        ((P_in, [0], 2.0, P_out), TypeError),
        ((P_in, [0], True, P_out), TypeError),
        ((P_in, [0.0], 2, P_out), TypeError),
        ((P_in, np.array([True] * 6), 2, P_out), TypeError),
        ((P_in, [[0]], 2, P_out), ValueError),
        ((P_in[:, 0], [0], 2, P_out), ValueError),
        ((P_in, [0], 2, P_out[:, 0]), ValueError),
        ((P_in, [0], 2, read_only(P_out)), ValueError),
        ((P_in, [0], 2, P_out.tolist()), TypeError),
        ((sp.csr_matrix(P_in), [0], 2, P_out), TypeError),
        ((P_in, [0], 2, sp.csr_matrix(P_out)), TypeError),
    ]
    for args, exc in cases:
        with pytest.raises(exc):
            K.propagate_features(*args)
    assert np.all(P_out == -1.0)
    # P_out inside P_in's buffer
    with pytest.raises(ValueError):
        K.propagate_features(P_in, [0], 2, P_in[:8, 2:])
    assert np.array_equal(P_in, np.arange(60.0).reshape(10, 6))


###############################################################################
# propagate_features_sparse

def scipy_reference(P_in, cols, r, P_out):
    """scipy.sparse.hstack([P_in[r:r+n, cols], P_out[:, k:]], format='csr'),
    in canonical form."""
    n, k = P_out.shape[0], len(cols)
    dtype = np.result_type(P_in.dtype, P_out.dtype)
    A = sp.csr_matrix(P_in, copy=True)
    A.sum_duplicates()
    cols = np.asarray(cols, dtype=np.int64)
    cols = np.where(cols < 0, cols + A.shape[1], cols)
    left = A[r:r + n][:, cols]
    if sp.issparse(P_out):
        B = sp.csr_matrix(P_out, copy=True)
        B.sum_duplicates()
    else:
        B = np.asarray(P_out)
    ref = sp.csr_matrix(sp.hstack([left, B[:, k:]], format="csr",
                                  dtype=dtype), copy=True)
    ref.sum_duplicates()
    return ref


def assert_csr_equal(got, ref, container):
    assert type(got) is container
    assert got.format == "csr"
    assert got.shape == ref.shape
    assert got.dtype == ref.dtype
    assert_canonical(got)
    assert got.has_canonical_format
    assert np.array_equal(got.indptr, ref.indptr)
    assert np.array_equal(got.indices, ref.indices)
    assert np.array_equal(got.data, ref.data, equal_nan=True)
    assert np.array_equal(got.toarray(), ref.toarray(), equal_nan=True)


def messy_sparse(rng, shape, dtype, fmt, density=0.4, container="matrix",
                 index_dtype=np.int32):
    """A sparse matrix with explicit zeros, NaN and, for COO and CSR,
    duplicate and unsorted entries."""
    n, p = shape
    nnz = int(density * n * p) + (rng.integers(0, 3) if n * p else 0)
    rows = rng.integers(0, max(n, 1), size=nnz) if n * p else np.zeros(0, int)
    cols = rng.integers(0, max(p, 1), size=nnz) if n * p else np.zeros(0, int)
    vals = values(rng, (nnz,), dtype)
    coo = sp.coo_matrix((vals, (rows, cols)), shape=shape)  # has duplicates
    if fmt == "coo":
        M = coo
    elif fmt == "csr":
        # Non-canonical CSR: rows from COO order, unsorted, duplicates.
        order = np.argsort(rows, kind="stable")
        indptr = np.zeros(n + 1, dtype=index_dtype)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        M = sp.csr_matrix((vals[order], cols[order].astype(index_dtype),
                           indptr), shape=shape)
        M.indices = M.indices.astype(index_dtype)
        M.indptr = M.indptr.astype(index_dtype)
    elif fmt == "canonical":
        M = coo.tocsr()
        M.sum_duplicates()
        M.indices = M.indices.astype(index_dtype)
        M.indptr = M.indptr.astype(index_dtype)
    else:
        M = coo.asformat(fmt)
    if container == "array":
        M = sp.csr_array(M).asformat(M.format) if fmt != "coo" \
            else sp.coo_array(M)
        if fmt == "csr":  # keep it non-canonical
            M = sp.csr_array((vals[order], cols[order], indptr), shape=shape)
    return M


def snapshot(M):
    if sp.issparse(M):
        M = M.tocoo() if M.format not in ("csr", "csc", "coo") else M
        if M.format == "coo":
            return ("coo", M.row.copy(), M.col.copy(), M.data.copy())
        return (M.format, M.indptr.copy(), M.indices.copy(), M.data.copy())
    return ("dense", np.array(M, copy=True))


def same_snapshot(a, b):
    return a[0] == b[0] and all(
        np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
        for x, y in zip(a[1:], b[1:]))


@given(seed=seeds, n_in=st.integers(0, 25), p=st.integers(1, 8),
       q_extra=st.integers(0, 5), data=st.data(),
       in_fmt=st.sampled_from(["canonical", "csr", "csc", "coo"]),
       in_dtype=st.sampled_from(FLOATS),
       in_index=st.sampled_from([np.int32, np.int64]),
       in_container=st.sampled_from(["matrix", "array"]),
       out_kind=st.sampled_from(["C", "F", "rows_step", "cols_step",
                                 "canonical", "csr", "coo", "csc"]),
       out_dtype=st.sampled_from(FLOATS),
       idx_dtype=st.sampled_from(INDEX_DTYPES),
       zero_rate=st.sampled_from([0.0, 0.3, 0.8, 1.0]),
       flat_below=st.sampled_from([0, 8, 10 ** 9]))
def test_propagate_features_sparse_matches_scipy(
        seed, n_in, p, q_extra, data, in_fmt, in_dtype, in_index,
        in_container, out_kind, out_dtype, idx_dtype, zero_rate, flat_below):
    if in_container == "array" and not HAS_SPARRAY:
        in_container = "matrix"
    rng = np.random.default_rng(seed)
    n = data.draw(st.integers(0, n_in), label="n")
    r = data.draw(st.integers(0, n_in - n), label="row_offset")
    k = data.draw(st.integers(0, p + 2), label="k")
    cols = index_array(rng, p, k, idx_dtype)
    if data.draw(st.booleans(), label="sorted"):
        cols = np.sort(cols)
    q = k + q_extra
    P_in = messy_sparse(rng, (n_in, p), in_dtype, in_fmt,
                        density=data.draw(st.sampled_from([0.1, 0.5, 1.0])),
                        container=in_container, index_dtype=in_index)
    if out_kind in ("C", "F", "rows_step", "cols_step"):
        dense = values(rng, (n, q), out_dtype)
        dense[rng.random((n, q)) < zero_rate] = 0
        P_out = layout(dense, out_kind)
    else:
        P_out = messy_sparse(rng, (n, q), out_dtype, out_kind, density=0.5)
    before_in, before_out = snapshot(P_in), snapshot(P_out)

    # Both ways of counting (per row, and flat for short rows) are used.
    saved = _kernels._FLAT_ROWS_BELOW
    _kernels._FLAT_ROWS_BELOW = flat_below
    try:
        got = K.propagate_features_sparse(P_in, cols, r, P_out)
    finally:
        _kernels._FLAT_ROWS_BELOW = saved
    ref = scipy_reference(P_in, cols, r, P_out)
    array = isinstance(P_in, getattr(sp, "sparray", ())) \
        or isinstance(P_out, getattr(sp, "sparray", ()))
    assert_csr_equal(got, ref, sp.csr_array if array else sp.csr_matrix)
    assert got.indices.dtype == np.int32 and got.indptr.dtype == np.int32
    assert K.to_csr(got) is got
    assert same_snapshot(snapshot(P_in), before_in)
    assert same_snapshot(snapshot(P_out), before_out)


@pytest.mark.parametrize("cols", [
    np.arange(30), np.arange(5, 25), np.array([29, 3, 3, 17, 0, 0, 0, 12]),
    np.arange(29, -1, -1), np.array([7])])
@pytest.mark.parametrize("dense_out", [True, False])
@pytest.mark.parametrize("dtypes", [(np.float64, np.float64),
                                    (np.float32, np.float32),
                                    (np.float32, np.float64),
                                    (np.float64, np.float32)])
@pytest.mark.parametrize("flat_below", [0, 10 ** 9])
def test_propagate_features_sparse_long(cols, dense_out, dtypes, flat_below,
                                        monkeypatch):
    monkeypatch.setattr(_kernels, "_FLAT_ROWS_BELOW", flat_below)
    rng = np.random.default_rng(len(cols))
    A = sp.random(600, 30, density=0.3, format="csr", random_state=rng,
                  dtype=dtypes[0])
    A.data[rng.random(A.nnz) < 0.1] = 0  # explicit zeros are kept
    q = len(cols) + 12
    if dense_out:
        B = values(rng, (500, q), dtypes[1])
        B[rng.random(B.shape) < 0.2] = 0
        B[:100] = 1.5  # rows without zeros take the plain-copy path
        B[100:150] = 0  # empty rows
    else:
        B = sp.random(500, q, density=0.3, format="csr", random_state=rng,
                      dtype=dtypes[1])
    got = K.propagate_features_sparse(A, cols, 77, B)
    assert_csr_equal(got, scipy_reference(A, cols, 77, B), sp.csr_matrix)


@pytest.mark.parametrize("k", [0, 1, 60, 119, 120])
@pytest.mark.parametrize("flat_below", [0, 10 ** 9])
def test_propagate_features_sparse_wide_rows(k, flat_below, monkeypatch):
    # Rows of B longer than the short-row limit (binary search for the tail)
    monkeypatch.setattr(_kernels, "_FLAT_ROWS_BELOW", flat_below)
    rng = np.random.default_rng(k)
    A = sp.random(80, 150, density=0.7, format="csr", random_state=rng)
    B = sp.random(60, 120, density=0.8, format="csr", random_state=rng)
    cols = np.sort(rng.choice(150, k, replace=False))
    got = K.propagate_features_sparse(A, cols, 20, B)
    assert_csr_equal(got, scipy_reference(A, cols, 20, B), sp.csr_matrix)
    got = K.propagate_features_sparse(A, cols[::-1], 20, B.toarray())
    assert_csr_equal(got, scipy_reference(A, cols[::-1], 20, B.toarray()),
                     sp.csr_matrix)


def test_propagate_features_sparse_fallback_dtypes():
    rng = np.random.default_rng(3)
    A = sp.random(20, 6, density=0.5, format="csr", random_state=rng)
    A_int = sp.csr_matrix((rng.integers(-5, 5, A.nnz), A.indices, A.indptr),
                          shape=A.shape)
    cases = [
        (A_int, rng.integers(-3, 3, (15, 5))),  # int64 result
        (A, rng.integers(0, 2, (15, 5)).astype(bool)),  # float64
        (A.astype(np.float32), rng.integers(-2, 2, (15, 5)).astype(np.int8)),
        (A, (rng.standard_normal((15, 5)) * (1 + 1j))),  # complex
    ]
    for P_in, P_out in cases:
        got = K.propagate_features_sparse(P_in, [4, 0, 0], 5, P_out)
        assert_csr_equal(got, scipy_reference(P_in, [4, 0, 0], 5, P_out),
                         sp.csr_matrix)
    # scipy.sparse rejects non-native byte order; mlcore converts it first.
    P_out = rng.standard_normal((15, 5))
    P_out[P_out < 0] = 0
    for dt in (">f8", ">f4"):
        got = K.propagate_features_sparse(A, [4, 0, 0], 5, P_out.astype(dt))
        ref = scipy_reference(A, [4, 0, 0], 5,
                              P_out.astype(np.dtype(dt).newbyteorder("=")))
        assert_csr_equal(got, ref, sp.csr_matrix)


def test_propagate_features_sparse_int64_indices_when_needed():
    # More output columns than int32 can index: int64 indices, like scipy.
    q = 2 ** 31 + 10
    A = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0], [4, 0, 0]]))
    B = sp.csr_matrix((np.array([5.0, 6.0, 7.0]),
                       (np.array([0, 1, 1]), np.array([1, q - 1, 3]))),
                      shape=(2, q))
    got = K.propagate_features_sparse(A, [2, 0], 1, B)
    assert got.indices.dtype == np.int64 and got.indptr.dtype == np.int64
    assert_canonical(got)
    assert got.shape == (2, q)
    assert got.indptr.tolist() == [0, 0, 3]
    assert got.indices.tolist() == [1, 3, q - 1]
    assert got.data.tolist() == [4.0, 7.0, 6.0]
    ref = scipy_reference(A, [2, 0], 1, B)
    assert ref.indices.dtype == np.int64
    assert np.array_equal(got.indptr, ref.indptr)
    assert np.array_equal(got.indices, ref.indices)
    assert np.array_equal(got.data, ref.data)


def test_propagate_features_sparse_memmap(tmp_path):
    rng = np.random.default_rng(4)
    A = sp.random(30, 7, density=0.4, format="csr", random_state=rng)
    arrays = {}
    for name in ("data", "indices", "indptr"):
        np.save(tmp_path / (name + ".npy"), getattr(A, name))
        arrays[name] = np.load(tmp_path / (name + ".npy"), mmap_mode="r")
    A_mm = sp.csr_matrix((arrays["data"], arrays["indices"],
                          arrays["indptr"]), shape=A.shape)
    assert not A_mm.data.flags.writeable
    np.save(tmp_path / "out.npy", values(rng, (20, 5), np.float64))
    P_out = np.load(tmp_path / "out.npy", mmap_mode="r")
    got = K.propagate_features_sparse(A_mm, [6, 2, 2], 10, P_out)
    assert_csr_equal(got, scipy_reference(A, [6, 2, 2], 10,
                                          np.asarray(P_out)), sp.csr_matrix)


def test_propagate_features_sparse_errors():
    A = sp.random(10, 6, density=0.5, format="csr", random_state=0)
    B = np.zeros((8, 4))
    cases = [
        ((A.toarray(), [0], 2, B), TypeError),
        ((A, [6], 2, B), IndexError),
        ((A, [-7], 2, B), IndexError),
        ((A, [0, 1, 2, 3, 4], 2, B), ValueError),
        ((A, [0], 3, B), ValueError),
        ((A, [0], -1, B), ValueError),
        ((A, [0], 1.0, B), TypeError),
        ((A, [0.0], 2, B), TypeError),
        ((A, [[0]], 2, B), ValueError),
        ((A, [0], 2, B[:, 0]), ValueError),
    ]
    for args, exc in cases:
        with pytest.raises(exc):
            K.propagate_features_sparse(*args)


###############################################################################
# to_csr

@pytest.mark.parametrize("container", ["matrix", "array"])
def test_to_csr_identity_for_canonical(container):
    if container == "array" and not HAS_SPARRAY:
        pytest.skip("scipy without sparse arrays")
    rng = np.random.default_rng(0)
    M = messy_sparse(rng, (20, 8), np.float64, "canonical")
    if container == "array":
        M = sp.csr_array(M)
    assert M.has_canonical_format
    assert K.to_csr(M) is M


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok", "bsr",
                                 "dia"])
@pytest.mark.parametrize("container", ["matrix", "array"])
def test_to_csr_canonical_output(fmt, container):
    if container == "array" and not HAS_SPARRAY:
        pytest.skip("scipy without sparse arrays")
    rng = np.random.default_rng(1)
    M = messy_sparse(rng, (15, 9), np.float64, "csr" if fmt == "csr" else "coo",
                     container=container)
    if fmt not in ("csr", "coo"):
        M = M.asformat(fmt)
    dense = M.toarray()
    before = snapshot(M)
    out = K.to_csr(M)
    assert out is not M
    assert out.format == "csr"
    is_array = isinstance(M, getattr(sp, "sparray", ()))
    assert isinstance(out, sp.csr_array if is_array else sp.csr_matrix)
    assert_canonical(out)
    assert np.array_equal(out.toarray(), dense, equal_nan=True)
    assert same_snapshot(snapshot(M), before)  # input untouched


def test_to_csr_rejects_dense():
    with pytest.raises(TypeError):
        K.to_csr(np.zeros((2, 2)))


###############################################################################
# rebase

@given(n=st.integers(0, 30), data=st.data(), ndim=st.sampled_from([1, 2]))
def test_rebase_is_a_view(n, data, ndim):
    targets = np.arange(n * ndim, dtype=np.float64).reshape((n, ndim))
    if ndim == 1:
        targets = targets[:, 0]
    n_rows = data.draw(st.integers(0, n))
    got = K.rebase(targets, n_rows)
    assert_same(got, targets[n - n_rows:])
    if n_rows:
        assert np.shares_memory(got, targets)
    offset = data.draw(st.integers(0, n - n_rows))
    got = K.rebase(targets, n_rows, offset)
    assert_same(got, targets[offset:offset + n_rows])
    if n_rows:
        assert np.shares_memory(got, targets)


def test_rebase_memmap(tmp_path):
    np.save(tmp_path / "y.npy", np.arange(10.0))
    y = np.load(tmp_path / "y.npy", mmap_mode="r")
    got = K.rebase(y, 4)
    assert np.array_equal(got, np.arange(6.0, 10.0))
    assert np.shares_memory(got, y)
    assert K.rebase(None, 3) is None


def test_rebase_errors():
    y = np.arange(10)
    for args, exc in [((y, 11), ValueError), ((y, -1), ValueError),
                      ((y, 2.0), TypeError), ((y, True), TypeError),
                      ((y, 4, 7), ValueError), ((y, 4, -1), ValueError),
                      ((y, -1, 2), ValueError)]:
        with pytest.raises(exc):
            K.rebase(*args)
