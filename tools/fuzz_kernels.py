#!/usr/bin/env python
"""Coverage-guided fuzzing of every public entry point of mlcore.kernels.

Each input (a byte string) is decoded into one call of ``take_rows``,
``shuffle_rows``, ``propagate_features``, ``propagate_features_sparse``,
``to_csr``, ``rebase`` or ``check_random_state``, or of the structure check
``_kernels.check_compressed``, with arguments that are often hostile:
indices out of range, corrupt sparse matrices (indices past the width,
decreasing or short ``indptr``, mismatched lengths, stale
``has_canonical_format``), lossy dtype pairs, every memory layout (Fortran,
strided, reversed, unaligned, read-only, broadcast). The result is compared
with numpy/scipy, computed only on inputs that an independent check written
here finds valid; on invalid inputs the call must raise the documented
exception. A crash, an unexpected exception or a wrong result is a finding.

Usage::

    python tools/fuzz_kernels.py [libFuzzer flags] [corpus dirs]
        # coverage-guided with atheris, e.g. -max_total_time=600 -seed=1
    python tools/fuzz_kernels.py --random --runs 5000 --seed 1
        # the same target fed random bytes (no atheris needed)

With atheris, the Python code of mlcore.kernels is instrumented for
coverage; with a build made by ``MLCORE_FUZZ_COVERAGE=1`` (see
tools/debug_kernels.sh) the compiled kernels report their own coverage too.
Exit status 0: no finding.
"""
import os
import sys

import numpy as np
import scipy.sparse as sp

if "--random" not in sys.argv:
    try:
        import atheris
    except ImportError:
        atheris = None
else:
    atheris = None

if atheris is not None and __name__ == "__main__":
    # Import this file again as a module, with its own code and mlcore's
    # instrumented: the decoding branches below guide the fuzzer too.
    with atheris.instrument_imports(include=["mlcore", "fuzz_kernels"]):
        import fuzz_kernels
    fuzz_kernels.main()
    sys.exit(0)

from mlcore import _kernels, kernels as K  # noqa: E402

VALUES = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 4.5, np.nan, np.inf,
                   -np.inf, 7.0])
DTYPES = ["<f8", "<f4", ">f8", ">f4", "<f2", "<i8", "<i4", "|i1", "|u1",
          "<u2", "|b1", "<c16", "<c8", "O"]
SPARSE_DTYPES = ["<f8", "<f4", "<i8", "|i1", "|b1", "<c16"]
INDEX_DTYPES = ["<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "|u1", ">i8",
                ">i4"]
LAYOUTS = ["C", "F", "rows_step", "cols_step", "reversed", "unaligned",
           "readonly", "broadcast"]
ERRORS = (ValueError, TypeError, IndexError)


