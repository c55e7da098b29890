# cython: language_level=3
"""Compiled, GIL-free loops behind :mod:`mlcore.kernels`.

Nothing here validates its inputs, except ``check_compressed``, the
structure check the wrappers run on every sparse input: the Python wrappers
in :mod:`mlcore.kernels` check shapes, dtypes, bounds and aliasing first,
which is what makes ``boundscheck=False`` and ``wraparound=False`` safe.
Those directives are set once, for the whole module, in setup.py; a build
with ``MLCORE_DEBUG_KERNELS=1`` turns bounds and initialization checks on
(``BOUNDS_CHECKED`` tells which build this is).
Inputs are ``const`` memoryviews so that read-only arrays and memmaps work.

Layout of the module:

* row gather (``take_rows_1d``, ``take_rows_2d``): ``memcpy`` of whole rows
  with software prefetch of the rows a few iterations ahead when rows are
  contiguous, strided loops otherwise;
* column gather (``gather_cols``): ``P_out[i, :k] = P_in[r + i, cols]`` in
  one pass, with a casting copy between float32 and float64;
* sparse propagation (``csr_hstack``): canonical CSR built directly by a
  count pass, a prefix sum and a fill pass;
* sparse structure check (``check_compressed``): one pass over indptr and
  indices that validates what the other loops rely on.

Measured and left out: software prefetch in the 1-D gather (no gain), and a
fused X + y gather for shuffles (tied or lost against two gathers at 1e5-1e6
rows, p = 10-100).
No OpenMP: the engine's own threads call these loops.
"""
from libc.string cimport memcpy
from libc.stdint cimport int64_t

import numpy as np

