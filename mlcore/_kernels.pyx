# cython: language_level=3
"""Compiled, GIL-free loops behind :mod:`mlcore.kernels`.

Nothing here validates its inputs: the Python wrappers in
:mod:`mlcore.kernels` check shapes, dtypes, bounds and aliasing first,
which is what makes ``boundscheck=False`` and ``wraparound=False`` safe.
Inputs are ``const`` memoryviews so that read-only arrays and memmaps work.
"""
cimport cython

ctypedef fused floating:
    float
    double

ctypedef fused floating_in:
    float
    double

ctypedef fused floating_out:
    float
    double

ctypedef fused index_t:
    int
    long long


@cython.boundscheck(False)
@cython.wraparound(False)
def take_rows_1d(const floating[:] X, const index_t[::1] idx, floating[:] out):
    cdef Py_ssize_t i, n = idx.shape[0]
    with nogil:
        for i in range(n):
            out[i] = X[idx[i]]


@cython.boundscheck(False)
@cython.wraparound(False)
def take_rows_2d(const floating[:, :] X, const index_t[::1] idx,
                 floating[:, :] out):
    cdef Py_ssize_t i, j, r, n = idx.shape[0], p = X.shape[1]
    with nogil:
        for i in range(n):
            r = idx[i]
            for j in range(p):
                out[i, j] = X[r, j]


@cython.boundscheck(False)
@cython.wraparound(False)
def gather_cols(const floating_in[:, :] P_in, const index_t[::1] cols,
                Py_ssize_t row_offset, floating_out[:, :] P_out):
    cdef Py_ssize_t i, j, n = P_out.shape[0], k = cols.shape[0]
    with nogil:
        for i in range(n):
            for j in range(k):
                P_out[i, j] = <floating_out> P_in[row_offset + i, cols[j]]