class Bytes:
    """Reads small integers and choices from the fuzzer's byte string;
    zeros once it runs out, so every input decodes to some call."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def int(self, lo, hi):
        """An int in [lo, hi]."""
        span = hi - lo + 1
        v = self.byte()
        if span > 256:
            v = v | (self.byte() << 8) | (self.byte() << 16)
        return lo + v % span

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def bool(self):
        return self.byte() & 1 == 1


###############################################################################
# Inputs

def values(b, shape, dtype):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    v = VALUES[[b.int(0, len(VALUES) - 1) for _ in range(min(n, 64))]
               + [b.int(0, 7) for _ in range(max(n - 64, 0))]]
    if dtype.kind == "c":
        v = v + 1j * v[::-1]
    elif dtype.kind in "iub":
        v = np.nan_to_num(v, nan=3, posinf=9, neginf=-9)
        if dtype.kind == "u":
            v = np.abs(v)
    elif dtype.kind == "O":
        out = np.empty(shape, dtype=object)
        out[...] = v.reshape(shape)
        return out
    with np.errstate(all="ignore"):
        return v.reshape(shape).astype(dtype)


def arrange(b, a, kind=None):
    """A copy of ``a`` (same values) in one of LAYOUTS."""
    kind = kind or b.choice(LAYOUTS)
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "rows_step" and a.ndim >= 1:
        big = np.zeros((2 * a.shape[0],) + a.shape[1:], dtype=a.dtype)
        big[::2] = a
        return big[::2]
    if kind == "cols_step" and a.ndim == 2:
        big = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
        big[:, ::2] = a
        return big[:, ::2]
    if kind == "reversed" and a.ndim >= 1:
        return np.ascontiguousarray(a[::-1])[::-1]
    if kind == "unaligned" and a.dtype.itemsize > 1 and a.dtype != object:
        buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
        out = buf[1:].view(a.dtype).reshape(a.shape)
        out[...] = a
        return out
    if kind == "readonly":
        out = a.copy()
        out.flags.writeable = False
        return out
    if kind == "broadcast" and a.ndim >= 1 and a.shape[0] > 0 \
            and np.all(a == a[:1]):
        return np.broadcast_to(a[:1], a.shape)
    return np.ascontiguousarray(a)


def index_vector(b, n, max_len=12):
    """Indices for an axis of length n, mostly valid, sometimes not."""
    m = b.int(0, max_len)
    dtype = np.dtype(b.choice(INDEX_DTYPES))
    mode = b.int(0, 7)
    lo, hi = -n - 2, n + 1
    if mode == 0:  # extreme values
        lo, hi = -(2 ** 62), 2 ** 62
    vals = [b.int(lo, hi) if mode == 0 else b.int(-n - 2, n + 1)
            for _ in range(m)]
    if mode >= 3 and n:  # valid only
        vals = [v % n for v in vals]
    if dtype.kind == "u":
        vals = [abs(v) for v in vals]
    info = np.iinfo(dtype)
    vals = [min(max(v, int(info.min)), int(info.max)) for v in vals]
    idx = np.array(vals, dtype=dtype)
    if b.int(0, 9) == 0:
        return idx.tolist()
    return arrange(b, idx, b.choice(["C", "rows_step", "reversed",
                                     "unaligned", "readonly"]))


def raw_compressed(b, n_major, n_minor):
    """(data, indices, indptr) of a compressed matrix, maybe corrupt."""
    counts = [b.int(0, min(n_minor, 4) + 1) for _ in range(n_major)]
    indptr = np.zeros(n_major + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    sorted_rows = b.bool()
    indices = np.zeros(nnz, dtype=np.int64)
    for i in range(n_major):
        row = [b.int(0, max(n_minor - 1, 0)) for _ in range(counts[i])]
        if sorted_rows:
            row = sorted(set(row))
            row += [row[-1]] * (counts[i] - len(row)) if row else []
        indices[indptr[i]:indptr[i + 1]] = row
    if n_minor == 0:
        indptr[:] = 0
        indices = indices[:0]
    data_dtype = b.choice(SPARSE_DTYPES)
    data = values(b, (indices.shape[0],), data_dtype)
    corruption = b.int(0, 15)
    if corruption == 1 and indices.size:
        indices[b.int(0, indices.size - 1)] = n_minor + b.int(0, 10 ** 6)
    elif corruption == 2 and indices.size:
        indices[b.int(0, indices.size - 1)] = -b.int(1, 5)
    elif corruption == 3 and n_major >= 1:
        i = b.int(1, n_major)
        indptr[i] = indptr[i - 1] - b.int(1, 3)
    elif corruption == 4:
        indptr[-1] += b.int(1, 5)
    elif corruption == 5:
        indptr[0] = b.int(1, 3)
    elif corruption == 6:
        indptr = indptr[:-1] if b.bool() else np.r_[indptr, indptr[-1]]
    elif corruption == 7 and data.size:
        data = data[:-1]
    elif corruption == 8:
        indices = indices.astype(b.choice(["<f8", "<u8", "<i2", ">i4"]))
    elif corruption == 9:
        extra = b.int(1, 3)  # slack after indptr[-1]: valid
        indices = np.r_[indices, np.zeros(extra, dtype=indices.dtype)]
        data = np.r_[data, values(b, (extra,), data.dtype)]
    idx_dtype = b.choice([np.int32, np.int64])
    if indices.dtype.kind == "i" and indices.dtype.isnative:
        indices = indices.astype(idx_dtype)
    return data, indices, indptr.astype(idx_dtype)


def set_raw(M, data, indices, indptr):
    """Put raw arrays into M after construction, as a careless user would
    (scipy checks nothing then)."""
    M.data, M.indices, M.indptr = data, indices, indptr
    return M


def sparse_input(b, n, p):
    """A sparse matrix of shape (n, p) in any format, maybe corrupt.

    Returns (M, spec): spec is ("csr"|"csc"|"bsr", data, indices, indptr,
    blocksize) for compressed formats, ("coo", data, row, col), ("dia",
    data, offsets), ("lil", rows, data) or ("dok",), copies of the raw
    arrays for the reference."""
    fmt = b.choice(["csr", "csr", "csr", "csc", "coo", "bsr", "dia", "lil",
                    "dok"])
    as_array = b.bool()
    if fmt in ("csr", "csc"):
        major, minor = (n, p) if fmt == "csr" else (p, n)
        data, indices, indptr = raw_compressed(b, major, minor)
        cls = {"csr": (sp.csr_matrix, sp.csr_array),
               "csc": (sp.csc_matrix, sp.csc_array)}[fmt][as_array]
        M = cls((n, p), dtype=data.dtype)
        set_raw(M, data, indices, indptr)
        flag = b.int(0, 3)
        if flag == 1:
            M.has_canonical_format = True  # claimed, maybe wrongly
        elif flag == 2:
            M.has_sorted_indices = True
        return M, (fmt, data.copy(), indices.copy(), indptr.copy(), (1, 1))
    if fmt == "bsr":
        r, c = b.choice([(1, 1), (1, 2), (2, 1), (2, 2)])
        n, p = n - n % r, p - p % c
        data, indices, indptr = raw_compressed(b, n // r, p // c)
        blocks = values(b, (data.shape[0], r, c), data.dtype)
        cls = sp.bsr_array if as_array else sp.bsr_matrix
        M = cls((n, p), blocksize=(r, c), dtype=blocks.dtype)
        set_raw(M, blocks, indices, indptr)
        return M, ("bsr", blocks.copy(), indices.copy(), indptr.copy(),
                   (r, c))
    if fmt == "coo":
        m = b.int(0, 12) if n and p else 0
        row = np.array([b.int(0, n - 1) for _ in range(m)], dtype=np.int64)
        col = np.array([b.int(0, p - 1) for _ in range(m)], dtype=np.int64)
        data = values(b, (m,), b.choice(SPARSE_DTYPES))
        M = (sp.coo_array if as_array else sp.coo_matrix)(
            (data, (row, col)), shape=(n, p))
        corruption = b.int(0, 7)
        if corruption == 1 and m:
            M.row[b.int(0, m - 1)] = n + b.int(0, 10 ** 5)
        elif corruption == 2 and m:
            M.col[b.int(0, m - 1)] = -b.int(1, 4)
        elif corruption == 3 and m:
            M.row = M.row[:-1]
        return M, ("coo", M.data.copy(), M.row.copy(), M.col.copy())
    if fmt == "dia":
        k = b.int(0, 3)
        offsets = np.array(sorted({b.int(-n, p) for _ in range(k)}),
                           dtype=np.int32)
        data = values(b, (len(offsets), p), b.choice(SPARSE_DTYPES))
        M = (sp.dia_array if as_array else sp.dia_matrix)(
            (data, offsets), shape=(n, p))
        corruption = b.int(0, 5)
        if corruption == 1 and len(offsets) > 1:
            M.offsets = M.offsets[:-1]
        elif corruption == 2 and len(offsets) > 1:
            M.offsets = np.zeros_like(M.offsets)  # repeated: valid
        return M, ("dia", M.data.copy(), M.offsets.copy())
    if fmt == "lil":
        dense = values(b, (n, p), b.choice(["<f8", "<i8"]))
        M = (sp.lil_array if as_array else sp.lil_matrix)(dense)
        corruption = b.int(0, 5)
        if corruption == 1 and n:
            M.data[0] = list(M.data[0]) + [1.0] * b.int(1, 50)
        elif corruption == 2 and n:
            M.rows[0] = list(M.rows[0]) + [p + b.int(0, 3)]
            M.data[0] = list(M.data[0]) + [1.0]
        elif corruption == 3 and n:
            M.rows = M.rows[:-1]
        return M, ("lil", [list(r) for r in M.rows],
                   [list(d) for d in M.data])
    dense = values(b, (n, p), b.choice(["<f8", "<f4"]))
    M = (sp.dok_array if as_array else sp.dok_matrix)(dense)
    return M, ("dok", M.toarray())


###############################################################################
# Independent reference for sparse inputs

def _int_vector(a):
    return isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype.kind in "iu"


def reference_dense(spec, shape):
    """The dense matrix a valid sparse input stands for, duplicates summed,
    or None when the input is corrupt. Written from the raw arrays, with
    no scipy and nothing from mlcore."""
    n, p = shape
    kind = spec[0]
    if kind in ("csr", "csc", "bsr"):
        _, data, indices, indptr, (r, c) = spec
        major, minor = {"csr": (n, p), "csc": (p, n),
                        "bsr": (n // r, p // c)}[kind]
        if not (_int_vector(indices) and _int_vector(indptr)):
            return None
        if len(indptr) != major + 1 or indptr[0] != 0 \
                or np.any(np.diff(indptr.astype(np.int64)) < 0) \
                or indptr[-1] > len(indices) or len(data) != len(indices):
            return None
        nnz = int(indptr[-1])
        ind = indices[:nnz].astype(np.int64)
        if indices.dtype.kind == "u" and nnz \
                and int(indices[:nnz].max()) > np.iinfo(np.int64).max:
            return None
        if nnz and (ind.min() < 0 or ind.max() >= minor):
            return None
        rows = np.repeat(np.arange(major), np.diff(indptr.astype(np.int64)))
        if kind == "bsr":
            if data.shape[1:] != (r, c):
                return None
            out = np.zeros((n, p), dtype=data.dtype)
            for t in range(nnz):
                out[rows[t] * r:(rows[t] + 1) * r,
                    ind[t] * c:(ind[t] + 1) * c] += data[t]
            return out
        out = np.zeros((major, minor), dtype=data.dtype)
        np.add.at(out, (rows, ind), data[:nnz])
        return out if kind == "csr" else out.T
    if kind == "coo":
        _, data, row, col = spec
        if len(row) != len(col) or len(row) != len(data):
            return None
        if len(row) and (row.min() < 0 or row.max() >= n or col.min() < 0
                         or col.max() >= p):
            return None
        out = np.zeros((n, p), dtype=data.dtype)
        np.add.at(out, (row, col), data)
        return out
    if kind == "dia":
        _, data, offsets = spec
        if data.shape[0] != len(offsets):
            return None
        out = np.zeros((n, p), dtype=data.dtype)
        for d, k in zip(data, offsets):
            for j in range(min(p, data.shape[1])):
                if 0 <= j - k < n:
                    out[j - k, j] += d[j]
        return out
    if kind == "lil":
        _, rows, data = spec
        if len(rows) != n or any(len(a) != len(b) for a, b in zip(rows,
                                                                    data)):
            return None
        out = np.zeros((n, p), dtype=np.result_type(
            *(np.asarray(d).dtype for d in data if len(d))) if any(
                len(d) for d in data) else np.float64)
        for i, (cols, vals) in enumerate(zip(rows, data)):
            for j, v in zip(cols, vals):
                if not 0 <= j < p:
                    return None
                out[i, j] += v
        return out
    return spec[1]


def same(got, want, signed_zeros=True):
    """Equality up to NaN payloads, same shape and dtype; -0.0 differs
    from 0.0 unless signed_zeros is false (a dense matrix made from a
    sparse one cannot tell them apart)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if want.dtype.kind in "fc":
        assert np.array_equal(got, want, equal_nan=True), (got, want)
        if signed_zeros:
            assert np.array_equal(np.signbit(got.real), np.signbit(want.real))
    elif want.dtype == object:  # NaN objects: compare type and repr
        assert [(type(x), repr(x)) for x in got.ravel()] \
            == [(type(x), repr(x)) for x in want.ravel()]
    else:
        assert np.array_equal(got, want), (got, want)


