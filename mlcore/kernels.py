"""Data-movement kernels of the backend.

Each public function here is a thin Python layer that validates its inputs
(shapes, dtypes, index bounds, aliasing) and then either calls a compiled,
GIL-free loop from :mod:`mlcore._kernels` or, for dtypes those loops are not
compiled for (integers or booleans as data, object arrays, non-native byte
order), falls back to the equivalent numpy/scipy expression. Invalid input
raises a Python exception before any compiled loop runs, and before any
scipy routine that would crash on it.

Sparse inputs are never trusted as they are: scipy builds a matrix from
``(data, indices, indptr)`` (or COO coordinates, DIA offsets, LIL lists)
without checking the values, and caches ``has_canonical_format``, so a
matrix can claim to be canonical while holding column indices past its
width, a decreasing ``indptr`` or arrays of the wrong length; some scipy
conversions then read or write out of bounds. Every sparse input of every
function here goes through one structure check first (a single compiled
pass over ``indptr`` and ``indices``, plus min/max passes for COO), which
raises :class:`ValueError` naming the argument and the fault.

Index semantics follow numpy: indices may be any integer dtype, negative
indices count from the end, and anything outside ``[-n, n)`` raises
:class:`IndexError`.
"""
import numbers

import numpy as np
import scipy.sparse as sp

try:  # The compiled loops. Absent only in a broken, uncompiled checkout.
    from . import _kernels
except ImportError as exc:  # pragma: no cover - exercised only when broken
    raise ImportError(
        "mlcore's compiled kernels (mlcore._kernels) are missing: install "
        "mlcore with 'pip install .' (or 'pip install -e .') so that the "
        "Cython extension gets built. Original error: %s" % exc) from exc