# Software prefetch. GCC and clang have the builtin; elsewhere it is a no-op.
cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define MLCORE_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #define MLCORE_PREFETCH(p) ((void)(p))
    #endif
    """
    void prefetch "MLCORE_PREFETCH"(const void *p) noexcept nogil


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

# Separate fused index types for the sparse kernel: A's indices, B's indices
# and the output's indices vary independently.
ctypedef fused aindex_t:
    int
    long long

ctypedef fused bindex_t:
    int
    long long

ctypedef fused oindex_t:
    int
    long long

cdef enum:
    # Rows are prefetched this many iterations ahead ...
    PF_ROWS = 16
    # ... and at most this many bytes of each future row (wider rows are
    # sequential enough for the hardware prefetcher).
    PF_MAX_BYTES = 512
    # Cache line size.
    LINE = 64

cdef int64_t INT32_MAX = 2147483647

# setup.py defines MLCORE_DEBUG_KERNELS=1 in the bounds-checked build.
cdef extern from *:
    """
    #ifndef MLCORE_DEBUG_KERNELS
    #define MLCORE_DEBUG_KERNELS 0
    #endif
    """
    int MLCORE_DEBUG_KERNELS

#: True in a build with bounds checks (``MLCORE_DEBUG_KERNELS=1``).
BOUNDS_CHECKED = bool(MLCORE_DEBUG_KERNELS)

# Coverage for the fuzzer (tools/fuzz_kernels.py) in a build made with
# MLCORE_FUZZ_COVERAGE=1: gcc's -fsanitize-coverage=trace-pc calls
# __sanitizer_cov_trace_pc in every basic block; this one counts the blocks
# in 8-bit counters (hashed by address) that the fuzzer hands to libFuzzer.
# gcc has no inline 8-bit counters of its own, and libFuzzer's trace_pc is
# a stub, hence this shim. Normal builds compile none of it.
cdef extern from *:
    """
    #include <stdint.h>
    #ifdef MLCORE_FUZZ_COVERAGE
    #define MLCORE_COV_N 65536
    static uint8_t mlcore_cov_counters[MLCORE_COV_N]
        __attribute__((aligned(4096)));
    static uintptr_t mlcore_cov_pcs[2 * MLCORE_COV_N]
        __attribute__((aligned(4096)));

    __attribute__((visibility("hidden"), no_sanitize_coverage))
    void __sanitizer_cov_trace_pc(void) {
        uint64_t pc = (uint64_t)(uintptr_t)__builtin_return_address(0);
        mlcore_cov_counters[(pc * 0x9E3779B97F4A7C15ULL) >> 48]++;
    }

    /* counters_init, pcs_init: libFuzzer's __sanitizer_cov_8bit_counters_init
       and __sanitizer_cov_pcs_init. */
    __attribute__((no_sanitize_coverage))
    static int mlcore_fuzz_register(uintptr_t counters_init,
                                    uintptr_t pcs_init) {
        static int done = 0;
        size_t i;
        if (done)
            return 1;
        if (!counters_init || !pcs_init)
            return 0;
        done = 1;
        for (i = 0; i < MLCORE_COV_N; i++) {
            mlcore_cov_pcs[2 * i] = (uintptr_t) &mlcore_cov_counters[i];
            mlcore_cov_pcs[2 * i + 1] = 0;
        }
        ((void (*)(uint8_t *, uint8_t *)) counters_init)(
            mlcore_cov_counters, mlcore_cov_counters + MLCORE_COV_N);
        ((void (*)(const uintptr_t *, const uintptr_t *)) pcs_init)(
            mlcore_cov_pcs, mlcore_cov_pcs + 2 * MLCORE_COV_N);
        return 1;
    }
    #else
    static int mlcore_fuzz_register(uintptr_t a, uintptr_t b) {
        (void) a; (void) b;
        return 0;
    }
    #endif
    """
    int mlcore_fuzz_register(size_t counters_init, size_t pcs_init)


def fuzz_coverage_register(size_t counters_init, size_t pcs_init):
    """Hand this module's coverage counters to libFuzzer, given the
    addresses of its two registration functions. True in a coverage build
    (then or earlier), False in any other build."""
    return bool(mlcore_fuzz_register(counters_init, pcs_init))


###############################################################################
# Structure check of a compressed sparse matrix (CSR, CSC, BSR)
#
# scipy builds a matrix from (data, indices, indptr) without looking at the
# values, and caches has_canonical_format, so neither tells whether the
# arrays are safe to walk. This loop is safe on any input: it reads
# indices[jj] only after checking that jj lies below indptr's verified end.

# Status codes of check_compressed (negative: invalid).
cdef enum:
    _CANONICAL = 0       # valid, strictly increasing indices in every row
    _UNSORTED = 1        # valid, but unsorted or duplicate indices
    _BAD_START = -1      # indptr[0] != 0
    _DECREASING = -2     # indptr[pos + 1] < indptr[pos]
    _PAST_END = -3       # indptr[pos + 1] > len(indices)
    _OUT_OF_RANGE = -4   # indices[pos] outside [0, n_minor)

CSR_CANONICAL = _CANONICAL
CSR_UNSORTED = _UNSORTED
CSR_BAD_START = _BAD_START
CSR_DECREASING = _DECREASING
CSR_PAST_END = _PAST_END
CSR_OUT_OF_RANGE = _OUT_OF_RANGE


def check_compressed(const aindex_t[::1] indptr, const bindex_t[::1] indices,
                     Py_ssize_t n_minor):
    """Check indptr and indices of a compressed matrix with
    ``len(indptr) - 1`` rows (major axis) and ``n_minor`` columns.

    Returns ``(status, pos, value)``: a status code above, the row (for
    indptr faults) or entry (for an index out of range) at fault, and the
    offending value. For a valid matrix ``pos`` is -1 and ``value`` the
    number of entries, ``indptr[-1]``.
    """
    cdef Py_ssize_t i, jj, s, e, n_major = indptr.shape[0] - 1
    cdef Py_ssize_t nnz_max = indices.shape[0]
    cdef int64_t c, prev
    cdef int status = _CANONICAL
    cdef Py_ssize_t pos = -1
    cdef int64_t value = 0
    if n_major < 0:
        return _BAD_START, 0, 0
    with nogil:
        if indptr[0] != 0:
            status = _BAD_START
            pos = 0
            value = indptr[0]
        else:
            e = 0
            for i in range(n_major):
                s = e
                e = indptr[i + 1]
                if e < s:
                    status = _DECREASING
                    pos = i
                    value = e
                    break
                if e > nnz_max:
                    status = _PAST_END
                    pos = i
                    value = e
                    break
                prev = -1
                for jj in range(s, e):
                    c = indices[jj]
                    if c < 0 or c >= n_minor:
                        status = _OUT_OF_RANGE
                        pos = jj
                        value = c
                        break
                    if c <= prev:
                        status = _UNSORTED
                    prev = c
                if status < 0:
                    break
            if status >= 0:
                value = e
    return status, pos, value


###############################################################################
# Row gather

cdef inline Py_ssize_t _abs(Py_ssize_t x) noexcept nogil:
    return -x if x < 0 else x


cdef inline void _prefetch_row(const char *row, Py_ssize_t nbytes) noexcept nogil:
    cdef Py_ssize_t off = 0
    if nbytes > PF_MAX_BYTES:
        nbytes = PF_MAX_BYTES
    while off < nbytes:
        prefetch(row + off)
        off += LINE
    # The last line of the row, which the loop misses when the row does not
    # start on a line boundary.
    prefetch(row + nbytes - 1)


cdef void _gather_rows_memcpy(const char *src, Py_ssize_t src_stride,
                              const index_t *idx, Py_ssize_t n,
                              char *dst, Py_ssize_t dst_stride,
                              Py_ssize_t rowbytes) noexcept nogil:
    """dst row i = src row idx[i], whole rows copied with memcpy."""
    cdef Py_ssize_t i, head = n - PF_ROWS
    for i in range(head):
        _prefetch_row(src + <Py_ssize_t> idx[i + PF_ROWS] * src_stride, rowbytes)
        memcpy(dst + i * dst_stride, src + <Py_ssize_t> idx[i] * src_stride,
               rowbytes)
    for i in range(head if head > 0 else 0, n):
        memcpy(dst + i * dst_stride, src + <Py_ssize_t> idx[i] * src_stride,
               rowbytes)


def take_rows_1d(const floating[:] X, const index_t[::1] idx, floating[:] out):
    """out[i] = X[idx[i]] for a 1-D X; idx must be valid and non-negative."""
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef Py_ssize_t xs, os
    cdef const floating *xp
    cdef floating *op
    if n == 0:
        return
    xs = X.strides[0]
    os = out.strides[0]
    with nogil:
        if xs == sizeof(floating) and os == sizeof(floating):
            xp = &X[0]
            op = &out[0]
            for i in range(n):
                op[i] = xp[idx[i]]
        else:
            for i in range(n):
                out[i] = X[idx[i]]


def take_rows_2d(const floating[:, :] X, const index_t[::1] idx,
                 floating[:, :] out):
    """out[i, :] = X[idx[i], :]; idx must be valid and non-negative.

    Rows that are contiguous in both X and out (any row stride) are copied
    with memcpy while later rows are prefetched; otherwise a strided loop
    runs in the order that suits X's layout.
    """
    cdef Py_ssize_t i, j, r, n = idx.shape[0], p = X.shape[1]
    cdef Py_ssize_t itemsize = sizeof(floating)
    if n == 0 or p == 0:
        return
    cdef Py_ssize_t xs0 = X.strides[0], xs1 = X.strides[1]
    cdef Py_ssize_t os0 = out.strides[0], os1 = out.strides[1]
    with nogil:
        if (xs1 == itemsize and os1 == itemsize) or p == 1:
            _gather_rows_memcpy(<const char *> &X[0, 0], xs0, &idx[0], n,
                                <char *> &out[0, 0], os0, p * itemsize)
        elif _abs(xs0) < _abs(xs1):
            # Column-major-like X (Fortran order): gather column by column,
            # so that the reads stay within one column at a time.
            for j in range(p):
                for i in range(n):
                    out[i, j] = X[idx[i], j]
        else:
            for i in range(n):
                r = idx[i]
                for j in range(p):
                    out[i, j] = X[r, j]


###############################################################################
# Column gather (dense feature propagation)

def gather_cols(const floating_in[:, :] P_in, const index_t[::1] cols,
                Py_ssize_t row_offset, floating_out[:, :] P_out):
    """P_out[i, j] = P_in[row_offset + i, cols[j]] for j < len(cols).

    One pass, no temporary; float32 <-> float64 casts happen in the loop.
    The wrapper has checked the columns, the row range and the shapes.
    """
    cdef Py_ssize_t i, j, c, n = P_out.shape[0], k = cols.shape[0]
    cdef Py_ssize_t in_s0, out_s0, c0
    cdef const char *in_base
    cdef char *out_base
    cdef const floating_in *in_row
    cdef floating_out *out_row
    cdef bint is_range
    if n == 0 or k == 0:
        return
    in_s0 = P_in.strides[0]
    out_s0 = P_out.strides[0]
    cdef Py_ssize_t in_s1 = P_in.strides[1], out_s1 = P_out.strides[1]
    with nogil:
        if ((in_s1 == sizeof(floating_in) or P_in.shape[1] == 1)
                and (out_s1 == sizeof(floating_out) or k == 1)):
            in_base = <const char *> &P_in[row_offset, 0]
            out_base = <char *> &P_out[0, 0]
            # A run of consecutive columns in the same dtype is a memcpy.
            is_range = floating_in is floating_out
            c0 = cols[0]
            for j in range(1, k):
                if cols[j] != c0 + j:
                    is_range = False
                    break
            if is_range:
                for i in range(n):
                    memcpy(out_base + i * out_s0,
                           in_base + i * in_s0 + c0 * sizeof(floating_in),
                           k * sizeof(floating_in))
            else:
                for i in range(n):
                    in_row = <const floating_in *> (in_base + i * in_s0)
                    out_row = <floating_out *> (out_base + i * out_s0)
                    for j in range(k):
                        out_row[j] = <floating_out> in_row[cols[j]]
        elif _abs(in_s0) < _abs(in_s1):
            # Fortran-like input: walk one input column at a time.
            for j in range(k):
                c = cols[j]
                for i in range(n):
                    P_out[i, j] = <floating_out> P_in[row_offset + i, c]
        else:
            for i in range(n):
                for j in range(k):
                    P_out[i, j] = <floating_out> P_in[row_offset + i, cols[j]]


###############################################################################
# Sparse feature propagation: [A[rows, cols] | B[:, k:]] as canonical CSR
#
# Output row i holds first the entries of A[row_offset + i, cols] (output
# column j for cols[j]) and then the entries of B[i, k:] (output column =
# B's column). One pass counts the entries of every row and accumulates
# indptr directly in the output index dtype; a dense B has its per-row
# nonzeros counted first (b_counts), in the order that suits its layout.
# Then the A part and the B part of every row are filled in two passes.
#
# The A fill (for sorted cols) and the dense-B fill are branch-free: every
# candidate entry is written at the current position and the position
# advances only when the entry is kept, so a rejected candidate leaves a
# stray write one slot past the last kept entry. The output arrays have
# one slot of slack at the end for the last row, and:
# * the A pass runs first, row by row; its stray slot is the first slot of
#   this row's B part or of a later row, which a later write overwrites;
# * the B pass runs second; its stray slot is the first slot of the next
#   row, which may already hold that row's A part, so the B pass saves that
#   slot before a row and restores it afterwards.

cdef inline Py_ssize_t _lower_bound(const bindex_t *a, Py_ssize_t lo,
                                    Py_ssize_t hi, Py_ssize_t value) noexcept nogil:
    """First position in the sorted a[lo:hi] whose value is >= value."""
    cdef Py_ssize_t mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if a[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _count_b_dense(const floating[:, :] B, Py_ssize_t k, oindex_t[::1] b_counts):
    """b_counts[i] = nonzeros (NaN included) of B[i, k:]."""
    cdef Py_ssize_t i, j, n = B.shape[0], q = B.shape[1]
    cdef oindex_t c
    cdef const floating *row
    cdef Py_ssize_t s0 = B.strides[0], s1 = B.strides[1]
    with nogil:
        if s1 == sizeof(floating):
            for i in range(n):
                row = &B[i, 0]
                c = 0
                for j in range(k, q):
                    c += row[j] != 0
                b_counts[i] = c
        elif _abs(s0) < _abs(s1):
            # Column-major-like B: one column at a time.
            for i in range(n):
                b_counts[i] = 0
            for j in range(k, q):
                for i in range(n):
                    b_counts[i] += B[i, j] != 0
        else:
            for i in range(n):
                c = 0
                for j in range(k, q):
                    c += B[i, j] != 0
                b_counts[i] = c


def _count_a_rows(const aindex_t[::1] a_indptr, const aindex_t[::1] a_indices,
                  Py_ssize_t row_offset, const Py_ssize_t[::1] mult,
                  oindex_t[::1] a_counts):
    """a_counts[i] = entries of A's row row_offset + i over the propagated
    columns, a column counting as often as it occurs in cols (mult)."""
    cdef Py_ssize_t i, jj, n = a_counts.shape[0]
    cdef oindex_t c
    with nogil:
        for i in range(n):
            c = 0
            for jj in range(a_indptr[row_offset + i],
                            a_indptr[row_offset + i + 1]):
                c += <oindex_t> mult[a_indices[jj]]
            a_counts[i] = c


def _count_a_flat(const aindex_t[::1] a_indptr, const aindex_t[::1] a_indices,
                  Py_ssize_t row_offset, const Py_ssize_t[::1] mult,
                  oindex_t[::1] cum, oindex_t[::1] a_counts):
    """Same result as _count_a_rows, without a loop per row: a running sum
    over the entries of the row range (cum, one slot per entry plus one),
    then a difference at the row boundaries. No data-dependent branches,
    which pays when rows are short."""
    cdef Py_ssize_t t, i, n = a_counts.shape[0]
    cdef Py_ssize_t lo = a_indptr[row_offset], hi = a_indptr[row_offset + n]
    cdef oindex_t total = 0
    with nogil:
        for t in range(lo, hi):
            cum[t - lo] = total
            total += <oindex_t> mult[a_indices[t]]
        cum[hi - lo] = total
        for i in range(n):
            a_counts[i] = (cum[a_indptr[row_offset + i + 1] - lo]
                           - cum[a_indptr[row_offset + i] - lo])


def _count_b_rows(const bindex_t[::1] b_indptr, const bindex_t[::1] b_indices,
                  Py_ssize_t k, oindex_t[::1] b_counts):
    """b_counts[i] = entries of the canonical CSR B's row i in columns >= k
    (the tail of the row): short rows counted, long ones binary-searched."""
    cdef Py_ssize_t i, jj, s, e, c, n = b_counts.shape[0]
    cdef const bindex_t *bi = NULL
    if b_indices.shape[0]:
        bi = &b_indices[0]
    with nogil:
        for i in range(n):
            s = b_indptr[i]
            e = b_indptr[i + 1]
            if e - s <= 16:
                c = 0
                for jj in range(s, e):
                    c += bi[jj] >= k
            else:
                c = e - _lower_bound(bi, s, e, k)
            b_counts[i] = <oindex_t> c


def _count_b_flat(const bindex_t[::1] b_indptr, const bindex_t[::1] b_indices,
                  Py_ssize_t k, oindex_t[::1] cum, oindex_t[::1] b_counts):
    """Same result as _count_b_rows through a running count over the
    entries (see _count_a_flat)."""
    cdef Py_ssize_t t, i, n = b_counts.shape[0]
    cdef Py_ssize_t lo = b_indptr[0], hi = b_indptr[n]
    cdef oindex_t total = 0
    with nogil:
        for t in range(lo, hi):
            cum[t - lo] = total
            total += b_indices[t] >= k
        cum[hi - lo] = total
        for i in range(n):
            b_counts[i] = cum[b_indptr[i + 1] - lo] - cum[b_indptr[i] - lo]


def _fill_a_sorted(const aindex_t[::1] a_indptr, const aindex_t[::1] a_indices,
                   const floating_in[::1] a_data, Py_ssize_t row_offset,
                   const Py_ssize_t[::1] colmap, const oindex_t[::1] indptr,
                   oindex_t[::1] indices, floating_out[::1] data):
    """A part for strictly increasing cols: colmap[c] = j, or -1 if c is not
    propagated. A's rows are sorted, so the output columns come out sorted.
    Branch-free (see above)."""
    cdef Py_ssize_t i, jj, pos, j, n = indptr.shape[0] - 1
    with nogil:
        for i in range(n):
            pos = indptr[i]
            for jj in range(a_indptr[row_offset + i],
                            a_indptr[row_offset + i + 1]):
                j = colmap[a_indices[jj]]
                indices[pos] = <oindex_t> j
                data[pos] = <floating_out> a_data[jj]
                pos += j >= 0


def _fill_a_general(const aindex_t[::1] a_indptr,
                    const aindex_t[::1] a_indices,
                    const floating_in[::1] a_data, Py_ssize_t row_offset,
                    const Py_ssize_t[::1] cols, Py_ssize_t[::1] where,
                    const oindex_t[::1] indptr, oindex_t[::1] indices,
                    floating_out[::1] data):
    """A part for any cols (unsorted, repeated): scatter the row's positions
    into ``where`` (one slot per column of A, -1 when absent), walk cols in
    output order, then clear the slots again. ``where`` must be all -1."""
    cdef Py_ssize_t i, jj, pos, j, w, s, e, k = cols.shape[0]
    cdef Py_ssize_t n = indptr.shape[0] - 1
    with nogil:
        for i in range(n):
            s = a_indptr[row_offset + i]
            e = a_indptr[row_offset + i + 1]
            if s == e:
                continue
            for jj in range(s, e):
                where[a_indices[jj]] = jj
            pos = indptr[i]
            for j in range(k):
                w = where[cols[j]]
                if w >= 0:
                    indices[pos] = <oindex_t> j
                    data[pos] = <floating_out> a_data[w]
                    pos += 1
            for jj in range(s, e):
                where[a_indices[jj]] = -1


def _fill_b_dense(const floating_in[:, :] B, Py_ssize_t k,
                  const oindex_t[::1] b_counts, const oindex_t[::1] indptr,
                  oindex_t[::1] indices, floating_out[::1] data):
    """B part from a dense B: the nonzeros (NaN included) of B[i, k:]."""
    cdef Py_ssize_t i, j, pos, end, n = B.shape[0], q = B.shape[1]
    cdef oindex_t saved_index
    cdef floating_out saved_value
    cdef floating_in v
    cdef const floating_in *row
    cdef bint contiguous = B.strides[1] == sizeof(floating_in)
    with nogil:
        for i in range(n):
            end = indptr[i + 1]
            pos = end - b_counts[i]
            if contiguous and b_counts[i] == q - k:
                # No zeros in this row (the usual case for predictions): a
                # plain, vectorizable copy without stray writes.
                row = &B[i, 0]
                for j in range(k, q):
                    indices[pos + j - k] = <oindex_t> j
                    data[pos + j - k] = <floating_out> row[j]
                continue
            saved_index = indices[end]
            saved_value = data[end]
            if contiguous:
                row = &B[i, 0]
                for j in range(k, q):
                    v = row[j]
                    indices[pos] = <oindex_t> j
                    data[pos] = <floating_out> v
                    pos += v != 0
            else:
                for j in range(k, q):
                    v = B[i, j]
                    indices[pos] = <oindex_t> j
                    data[pos] = <floating_out> v
                    pos += v != 0
            indices[end] = saved_index
            data[end] = saved_value


def _fill_b_csr(const bindex_t[::1] b_indptr, const bindex_t[::1] b_indices,
                const floating_in[::1] b_data, const oindex_t[::1] b_counts,
                const oindex_t[::1] indptr, oindex_t[::1] indices,
                floating_out[::1] data):
    """B part from a canonical CSR B: the tail of each row (its last
    b_counts[i] entries, the columns >= k), copied as one run."""
    cdef Py_ssize_t i, t, s, e, m, pos, n = indptr.shape[0] - 1
    with nogil:
        for i in range(n):
            m = b_counts[i]
            e = b_indptr[i + 1]
            s = e - m
            pos = indptr[i + 1] - m
            for t in range(m):
                indices[pos + t] = <oindex_t> b_indices[s + t]
                data[pos + t] = <floating_out> b_data[s + t]


# Rows with fewer entries than this on average are counted by the flat,
# branch-free loops (tests change it to exercise both ways).
_FLAT_ROWS_BELOW = 8


def _index_pair(M):
    """M's indptr and indices as contiguous native arrays of one dtype,
    int32 or int64 (scipy normally guarantees that already: no copy)."""
    indptr, indices = M.indptr, M.indices
    if (indptr.dtype != indices.dtype
            or indptr.dtype not in (np.dtype(np.int32), np.dtype(np.int64))):
        indptr = indptr.astype(np.int64)
        indices = indices.astype(np.int64)
    return np.ascontiguousarray(indptr), np.ascontiguousarray(indices)


def csr_hstack(A, cols, Py_ssize_t row_offset, B, dtype):
    """``hstack([A[row_offset:row_offset + n, cols], B[:, k:]])`` as canonical
    CSR arrays ``(data, indices, indptr)``.

    A is canonical CSR (float32/float64 data, int32/int64 indices). B is a
    canonical CSR or a dense 2-D float32/float64 array with ``n`` rows and
    ``q >= k`` columns; zeros of a dense B are dropped (NaN is kept), every
    stored entry of a sparse A or B is kept, explicit zeros included (as
    ``scipy.sparse.hstack(..., format='csr')`` does). ``cols`` is a valid,
    non-negative int32/int64 index array, possibly unsorted or repeated.

    ``dtype`` is the float32/float64 result dtype. Indices and indptr are
    int32 when the number of entries and both dimensions fit, else int64.
    The returned ``data`` and ``indices`` are views of buffers one element
    longer (slack for the branch-free fill).
    """
    dtype = np.dtype(dtype)
    cols = np.ascontiguousarray(cols, dtype=np.intp)
    cdef Py_ssize_t n = B.shape[0], q = B.shape[1], k = cols.shape[0]
    cdef Py_ssize_t p = A.shape[1]
    dense_b = isinstance(B, np.ndarray)
    use_a = k > 0

    a_indptr, a_indices = _index_pair(A)
    a_data = np.ascontiguousarray(A.data)
    mult = np.bincount(cols, minlength=p).astype(np.intp, copy=False)

    # An upper bound of nnz picks the index dtype before counting.
    bound = 0
    if use_a and n:
        bound = (int(a_indptr[row_offset + n]) - int(a_indptr[row_offset])) \
            * int(mult.max())
    if dense_b:
        bound += n * (q - k)
    else:
        b_indptr, b_indices = _index_pair(B)
        b_data = np.ascontiguousarray(B.data)
        bound += int(b_indptr[n]) - int(b_indptr[0])
    idx_dtype = np.int32 if max(bound, n, q) <= INT32_MAX else np.int64

    # Entries of every output row from A and from B (at most nnz each, so
    # idx_dtype holds them), then indptr by a prefix sum. Short rows are
    # counted without a loop per row (see _count_a_flat).
    a_counts = np.zeros(n, dtype=idx_dtype)
    b_counts = np.zeros(n, dtype=idx_dtype)
    if use_a and n:
        lo, hi = int(a_indptr[row_offset]), int(a_indptr[row_offset + n])
        if hi - lo < _FLAT_ROWS_BELOW * n:
            _count_a_flat(a_indptr, a_indices, row_offset, mult,
                          np.empty(hi - lo + 1, dtype=idx_dtype), a_counts)
        else:
            _count_a_rows(a_indptr, a_indices, row_offset, mult, a_counts)
    if q > k and n:
        if dense_b:
            _count_b_dense(B, k, b_counts)
        else:
            lo, hi = int(b_indptr[0]), int(b_indptr[n])
            if hi - lo < _FLAT_ROWS_BELOW * n:
                _count_b_flat(b_indptr, b_indices, k,
                              np.empty(hi - lo + 1, dtype=idx_dtype), b_counts)
            else:
                _count_b_rows(b_indptr, b_indices, k, b_counts)
    indptr = np.empty(n + 1, dtype=idx_dtype)
    indptr[0] = 0
    np.add(a_counts, b_counts, out=indptr[1:])
    np.cumsum(indptr[1:], out=indptr[1:])
    nnz = int(indptr[n])
    indices = np.empty(nnz + 1, dtype=idx_dtype)
    data = np.empty(nnz + 1, dtype=dtype)

    if nnz:
        if use_a:
            if k == 1 or bool(np.all(cols[1:] > cols[:k - 1])):
                colmap = np.full(p, -1, dtype=np.intp)
                colmap[cols] = np.arange(k, dtype=np.intp)
                _fill_a_sorted(a_indptr, a_indices, a_data, row_offset,
                               colmap, indptr, indices, data)
            else:
                where = np.full(p, -1, dtype=np.intp)
                _fill_a_general(a_indptr, a_indices, a_data, row_offset,
                                cols, where, indptr, indices, data)
        if q > k:
            if dense_b:
                _fill_b_dense(B, k, b_counts, indptr, indices, data)
            else:
                _fill_b_csr(b_indptr, b_indices, b_data, b_counts, indptr,
                            indices, data)
    indices = indices[:nnz]
    if idx_dtype is np.int64 and max(nnz, n, q) <= INT32_MAX:
        # The bound was loose; scipy would pick int32 here, so do the same.
        indptr = indptr.astype(np.int32)
        indices = indices.astype(np.int32)
    return data[:nnz], indices, indptr