def assert_canonical(C):
    """Canonical CSR, checked from the raw arrays."""
    assert C.format == "csr"
    n, q = C.shape
    indptr, indices = np.asarray(C.indptr), np.asarray(C.indices)
    assert indptr.dtype == indices.dtype and indptr.dtype in (np.int32,
                                                              np.int64)
    assert len(indptr) == n + 1 and indptr[0] == 0
    assert indptr[-1] == len(indices) == len(C.data)
    assert np.all(np.diff(indptr) >= 0)
    for i in range(n):
        seg = indices[indptr[i]:indptr[i + 1]]
        assert np.all(np.diff(seg) > 0) and np.all((seg >= 0) & (seg < q))
    assert C.has_canonical_format


def snapshot(M):
    return [np.array(getattr(M, a), copy=True)
            for a in ("data", "indices", "indptr", "row", "col", "offsets")
            if isinstance(getattr(M, a, None), np.ndarray)
            and getattr(M, a).dtype != object]


def unchanged(M, before):
    for a, b in zip(snapshot(M), before):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert a.tobytes() == b.tobytes()


#: Outcomes per target: ("fuzz_x", "checked") or ("fuzz_x", "ValueError").
STATS = {}
_current = [None]


def expect_error(call, name, types=ERRORS):
    try:
        call()
    except types as exc:
        msg = str(exc)
        assert name is None or msg.startswith(name), (name, msg)
        _current[0] = type(exc).__name__
        return
    raise AssertionError("accepted an invalid input (expected an error "
                         "naming %r)" % name)