__all__ = [
    "take_rows",
    "shuffle_rows",
    "propagate_features",
    "propagate_features_sparse",
    "to_csr",
    "rebase",
    "check_cast",
    "check_random_state",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INDEX = (np.dtype(np.int32), np.dtype(np.int64))
# Value kinds a sparse matrix may hold: boolean, integer, float, complex.
_SPARSE_KINDS = "biufc"


###############################################################################
# Validation helpers

def _compiled_float(dtype):
    """True when the compiled loops handle this (native, float) dtype."""
    return dtype in _FLOATS and dtype.isnative


def _as_array(X, name, ndims=(1, 2)):
    if sp.issparse(X):
        raise TypeError("%s must be a dense array, got a scipy.sparse %s"
                        % (name, type(X).__name__))
    X = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if X.ndim not in ndims:
        raise ValueError("%s must have %s dimension(s), got an array of shape "
                         "%r" % (name, " or ".join(map(str, ndims)), X.shape))
    return X


def _check_index(indices, n, name="indices"):
    """Validate an index vector against an axis of length ``n``.

    Returns a C-contiguous int32 or int64 array with negative entries
    resolved (a copy only when needed).
    """
    if sp.issparse(indices):
        raise TypeError("%s must be a 1-D integer array, got a sparse matrix"
                        % name)
    idx = np.asarray(indices)
    if idx.dtype == bool:
        raise TypeError("%s must be integers, got a boolean mask; use "
                        "np.flatnonzero(mask) to convert it" % name)
    if idx.size == 0 and idx.dtype.kind not in "iu":
        idx = idx.astype(np.intp)  # np.asarray([]) is float64
    if idx.dtype.kind not in "iu":
        raise TypeError("%s must be integers, got dtype %s" % (name, idx.dtype))
    if idx.ndim != 1:
        raise ValueError("%s must be 1-D, got shape %r" % (name, idx.shape))
    if idx.dtype not in _INDEX or not idx.dtype.isnative:
        if idx.size and idx.dtype.kind == "u" and idx.max() > np.iinfo(np.int64).max:
            raise IndexError("%s contains an index too large for int64" % name)
        idx = idx.astype(np.int64)
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if hi >= n or lo < -n:
            bad = hi if hi >= n else lo
            raise IndexError("%s contains index %d, out of bounds for an axis "
                             "of length %d" % (name, bad, n))
        if lo < 0:
            if idx.dtype == np.int32 and n > np.iinfo(np.int32).max:
                idx = idx.astype(np.int64)  # idx + n would overflow int32
            idx = np.where(idx < 0, idx + n, idx).astype(idx.dtype, copy=False)
    return np.ascontiguousarray(idx)


def _check_out(out, shape, dtype, name="out"):
    if not isinstance(out, np.ndarray):
        raise TypeError("%s must be a numpy array, got %s"
                        % (name, type(out).__name__))
    if out.shape != tuple(shape):
        raise ValueError("%s has shape %r, expected %r"
                         % (name, out.shape, tuple(shape)))
    if dtype is not None and out.dtype != dtype:
        raise TypeError("%s has dtype %s, expected %s"
                        % (name, out.dtype, dtype))
    if not out.flags.writeable:
        raise ValueError("%s is read-only" % name)


def _check_no_overlap(a, b, a_name, b_name):
    if np.may_share_memory(a, b) and np.shares_memory(a, b):
        raise ValueError("%s and %s share memory; pass a separate output "
                         "array" % (a_name, b_name))


def check_random_state(random_state):
    """Turn ``random_state`` into a random generator.

    Same rules as :func:`sklearn.utils.check_random_state`, so that
    permutations match ML-Ensemble's stream: ``None`` (or the ``np.random``
    module) gives numpy's global ``RandomState``, an int seeds a new
    ``RandomState``, a ``RandomState`` is returned as is. In addition a
    ``numpy.random.Generator`` is accepted and returned as is.
    """
    if random_state is None or random_state is np.random:
        return np.random.mtrand._rand
    if isinstance(random_state, (numbers.Integral, np.integer)) \
            and not isinstance(random_state, bool):
        return np.random.RandomState(random_state)
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    raise ValueError("%r cannot be used to seed a numpy.random.RandomState "
                     "instance" % (random_state,))


###############################################################################
# Row gather

def take_rows(X, indices, out=None):
    """Gather rows: ``out[i] = X[indices[i]]``.

    Equivalent to ``X[indices]`` (and ``np.take(X, indices, axis=0)``) for a
    1-D or 2-D ``X``, but writes into a preallocated ``out`` when given and
    runs without the GIL for float32/float64 data. Rows that are contiguous
    in memory are copied with ``memcpy`` and prefetched ahead; any other
    layout (Fortran order, strided views) takes a strided loop.

    Parameters
    ----------
    X : ndarray of shape (n,) or (n, p)
        Source. Read-only arrays and memmaps are fine.
    indices : 1-D array of int
        Rows to gather, any integer dtype; negative values count from the end.
    out : ndarray of shape (len(indices),) or (len(indices), p), optional
        Destination with X's dtype; must not overlap ``X``.

    Returns
    -------
    out : ndarray

    Raises
    ------
    IndexError
        An index is outside ``[-n, n)``.
    ValueError, TypeError
        Wrong dimensions, shapes or dtypes, a read-only or overlapping ``out``.
    """
    X = _as_array(X, "X")
    idx = _check_index(indices, X.shape[0])
    shape = (idx.shape[0],) + X.shape[1:]
    if out is None:
        out = np.empty(shape, dtype=X.dtype)
    else:
        _check_out(out, shape, X.dtype)
        _check_no_overlap(X, out, "X", "out")
    return _take_valid_rows(X, idx, out)


def _take_valid_rows(X, idx, out):
    """take_rows once everything is validated: idx is a C-contiguous int32
    or int64 array of indices in [0, n), out has the right shape and dtype
    and does not overlap X."""
    if idx.shape[0] == 0 or out.size == 0:
        return out
    if _compiled_float(X.dtype):
        if X.ndim == 1:
            _kernels.take_rows_1d(X, idx, out)
        else:
            _kernels.take_rows_2d(X, idx, out)
    else:
        # indices were validated above, so 'clip' never clips; it also avoids
        # numpy's buffered 'raise' mode.
        np.take(X, idx, axis=0, out=out, mode="clip")
    return out


def shuffle_rows(X, y=None, random_state=None):
    """Permute the rows of ``X`` (and ``y``) with one random permutation.

    The permutation is ``check_random_state(random_state).permutation(n)``,
    the same stream as ML-Ensemble and scikit-learn, so seeds reproduce
    their shuffles. Dense gathers run through :func:`take_rows` (GIL-free);
    sparse ``X`` is converted with :func:`to_csr` and row-indexed by scipy.

    Returns
    -------
    X_perm : ndarray or CSR matrix
    y_perm : ndarray or None
    permutation : ndarray of int
        ``X_perm[i] == X[permutation[i]]``.
    """
    if sp.issparse(X):
        n = X.shape[0]
    else:
        X = _as_array(X, "X")
        n = X.shape[0]
    if y is not None:
        y = _as_array(y, "y")
        if y.shape[0] != n:
            raise ValueError("X and y have different numbers of rows: %d and "
                             "%d" % (n, y.shape[0]))
    perm = check_random_state(random_state).permutation(n)
    # A permutation of range(n) needs no bounds check; make sure it is an
    # int32/int64 array (it is intp) before the unchecked gather.
    idx = perm
    if idx.dtype not in _INDEX or not idx.dtype.isnative \
            or not idx.flags.c_contiguous:
        idx = _check_index(perm, n)
    if sp.issparse(X):
        X_perm = to_csr(X, "X")[idx]
    else:
        X_perm = _take_valid_rows(X, idx, np.empty((n,) + X.shape[1:],
                                                   dtype=X.dtype))
    y_perm = None if y is None else _take_valid_rows(
        y, idx, np.empty((n,) + y.shape[1:], dtype=y.dtype))
    return X_perm, y_perm, perm


###############################################################################
# Feature propagation

def _check_propagation(P_in, columns, row_offset, P_out):
    if len(P_in.shape) != 2:
        raise ValueError("P_in must be 2-D, got shape %r" % (P_in.shape,))
    if len(P_out.shape) != 2:
        raise ValueError("P_out must be 2-D, got shape %r" % (P_out.shape,))
    n_out = P_out.shape[0]
    cols = _check_index(columns, P_in.shape[1], "columns")
    if cols.shape[0] > P_out.shape[1]:
        raise ValueError("cannot propagate %d columns into P_out with %d "
                         "columns" % (cols.shape[0], P_out.shape[1]))
    if not isinstance(row_offset, (numbers.Integral, np.integer)) \
            or isinstance(row_offset, bool):
        raise TypeError("row_offset must be an int, got %r" % (row_offset,))
    row_offset = int(row_offset)
    if row_offset < 0 or row_offset + n_out > P_in.shape[0]:
        raise ValueError("row_offset=%d with %d output rows needs rows "
                         "[%d, %d) of P_in, which has %d rows"
                         % (row_offset, n_out, row_offset, row_offset + n_out,
                            P_in.shape[0]))
    return cols, row_offset


def check_cast(src, dst, src_name="P_in", dst_name="P_out"):
    """Refuse a copy from dtype ``src`` into ``dst`` that loses more than
    floating-point precision (the rule of :func:`propagate_features`).

    Callers that allocate ``P_out`` can run it before any work is done.

    Narrowing between floating dtypes (float64 features into a float32
    prediction array, mlcore's default) is allowed, as in numpy's
    ``same_kind`` casting. What is refused is what numpy's assignment would
    do silently: drop the imaginary part of complex values, truncate
    floats into integers, wrap integers into a narrower or unsigned
    integer type, or convert objects.

    Raises
    ------
    TypeError
        Naming both dtypes, what would be lost, and a dtype that works.
    """
    src, dst = np.dtype(src), np.dtype(dst)
    if np.can_cast(src, dst, casting="safe"):
        return
    if dst.kind in "fc" and src.kind in "biufc" \
            and np.can_cast(src, dst, casting="same_kind"):
        return
    if src.kind == "c" and dst.kind != "c":
        why = "the imaginary parts would be dropped"
    elif src.kind == "f" and dst.kind in "iub":
        why = "the values would be truncated to integers"
    elif src.kind in "iu" and dst.kind in "iub":
        why = "integers could wrap around"
    else:
        why = "numpy cannot convert them without losing information"
    raise TypeError(
        "cannot copy %s of dtype %s into %s of dtype %s: %s. Give %s a "
        "dtype that holds %s's values (e.g. %s)"
        % (src_name, src, dst_name, dst, why, dst_name, src_name,
           np.result_type(src, dst)))


def propagate_features(P_in, columns, row_offset, P_out):
    """Copy input columns into the first columns of an output array.

    In place: ``P_out[:, :k] = P_in[row_offset:row_offset + n, columns]``
    with ``k = len(columns)`` and ``n = P_out.shape[0]``; the other
    columns of ``P_out`` are not touched. One pass, no temporary; this is
    how a layer passes input features on to the next layer. The usual case
    ``row_offset = P_in.shape[0] - n`` reads the last ``n`` rows.

    Parameters
    ----------
    P_in : ndarray of shape (n_in, p)
    columns : 1-D array of int
        Columns of ``P_in``; negative values count from the end.
    row_offset : int
        First row of ``P_in`` that maps to row 0 of ``P_out``.
    P_out : ndarray of shape (n, q), q >= len(columns)
        Written in place. Must not overlap ``P_in``. Its dtype must hold
        ``P_in``'s values: any floating dtype for real input (float64 into
        float32 rounds, as numpy's assignment does), a complex dtype for
        complex input, an integer dtype only for integers it can hold.

    Returns
    -------
    P_out : ndarray

    Raises
    ------
    TypeError
        Sparse or non-array arguments, non-integer columns, or a ``P_out``
        dtype that would lose information (complex into real, float into
        integer, integer wrap-around, objects).
    IndexError
        A column outside ``[-p, p)``.
    ValueError
        Wrong dimensions or row range, too many columns, a read-only or
        overlapping ``P_out``.
    """
    if sp.issparse(P_in) or sp.issparse(P_out):
        raise TypeError("propagate_features works on dense arrays; use "
                        "propagate_features_sparse for sparse inputs")
    P_in = _as_array(P_in, "P_in", (2,))
    if not isinstance(P_out, np.ndarray):
        raise TypeError("P_out must be a numpy array, got %s"
                        % type(P_out).__name__)
    cols, row_offset = _check_propagation(P_in, columns, row_offset, P_out)
    if not P_out.flags.writeable:
        raise ValueError("P_out is read-only")
    check_cast(P_in.dtype, P_out.dtype, "P_in", "P_out")
    _check_no_overlap(P_in, P_out, "P_in", "P_out")
    n, k = P_out.shape[0], cols.shape[0]
    if n == 0 or k == 0:
        return P_out
    if _compiled_float(P_in.dtype) and _compiled_float(P_out.dtype):
        _kernels.gather_cols(P_in, cols, row_offset, P_out)
    else:
        P_out[:, :k] = P_in[row_offset:row_offset + n][:, cols]
    return P_out


def _is_sparray(M):
    return isinstance(M, getattr(sp, "sparray", ()))


def propagate_features_sparse(P_in, columns, row_offset, P_out):
    """Build ``[P_in[rows, columns] | P_out[:, k:]]`` as one CSR matrix.

    Returns the matrix equal to::

        scipy.sparse.hstack([P_in[row_offset:row_offset + n, columns],
                             P_out[:, k:]], format="csr")

    with ``n = P_out.shape[0]`` and ``k = len(columns)``, built directly by
    a count pass, a prefix sum and a fill pass (never through LIL or COO).
    The result is canonical (sorted indices, no duplicates), stores int32
    indices when they fit, has the dtype scipy's ``hstack`` would give, and
    drops zeros of a dense ``P_out`` the way scipy does. It is a
    ``csr_array`` when either input is a sparse array, else a
    ``csr_matrix``.

    Parameters
    ----------
    P_in : scipy.sparse matrix or array of shape (n_in, p), any format
    columns : 1-D array of int
    row_offset : int
    P_out : ndarray or scipy.sparse matrix of shape (n, q), q >= k
        Boolean, integer, floating or complex values.

    Returns
    -------
    csr_matrix or csr_array of shape (n, q)

    Raises
    ------
    ValueError
        A corrupt sparse input (see :func:`to_csr`), wrong dimensions, row
        range or number of columns.
    TypeError, IndexError
        As :func:`propagate_features`; also a dense ``P_out`` of object,
        string or other non-numeric dtype.
    """
    if not sp.issparse(P_in):
        raise TypeError("P_in must be a scipy.sparse matrix; use "
                        "propagate_features for dense inputs")
    if not sp.issparse(P_out):
        P_out = _as_array(P_out, "P_out", (2,))
        if P_out.dtype.kind not in _SPARSE_KINDS:
            raise TypeError("P_out has dtype %s; sparse propagation needs "
                            "boolean, integer, floating or complex values"
                            % P_out.dtype)
    cols, row_offset = _check_propagation(P_in, columns, row_offset, P_out)
    n, k = P_out.shape[0], cols.shape[0]
    as_array = _is_sparray(P_in) or _is_sparray(P_out)
    csr = sp.csr_array if as_array else sp.csr_matrix
    # Structure checks first: nothing below, scipy included, may see a
    # corrupt matrix.
    A = to_csr(P_in, "P_in")
    dtype = np.result_type(A.dtype, P_out.dtype)
    if sp.issparse(P_out):
        B = to_csr(P_out, "P_out")
    else:
        B = P_out
        if not B.dtype.isnative:  # scipy.sparse rejects these: convert
            B = B.astype(B.dtype.newbyteorder("="))
        if B.dtype == np.float16:
            # scipy.sparse has no float16; float32 holds its values exactly.
            B = B.astype(np.float32)
        dtype = np.result_type(A.dtype, B.dtype)
    if (_compiled_float(dtype) and _compiled_float(A.dtype)
            and _compiled_float(B.dtype)):
        data, indices, indptr = _kernels.csr_hstack(A, cols, row_offset, B,
                                                    dtype)
        out = csr((data, indices, indptr), shape=P_out.shape)
        # Canonical by construction (tests check it independently); saying
        # so spares scipy its own O(nnz) check (to_csr checks regardless).
        out.has_canonical_format = True
        return out
    left = A[row_offset:row_offset + n][:, cols]
    right = B[:, k:]
    out = sp.hstack([left, right], format="csr", dtype=dtype)
    out = csr(out)
    out.sum_duplicates()
    return out


###############################################################################
# Sparse conversion and rebasing

def _matrix_name(M, name):
    return "%s (%s of shape %r)" % (name, type(M).__name__, tuple(M.shape))


def _sparse_shape(M, name):
    shape = tuple(M.shape)
    if len(shape) != 2:
        raise ValueError("%s must be 2-D, got a %s of shape %r"
                         % (name, type(M).__name__, shape))
    if any(not isinstance(d, (numbers.Integral, np.integer)) or d < 0
           for d in shape):
        raise ValueError("%s has an invalid shape %r" % (name, shape))
    return int(shape[0]), int(shape[1])


def _index_array(a, where, what):
    """``a`` as a C-contiguous, aligned, native int32 or int64 vector."""
    if not isinstance(a, np.ndarray):
        raise TypeError("%s: %s must be a numpy array, got %s"
                        % (where, what, type(a).__name__))
    if a.ndim != 1:
        raise ValueError("%s: %s must be 1-D, got shape %r"
                         % (where, what, a.shape))
    if a.dtype.kind not in "iu":
        raise TypeError("%s: %s must hold integers, got dtype %s"
                        % (where, what, a.dtype))
    if a.dtype not in _INDEX or not a.dtype.isnative:
        if a.dtype.kind == "u" and a.size \
                and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError("%s: %s holds %d, beyond the int64 range"
                             % (where, what, int(a.max())))
        a = a.astype(np.int64)
    return np.require(a, requirements=["C", "A"])


def _check_values(data, where, n_entries, tail=()):
    """The value array of a sparse matrix: numeric, one entry (or block of
    shape ``tail``) per stored index."""
    if not isinstance(data, np.ndarray):
        raise TypeError("%s: data must be a numpy array, got %s"
                        % (where, type(data).__name__))
    if data.shape[1:] != tuple(tail) or data.ndim != 1 + len(tail):
        raise ValueError("%s: data has shape %r, expected (n_entries,)%s"
                         % (where, data.shape,
                            " + %r" % (tuple(tail),) if tail else ""))
    if data.shape[0] != n_entries:
        raise ValueError("%s: data has %d entries but indices has %d; the "
                         "two must have the same length"
                         % (where, data.shape[0], n_entries))
    if data.dtype.kind not in _SPARSE_KINDS:
        raise TypeError("%s: data has dtype %s; sparse matrices must hold "
                        "boolean, integer, floating or complex values"
                        % (where, data.dtype))


_CORRUPT = ("; the matrix is corrupt (scipy does not check the arrays a "
            "sparse matrix is built from, nor changes made to them "
            "afterwards)")


def _check_compressed(M, name):
    """Check the structure of a CSR, CSC or BSR matrix.

    Returns ``(indptr, indices, canonical, nnz)``: the index arrays as
    native int32/int64 vectors (``M``'s own arrays when they already are),
    whether every row holds strictly increasing indices (computed here,
    never taken from ``M.has_canonical_format``) and ``indptr[-1]``.
    """
    where = _matrix_name(M, name)
    n, p = _sparse_shape(M, name)
    tail = ()
    if M.format == "csr":
        major, minor, rows, entry = n, p, "row", "column index"
    elif M.format == "csc":
        major, minor, rows, entry = p, n, "column", "row index"
    else:  # bsr: the structure is that of a CSR matrix of blocks
        r, c = (int(b) for b in M.blocksize)
        if r <= 0 or c <= 0 or n % r or p % c:
            raise ValueError("%s: blocksize %r does not divide the shape"
                             % (where, (r, c)))
        major, minor, rows, entry = n // r, p // c, "block row", \
            "block column index"
        tail = (r, c)
    indptr = _index_array(M.indptr, where, "indptr")
    indices = _index_array(M.indices, where, "indices")
    if indptr.shape[0] != major + 1:
        raise ValueError("%s: indptr has %d entries, expected %d (one per "
                         "%s, plus one)%s" % (where, indptr.shape[0],
                                              major + 1, rows, _CORRUPT))
    _check_values(M.data, where, indices.shape[0], tail)
    status, pos, value = _kernels.check_compressed(indptr, indices, minor)
    if status == _kernels.CSR_BAD_START:
        raise ValueError("%s: indptr[0] is %d, expected 0%s"
                         % (where, value, _CORRUPT))
    if status == _kernels.CSR_DECREASING:
        raise ValueError("%s: indptr decreases at %s %d (indptr[%d] = %d < "
                         "indptr[%d] = %d); it must be non-decreasing%s"
                         % (where, rows, pos, pos + 1, value, pos,
                            int(indptr[pos]), _CORRUPT))
    if status == _kernels.CSR_PAST_END:
        raise ValueError("%s: indptr[%d] = %d is past the end of indices "
                         "and data (%d entries)%s"
                         % (where, pos + 1, value, indices.shape[0],
                            _CORRUPT))
    if status == _kernels.CSR_OUT_OF_RANGE:
        raise ValueError("%s: indices[%d] = %d is not a valid %s: expected "
                         "0 <= index < %d%s"
                         % (where, pos, value, entry, minor, _CORRUPT))
    return indptr, indices, status == _kernels.CSR_CANONICAL, int(value)


def _check_coordinates(M, name):
    """COO: coordinate vectors of one length, every entry inside the
    shape (scipy's COO to CSR conversion writes out of bounds otherwise)."""
    where = _matrix_name(M, name)
    n, p = _sparse_shape(M, name)
    row = _index_array(M.row, where, "row")
    col = _index_array(M.col, where, "col")
    if row.shape[0] != col.shape[0]:
        raise ValueError("%s: row has %d entries and col %d%s"
                         % (where, row.shape[0], col.shape[0], _CORRUPT))
    _check_values(M.data, where, row.shape[0])
    for what, a, bound in (("row", row, n), ("col", col, p)):
        if a.size:
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= bound:
                bad = lo if lo < 0 else hi
                raise ValueError("%s: %s index %d is out of range: expected "
                                 "0 <= index < %d%s"
                                 % (where, what, bad, bound, _CORRUPT))


def _check_diagonals(M, name):
    """DIA: one offset per row of data (scipy's conversion reads past the
    offsets otherwise)."""
    where = _matrix_name(M, name)
    _sparse_shape(M, name)
    offsets = _index_array(M.offsets, where, "offsets")
    data = M.data
    if not isinstance(data, np.ndarray) or data.ndim != 2:
        raise ValueError("%s: data must be a 2-D array (one row per "
                         "diagonal), got %r" % (where, getattr(
                             data, "shape", type(data).__name__)))
    if data.shape[0] != offsets.shape[0]:
        raise ValueError("%s: data has %d diagonals but offsets has %d "
                         "entries%s" % (where, data.shape[0],
                                        offsets.shape[0], _CORRUPT))
    if data.dtype.kind not in _SPARSE_KINDS:
        raise TypeError("%s: data has dtype %s; sparse matrices must hold "
                        "boolean, integer, floating or complex values"
                        % (where, data.dtype))


def _check_lists(M, name):
    """LIL: one list of column indices and one of values per row, of equal
    lengths (scipy's conversion writes past its buffers otherwise)."""
    where = _matrix_name(M, name)
    n, p = _sparse_shape(M, name)
    for what in ("rows", "data"):
        a = getattr(M, what)
        if not isinstance(a, np.ndarray) or a.shape != (n,):
            raise ValueError("%s: %s must be an array of %d lists, got %r%s"
                             % (where, what, n, getattr(a, "shape", a),
                                _CORRUPT))
    try:
        lengths = [np.fromiter(map(len, getattr(M, what)), dtype=np.intp,
                               count=n) for what in ("rows", "data")]
    except TypeError as exc:
        raise ValueError("%s: every entry of rows and data must be a list "
                         "(%s)%s" % (where, exc, _CORRUPT)) from None
    bad = np.flatnonzero(lengths[0] != lengths[1])
    if bad.size:
        i = int(bad[0])
        raise ValueError("%s: row %d has %d column indices but %d values%s"
                         % (where, i, lengths[0][i], lengths[1][i], _CORRUPT))
    if p == 0 and lengths[0].any():
        # scipy converts a matrix without columns to an empty one, whatever
        # its rows hold; the converted matrix is range-checked otherwise.
        i = int(np.flatnonzero(lengths[0])[0])
        raise ValueError("%s: row %d holds an entry, but the matrix has no "
                         "columns%s" % (where, i, _CORRUPT))


_PRECHECKS = {"csc": _check_compressed, "bsr": _check_compressed,
              "coo": _check_coordinates, "dia": _check_diagonals,
              "lil": _check_lists, "dok": _sparse_shape}


def _shares_arrays(C, M):
    mine = [getattr(M, a, None) for a in ("data", "indices", "indptr", "row",
                                          "col", "offsets")]
    return C is M or any(
        isinstance(a, np.ndarray) and np.may_share_memory(b, a)
        for a in mine for b in (C.data, C.indices, C.indptr))


def _canonical(C, canonical, nnz):
    """Make the CSR matrix ``C``, which mlcore owns and whose structure is
    valid, canonical and tight (``indptr[-1] == len(indices)``)."""
    if not canonical:
        # Whatever scipy cached, the check above found unsorted or
        # duplicate entries: make sum_duplicates do its work.
        C.has_sorted_indices = False
        C.has_canonical_format = False
        C.sum_duplicates()  # sorts, sums and prunes
    else:
        if nnz != C.indices.shape[0]:
            C.prune()
        C.has_canonical_format = True
    return C


def to_csr(M, name="M"):
    """Canonical CSR (sorted indices, duplicates summed) from any sparse
    format, after checking that ``M`` is a valid sparse matrix.

    Returns ``M`` itself, without a copy, when it already is canonical CSR
    with native int32/int64 index arrays, as verified by one pass over its
    ``indptr`` and ``indices`` (``M.has_canonical_format`` is not trusted:
    scipy caches it and computes it without checking index ranges).
    Otherwise converts with scipy's compiled routines (COO, CSC, BSR, DIA,
    DOK and LIL all have direct CSR conversions) and never through LIL. The
    input is never modified. Sparse arrays stay sparse arrays, matrices stay
    matrices.

    Parameters
    ----------
    M : scipy.sparse matrix or array, 2-D
    name : str
        How error messages call ``M``.

    Raises
    ------
    TypeError
        ``M`` is not sparse, its values are not numeric or its index arrays
        are not integers.
    ValueError
        ``M`` is corrupt: indices outside its shape, an ``indptr`` that
        does not start at 0, decreases or runs past the index arrays,
        index, value and offset arrays of inconsistent lengths.
    """
    if not sp.issparse(M):
        raise TypeError("%s must be a scipy.sparse matrix or array, got %s"
                        % (name, type(M).__name__))
    fmt = M.format
    if fmt == "csr":
        indptr, indices, canonical, nnz = _check_compressed(M, name)
        if canonical and nnz == indices.shape[0] and indptr is M.indptr \
                and indices is M.indices:
            M.has_canonical_format = True  # verified just now
            return M
        cls = sp.csr_array if _is_sparray(M) else sp.csr_matrix
        C = cls((np.array(M.data[:nnz]), np.array(indices[:nnz]),
                 np.array(indptr)), shape=M.shape)
        return _canonical(C, canonical, nnz)
    if fmt not in _PRECHECKS:
        raise TypeError("%s: unsupported sparse format %r"
                        % (_matrix_name(M, name), fmt))
    _PRECHECKS[fmt](M, name)
    try:
        C = M.tocsr()
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise ValueError("%s: cannot convert it to CSR: %s"
                         % (_matrix_name(M, name), exc)) from exc
    if _shares_arrays(C, M):
        C = C.copy()  # never sort or sum the caller's arrays
    # The conversion is only as good as its input (a LIL row can hold any
    # column index), and scipy may mark the result canonical when it is
    # not (DIA with repeated offsets): check it like any other input.
    _, _, canonical, nnz = _check_compressed(
        C, "%s (converted from %s)" % (name, fmt))
    if C.indices.dtype not in _INDEX or C.indptr.dtype not in _INDEX:
        C.indices = C.indices.astype(np.int64)
        C.indptr = C.indptr.astype(np.int64)
    return _canonical(C, canonical, nnz)


def rebase(targets, n_rows, offset=None):
    """The rows of ``targets`` that line up with ``n_rows`` output rows.

    By default the *last* ``n_rows`` rows, ``targets[len(targets) -
    n_rows:]``, which is how layers that predict only the tail of their
    input (blending, temporal folds) line up with the targets. With
    ``offset``, rows ``[offset, offset + n_rows)``: layers whose output
    starts elsewhere (a blend with ``train_size + test_size < n``).

    This is O(1): it returns a view and copies nothing (the view keeps the
    full ``targets`` alive).
    """
    if targets is None:
        return None
    shape = getattr(targets, "shape", None)
    if not isinstance(shape, tuple) or len(shape) == 0:
        raise TypeError("targets must be an array with at least one "
                        "dimension, got %s" % (
                            "a 0-d array" if shape == () else
                            type(targets).__name__))
    n = shape[0]
    if not isinstance(n_rows, (numbers.Integral, np.integer)) \
            or isinstance(n_rows, bool):
        raise TypeError("n_rows must be an int, got %r" % (n_rows,))
    n_rows = int(n_rows)
    if offset is None:
        if not 0 <= n_rows <= n:
            raise ValueError("cannot rebase %d targets onto %d rows"
                             % (n, n_rows))
        return targets[n - n_rows:]
    if not isinstance(offset, (numbers.Integral, np.integer)) \
            or isinstance(offset, bool):
        raise TypeError("offset must be an int, got %r" % (offset,))
    offset = int(offset)
    if n_rows < 0 or offset < 0 or offset + n_rows > n:
        raise ValueError("rows [%d, %d) are out of range for %d targets"
                         % (offset, offset + n_rows, n))
    return targets[offset:offset + n_rows]