def sparse_dtype(dtype):
    """What scipy.sparse stores for dense values of this dtype."""
    dtype = np.dtype(dtype).newbyteorder("=")
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def lossy(src, dst):
    src, dst = np.dtype(src), np.dtype(dst)
    if src.kind == "O":
        return dst.kind != "O"
    if src.kind == "c":
        return dst.kind not in "cO"
    if src.kind == "f":
        return dst.kind in "iub"
    if src.kind in "iu" and dst.kind in "iu":
        return (np.iinfo(src).min < np.iinfo(dst).min
                or np.iinfo(src).max > np.iinfo(dst).max)
    if src.kind in "iu" and dst.kind == "b":
        return True
    return False


###############################################################################
# Targets, one per entry point

def fuzz_take_rows(b):
    ndim = b.int(1, 2)
    n, p = b.int(0, 20), b.int(0, 5)
    X = arrange(b, values(b, (n, p) if ndim == 2 else (n,),
                          b.choice(DTYPES)))
    idx = index_vector(b, n, 40)
    idx_arr = np.asarray(idx) if len(idx) else np.zeros(0, dtype=np.int64)
    with_out = b.int(0, 3)
    try:
        want = X[idx_arr.astype(np.int64) if idx_arr.dtype.kind == "u"
                 and idx_arr.size and idx_arr.max() < 2 ** 63 else idx_arr]
    except IndexError:
        want = None
    if idx_arr.dtype.kind == "u" and idx_arr.size \
            and int(idx_arr.max()) >= n:
        want = None
    if want is None:
        return expect_error(lambda: K.take_rows(X, idx), None, IndexError)
    if with_out == 1:
        out = arrange(b, np.zeros(want.shape, dtype=X.dtype),
                      b.choice(["C", "F", "rows_step", "unaligned"]))
        got = K.take_rows(X, idx, out=out)
        assert got is out
    elif with_out == 2:  # wrong dtype or shape
        bad = np.zeros(want.shape + (1,) if b.bool() else want.shape,
                       dtype=np.float16 if X.dtype != np.float16
                       else np.float32)
        return expect_error(lambda: K.take_rows(X, idx, out=bad), None)
    else:
        got = K.take_rows(X, idx)
    same(got, want)


def fuzz_shuffle_rows(b):
    n, p = b.int(0, 15), b.int(0, 4)
    seed = b.int(0, 2 ** 20)
    y = values(b, (n,), "<f8") if b.bool() else None
    if b.bool():
        X, spec = sparse_input(b, n, p)
        n, p = X.shape
        if y is not None:
            y = y[:n] if len(y) >= n else None
        dense = reference_dense(spec, (n, p))
        before = snapshot(X)
        if dense is None:
            expect_error(lambda: K.shuffle_rows(X, y, seed), "X (")
            return unchanged(X, before)
        Xp, yp, perm = K.shuffle_rows(X, y, seed)
        want_perm = np.random.RandomState(seed).permutation(n)
        assert np.array_equal(perm, want_perm)
        assert_canonical(Xp)
        same(Xp.toarray(), dense[want_perm].astype(Xp.dtype), False)
        return unchanged(X, before)
    X = arrange(b, values(b, (n, p), b.choice(DTYPES)))
    Xp, yp, perm = K.shuffle_rows(X, y, seed)
    want_perm = np.random.RandomState(seed).permutation(n)
    assert np.array_equal(perm, want_perm)
    same(Xp, X[want_perm])
    if y is not None:
        same(yp, y[want_perm])


def fuzz_propagate_features(b):
    n_in, p = b.int(0, 15), b.int(0, 6)
    P_in = arrange(b, values(b, (n_in, p), b.choice(DTYPES)))
    n = b.int(0, n_in + 1)
    offset = b.int(-1, n_in + 1) if b.int(0, 3) == 0 else \
        b.int(0, max(n_in - n, 0))
    cols = index_vector(b, p, 8)
    k = len(cols)
    q = max(k + b.int(-1, 3), 0) if b.int(0, 3) == 0 else k + b.int(0, 2)
    P_out = arrange(b, values(b, (n, q), b.choice(DTYPES)),
                    b.choice(["C", "F", "rows_step", "cols_step", "reversed",
                              "unaligned", "C"]))
    before = P_out.copy()
    c = np.asarray(cols)
    bad_cols = c.size and (c.dtype.kind == "u" and int(c.max()) >= p
                           or c.dtype.kind == "i" and (int(c.max()) >= p
                                                       or int(c.min()) < -p))
    if bad_cols:
        expect_error(lambda: K.propagate_features(P_in, cols, offset, P_out),
                     "columns", IndexError)
    elif k > q or offset < 0 or offset + n > n_in:
        expect_error(lambda: K.propagate_features(P_in, cols, offset, P_out),
                     None, ValueError)
    elif lossy(P_in.dtype, P_out.dtype):
        expect_error(lambda: K.propagate_features(P_in, cols, offset, P_out),
                     "cannot copy P_in", TypeError)
    else:
        want = P_out.copy()
        with np.errstate(all="ignore"):
            want[:, :k] = P_in[offset:offset + n][:, c.astype(np.int64)]
            got = K.propagate_features(P_in, cols, offset, P_out)
        assert got is P_out
        return same(P_out, want)
    same(P_out, before)


def fuzz_propagate_features_sparse(b):
    n_in, p = b.int(0, 12), b.int(0, 6)
    P_in, spec_in = sparse_input(b, n_in, p)
    n_in, p = P_in.shape
    n = b.int(0, n_in)
    offset = b.int(0, n_in - n)
    cols = index_vector(b, p, 6)
    c = np.asarray(cols).astype(np.int64) if len(cols) else np.zeros(0, int)
    if len(cols) and (np.asarray(cols).dtype.kind == "u"
                      and int(np.max(cols)) >= p):
        c = np.array([p])  # out of range either way
    k = len(cols)
    q = k + b.int(0, 3)
    sparse_out = b.bool()
    if sparse_out:
        P_out, spec_out = sparse_input(b, n, q)
        if P_out.shape != (n, q):  # BSR shrank it to its blocksize
            P_out, spec_out = sparse_input(Bytes(b"\x00"), n, q)
    else:
        P_out = arrange(b, values(b, (n, q), b.choice(
            ["<f8", "<f4", ">f8", "<f2", "<i8", "|b1", "<c16", "O"])),
            b.choice(["C", "F", "rows_step", "cols_step", "unaligned",
                      "readonly"]))
    dense_in = reference_dense(spec_in, P_in.shape)
    dense_out = reference_dense(spec_out, P_out.shape) if sparse_out \
        else P_out
    before_in = snapshot(P_in)
    before_out = snapshot(P_out) if sparse_out else [P_out.copy()]

    def call():
        return K.propagate_features_sparse(P_in, cols, offset, P_out)

    # Arguments are checked in order: P_out's dtype, the columns, then
    # the structure of P_in and of P_out.
    if not sparse_out and P_out.dtype.kind == "O":
        expect_error(call, "P_out has dtype", TypeError)
    elif c.size and (c.max() >= p or c.min() < -p):
        expect_error(call, "columns", IndexError)
    elif dense_in is None:
        expect_error(call, "P_in (")
    elif sparse_out and dense_out is None:
        expect_error(call, "P_out (")
    else:
        got = call()
        assert_canonical(got)
        dtype = np.result_type(sparse_dtype(P_in.dtype),
                               sparse_dtype(P_out.dtype))
        assert got.dtype == dtype, (got.dtype, dtype)
        want = np.hstack([dense_in[offset:offset + n][:, c].astype(dtype),
                          np.asarray(dense_out)[:, k:].astype(dtype)])
        same(got.toarray(), want, False)
        array = isinstance(P_in, sp.sparray) or isinstance(P_out, sp.sparray)
        assert isinstance(got, sp.sparray) == array
    unchanged(P_in, before_in)
    if sparse_out:
        unchanged(P_out, before_out)
    else:
        assert P_out.tobytes() == before_out[0].tobytes()


def fuzz_to_csr(b):
    M, spec = sparse_input(b, b.int(0, 10), b.int(0, 8))
    dense = reference_dense(spec, M.shape)
    before = snapshot(M)
    if dense is None:
        expect_error(lambda: K.to_csr(M), "M (")
        return unchanged(M, before)
    got = K.to_csr(M)
    assert_canonical(got)
    assert isinstance(got, sp.sparray) == isinstance(M, sp.sparray)
    same(got.toarray(), dense.astype(sparse_dtype(M.dtype)), False)
    unchanged(M, before)
    # A canonical result is returned as is on the next call.
    assert K.to_csr(got) is got


def fuzz_rebase(b):
    n = b.int(0, 10)
    targets = None if b.int(0, 9) == 0 else arrange(
        b, values(b, (n,) if b.bool() else (n, 2), "<f8"),
        b.choice(["C", "readonly", "reversed"]))
    n_rows = b.int(-2, n + 2)
    offset = None if b.bool() else b.int(-2, n + 2)
    if targets is None:
        assert K.rebase(None, n_rows, offset) is None
        return
    if offset is None:
        if not 0 <= n_rows <= n:
            return expect_error(lambda: K.rebase(targets, n_rows), None,
                                ValueError)
        got = K.rebase(targets, n_rows)
        same(got, targets[n - n_rows:])
    else:
        if n_rows < 0 or offset < 0 or offset + n_rows > n:
            return expect_error(lambda: K.rebase(targets, n_rows, offset),
                                None, ValueError)
        got = K.rebase(targets, n_rows, offset)
        same(got, targets[offset:offset + n_rows])
    if got.size:
        assert np.shares_memory(got, targets)


def fuzz_check_random_state(b):
    seed = b.int(0, 2 ** 24)
    kind = b.int(0, 3)
    if kind == 0:
        rs = K.check_random_state(seed)
        assert np.array_equal(rs.permutation(9),
                              np.random.RandomState(seed).permutation(9))
    elif kind == 1:
        g = np.random.default_rng(seed)
        assert K.check_random_state(g) is g
    else:
        bad = [1.5, "1", True, [1]][b.int(0, 3)]
        expect_error(lambda: K.check_random_state(bad), None, ValueError)


def _classify(indptr, indices, n_minor):
    if indptr[0] != 0:
        return _kernels.CSR_BAD_START
    for i in range(len(indptr) - 1):
        s, e = int(indptr[i]), int(indptr[i + 1])
        if e < s:
            return _kernels.CSR_DECREASING
        if e > len(indices):
            return _kernels.CSR_PAST_END
        seg = indices[s:e]
        if np.any((seg < 0) | (seg >= n_minor)):
            return _kernels.CSR_OUT_OF_RANGE
    ok = all(np.all(np.diff(indices[indptr[i]:indptr[i + 1]]
                            .astype(np.int64)) > 0)
             for i in range(len(indptr) - 1))
    return _kernels.CSR_CANONICAL if ok else _kernels.CSR_UNSORTED


def fuzz_check_compressed(b):
    indptr = np.array([b.int(-3, 20) for _ in range(b.int(1, 8))],
                      dtype=b.choice([np.int32, np.int64]))
    indptr[0] = 0 if b.int(0, 4) else indptr[0]
    if b.bool():
        indptr = np.maximum.accumulate(indptr)
    indices = np.array([b.int(-2, 8) for _ in range(b.int(0, 20))],
                       dtype=b.choice([np.int32, np.int64]))
    n_minor = b.int(0, 8)
    status, pos, value = _kernels.check_compressed(indptr, indices, n_minor)
    assert status == _classify(indptr, indices, n_minor), (
        status, indptr, indices, n_minor)


TARGETS = [fuzz_take_rows, fuzz_shuffle_rows, fuzz_propagate_features,
           fuzz_propagate_features_sparse, fuzz_to_csr, fuzz_rebase,
           fuzz_check_random_state, fuzz_check_compressed]


def one_input(data):
    b = Bytes(data)
    target = TARGETS[b.byte() % len(TARGETS)]
    _current[0] = "checked"
    try:
        with np.errstate(all="ignore"):
            target(b)
    except BaseException:
        # Replay with: python tools/fuzz_kernels.py --random --replay HEX
        print("fuzz_kernels: FINDING in %s; input (hex): %s"
              % (target.__name__, bytes(data).hex()), file=sys.stderr,
              flush=True)
        raise
    key = (target.__name__, _current[0])
    STATS[key] = STATS.get(key, 0) + 1


###############################################################################
# Drivers

def random_driver(argv):
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", action="store_true")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--replay", metavar="HEX",
                        help="run one input, given in hex, and stop")
    args = parser.parse_args(argv)
    if args.replay is not None:
        one_input(bytes.fromhex(args.replay))
        print("fuzz_kernels: replayed input, no finding")
        return
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    for i in range(args.runs):
        data = rng.integers(0, 256, size=rng.integers(0, args.max_len),
                            dtype=np.uint8).tobytes()
        one_input(data)
    print("fuzz_kernels: %d random runs, no finding (%.1f s)"
          % (args.runs, time.perf_counter() - start))
    print_stats()


def print_stats():
    """Per target: inputs checked against the reference, and inputs
    refused with each exception."""
    for name in sorted({k[0] for k in STATS}):
        parts = ["%s %d" % (outcome, n) for (t, outcome), n
                 in sorted(STATS.items()) if t == name]
        print("  %-32s %s" % (name, ", ".join(parts)))


def check_build(native_coverage):
    """Say which build is fuzzed; FUZZ_EXPECT_BOUNDS_CHECKED=1 and
    FUZZ_EXPECT_COVERAGE=1 (checked once fuzzing starts) make a wrong one
    an error."""
    print("fuzz_kernels: mlcore._kernels from %s (bounds checked: %s)"
          % (_kernels.__file__, _kernels.BOUNDS_CHECKED), flush=True)
    if os.environ.get("FUZZ_EXPECT_BOUNDS_CHECKED") == "1" \
            and not _kernels.BOUNDS_CHECKED:
        sys.exit("fuzz_kernels: expected a bounds-checked build")
    if os.environ.get("FUZZ_EXPECT_COVERAGE") == "1" \
            and native_coverage is False:
        sys.exit("fuzz_kernels: expected a coverage build under atheris")


def main():
    if atheris is None:
        if "--random" not in sys.argv:
            print("fuzz_kernels: atheris is not installed; feeding random "
                  "bytes instead (no coverage guidance)", file=sys.stderr)
        check_build(False)
        return random_driver([a for a in sys.argv[1:]])
    atheris.Setup(sys.argv, one_input_atheris)
    check_build(None)
    atheris.Fuzz()


def _register_native_coverage():
    """Hand a coverage build's counters to the libFuzzer that atheris has
    loaded (privately, when Fuzz starts; libFuzzer accepts counters while
    it runs, as atheris' own Python counters show)."""
    import ctypes
    import glob
    for path in glob.glob(os.path.join(os.path.dirname(atheris.__file__),
                                       "core_*libfuzzer*.so")):
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_NOW)
            init = ctypes.cast(lib.__sanitizer_cov_8bit_counters_init,
                               ctypes.c_void_p).value
            pcs = ctypes.cast(lib.__sanitizer_cov_pcs_init,
                              ctypes.c_void_p).value
        except (OSError, AttributeError):
            continue
        return _kernels.fuzz_coverage_register(init, pcs)
    return False


_native = []


def one_input_atheris(data):
    if not _native:
        _native.append(_register_native_coverage())
        print("fuzz_kernels: native coverage of the kernels: %s"
              % _native[0], flush=True)
        if os.environ.get("FUZZ_EXPECT_COVERAGE") == "1" and not _native[0]:
            sys.exit("fuzz_kernels: expected a coverage build")
    one_input(data)


if __name__ == "__main__":
    main()
