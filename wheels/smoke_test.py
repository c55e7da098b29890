#!/usr/bin/env python3
"""Smoke test for an *installed* mlcore wheel.

Run it with the interpreter of a venv that has the wheel installed, from a
directory outside the source tree (``wheels/build.sh`` does both)::

    /path/to/venv/bin/python -I wheels/smoke_test.py [--wheel FILE.whl]
                                                     [--source-root DIR]

It checks that ``mlcore`` and its compiled extension ``mlcore._kernels``
import from the venv's site-packages (not from a source checkout), then
compares every public data-movement kernel with a plain numpy/scipy
reference on small random data, with *exact* equality (values, dtypes,
shapes), including read-only inputs. Exit status 0 means every check passed;
any failure prints what went wrong and exits 1.

Only the public API of ``mlcore.kernels`` is used, so the script keeps
working while the internals change.
"""
import argparse
import os
import sys
import sysconfig
import traceback

FAILURES = []
N_CHECKS = 0


def check(cond, what):
    global N_CHECKS
    N_CHECKS += 1
    if not cond:
        FAILURES.append(what)
        print("  FAIL: %s" % what)


def raises(exc_type, func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except exc_type:
        return True
    except Exception as exc:  # wrong exception type
        print("  (expected %s, got %s: %s)"
              % (exc_type.__name__, type(exc).__name__, exc))
        return False
    return False


def same_dense(a, b):
    """Exact equality of two dense arrays: type, shape, dtype and values."""
    import numpy as np
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
            and a.shape == b.shape and a.dtype == b.dtype
            and np.array_equal(a, b))


def same_sparse(a, b):
    """Exact equality of sparse ``a`` (must be canonical CSR) and ``b``.

    Same shape and dtype, and the same canonical CSR structure: ``indptr``,
    ``indices`` and ``data`` equal element by element once ``b`` is put in
    canonical form by scipy (index dtypes may differ).
    """
    import numpy as np
    import scipy.sparse as sp
    if not (sp.issparse(a) and sp.issparse(b)):
        return False
    if not (a.format == "csr" and a.has_canonical_format):
        print("  (result is not canonical CSR: format %s)" % a.format)
        return False
    b = b.tocsr(copy=True)
    b.sum_duplicates()
    return (a.shape == b.shape and a.dtype == b.dtype
            and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data)
            and np.array_equal(a.toarray(), b.toarray()))


def readonly(a):
    a = a.copy()
    a.setflags(write=False)
    return a


###############################################################################
# Where did we import from?

def check_install_location(source_root):
    import mlcore
    import mlcore.kernels
    import mlcore._kernels

    site_dirs = {os.path.realpath(sysconfig.get_paths()[k])
                 for k in ("purelib", "platlib")}
    mod_files = {
        "mlcore.kernels": mlcore.kernels.__file__,
        "mlcore._kernels": mlcore._kernels.__file__,
    }
    for name, path in mod_files.items():
        real = os.path.realpath(path)
        print("  %-16s %s" % (name, path))
        check(any(real.startswith(d + os.sep) for d in site_dirs),
              "%s is not imported from this interpreter's site-packages "
              "(%s; site-packages: %s)" % (name, path, sorted(site_dirs)))
        if source_root:
            # The venv itself may live inside the checkout (wheels/.venv-*);
            # what must not happen is importing the package directory of
            # the checkout, <source_root>/mlcore.
            src_pkg = os.path.join(os.path.realpath(source_root), "mlcore")
            check(not real.startswith(src_pkg + os.sep),
                  "%s was imported from the source checkout (%s)"
                  % (name, path))
    ext = os.path.basename(mlcore._kernels.__file__)
    check(ext.endswith((".so", ".pyd")),
          "mlcore._kernels is not a compiled extension: %s" % ext)
    # No editable-install hooks or .pth redirections into the source tree.
    if source_root:
        root = os.path.realpath(source_root)
        check(not any(os.path.realpath(p or os.curdir) == root
                      for p in sys.path),
              "the source checkout %s is on sys.path" % root)


###############################################################################
# Kernel checks

def check_take_rows(rng):
    import numpy as np
    from mlcore.kernels import take_rows

    n, p = 37, 5
    for dtype in (np.float64, np.float32, np.int64, np.bool_):
        X = (rng.standard_normal((n, p)) * 10).astype(dtype)
        idx = rng.integers(-n, n, size=23)
        ref = X[idx]
        check(same_dense(take_rows(X, idx), ref),
              "take_rows 2-D C-order %s" % np.dtype(dtype))
        check(same_dense(take_rows(np.asfortranarray(X), idx), ref),
              "take_rows 2-D Fortran-order %s" % np.dtype(dtype))
        check(same_dense(take_rows(X[:, ::2], idx), X[:, ::2][idx]),
              "take_rows 2-D strided view %s" % np.dtype(dtype))
        check(same_dense(take_rows(X[:, 1], idx), X[:, 1][idx]),
              "take_rows 1-D %s" % np.dtype(dtype))
        check(same_dense(take_rows(readonly(X), idx), ref),
              "take_rows read-only input %s" % np.dtype(dtype))
        out = np.empty_like(ref)
        res = take_rows(readonly(X), idx, out=out)
        check(res is out and same_dense(out, ref),
              "take_rows into preallocated out %s" % np.dtype(dtype))

    X = rng.standard_normal((n, p))
    for idx_dtype in (np.int32, np.int64, np.uint8, np.int16, np.uint64):
        idx = rng.integers(0, n, size=11).astype(idx_dtype)
        check(same_dense(take_rows(X, idx), X[idx]),
              "take_rows with %s indices" % np.dtype(idx_dtype))
    check(same_dense(take_rows(X, np.array([], dtype=np.int64)), X[[]]),
          "take_rows with no indices")
    check(raises(IndexError, take_rows, X, [0, n]),
          "take_rows raises IndexError for an out-of-bounds index")
    check(raises(IndexError, take_rows, X, [-n - 1]),
          "take_rows raises IndexError for a too-negative index")
    check(raises(ValueError, take_rows, X, [0, 1],
                 out=readonly(np.empty((2, p)))),
          "take_rows raises ValueError for a read-only out")


def check_propagate_features(rng):
    import numpy as np
    from mlcore.kernels import propagate_features

    n_in, p, n, q = 40, 7, 25, 9
    for in_dtype in (np.float64, np.float32):
        for out_dtype in (np.float64, np.float32):
            P_in = rng.standard_normal((n_in, p)).astype(in_dtype)
            cols = np.array([6, 0, -2, 3])
            k = len(cols)
            for row_offset in (0, n_in - n, 7):
                for layout in ("C", "F"):
                    P_out = np.asarray(rng.standard_normal((n, q)),
                                       dtype=out_dtype, order=layout)
                    ref = P_out.copy()
                    ref[:, :k] = P_in[row_offset:row_offset + n][:, cols]
                    src = readonly(P_in)  # read-only input
                    res = propagate_features(src, cols, row_offset, P_out)
                    check(res is P_out and same_dense(P_out, ref),
                          "propagate_features %s -> %s, row_offset=%d, "
                          "%s-order out" % (np.dtype(in_dtype),
                                            np.dtype(out_dtype), row_offset,
                                            layout))
    # A fallback dtype (integers into floats) must agree too.
    P_in = rng.integers(-50, 50, size=(n_in, p))
    P_out = rng.standard_normal((n, q))
    ref = P_out.copy()
    ref[:, :2] = P_in[n_in - n:][:, [1, 4]]
    propagate_features(P_in, [1, 4], n_in - n, P_out)
    check(same_dense(P_out, ref), "propagate_features int64 -> float64")
    P_in = rng.standard_normal((n_in, p))
    check(raises(IndexError, propagate_features, P_in, [p], 0,
                 np.empty((n, q))),
          "propagate_features raises IndexError for a bad column")
    check(raises(ValueError, propagate_features, P_in, [0], n_in - n + 1,
                 np.empty((n, q))),
          "propagate_features raises ValueError for a bad row_offset")
    check(raises(ValueError, propagate_features, P_in, [0], 0,
                 readonly(np.empty((n, q)))),
          "propagate_features raises ValueError for a read-only P_out")


def check_propagate_features_sparse(rng):
    import numpy as np
    import scipy.sparse as sp
    from mlcore.kernels import propagate_features_sparse

    n_in, p, n, q = 40, 8, 25, 10
    cols = np.array([7, 0, -3, 2])
    k = len(cols)
    for fmt in ("csr", "csc", "coo"):
        for in_dtype in (np.float64, np.float32):
            for out_kind in ("dense", "csr", "csc"):
                P_in = sp.random(n_in, p, density=0.3, format=fmt,
                                 dtype=in_dtype, random_state=rng)
                dense_out = rng.standard_normal((n, q))
                dense_out[rng.random((n, q)) < 0.5] = 0.0  # zeros to drop
                P_out = (dense_out if out_kind == "dense"
                         else sp.csr_matrix(dense_out).asformat(out_kind))
                row_offset = n_in - n
                right = (sp.csr_matrix(dense_out[:, k:]) if out_kind == "dense"
                         else sp.csr_matrix(P_out)[:, k:])
                ref = sp.hstack(
                    [sp.csr_matrix(P_in)[row_offset:row_offset + n][:, cols],
                     right], format="csr",
                    dtype=np.result_type(P_in.dtype, P_out.dtype))
                before = P_in.toarray()
                res = propagate_features_sparse(P_in, cols, row_offset, P_out)
                check(same_sparse(res, ref),
                      "propagate_features_sparse %s %s, %s P_out"
                      % (fmt, np.dtype(in_dtype), out_kind))
                check(isinstance(res, sp.spmatrix),
                      "propagate_features_sparse returns a sparse matrix for "
                      "matrix inputs")
                check(np.array_equal(P_in.toarray(), before),
                      "propagate_features_sparse leaves P_in unchanged")
    # Read-only buffers behind a sparse input.
    P_in = sp.random(n_in, p, density=0.3, format="csr", random_state=rng)
    P_in.data.setflags(write=False)
    P_in.indices.setflags(write=False)
    P_in.indptr.setflags(write=False)
    P_out = rng.standard_normal((n, q))
    ref = sp.hstack([P_in[:n][:, cols], sp.csr_matrix(P_out[:, k:])],
                    format="csr")
    check(same_sparse(propagate_features_sparse(P_in, cols, 0,
                                                readonly(P_out)), ref),
          "propagate_features_sparse with read-only inputs")
    if hasattr(sp, "csr_array"):
        res = propagate_features_sparse(sp.csr_array(P_in), cols, 0, P_out)
        check(isinstance(res, sp.csr_array) and same_sparse(res, ref),
              "propagate_features_sparse keeps sparse arrays as arrays")
    check(raises(TypeError, propagate_features_sparse, P_in.toarray(), cols,
                 0, P_out),
          "propagate_features_sparse raises TypeError for a dense P_in")


def check_shuffle_rows(rng):
    import numpy as np
    import scipy.sparse as sp
    from mlcore.kernels import shuffle_rows

    n, p = 31, 4
    for dtype in (np.float64, np.float32, np.int32):
        X = (rng.standard_normal((n, p)) * 10).astype(dtype)
        y = rng.standard_normal(n)
        perm_ref = np.random.RandomState(1234).permutation(n)
        Xp, yp, perm = shuffle_rows(readonly(X), readonly(y),
                                    random_state=1234)
        check(np.array_equal(perm, perm_ref),
              "shuffle_rows uses RandomState(seed).permutation(n)")
        check(same_dense(Xp, X[perm_ref]) and same_dense(yp, y[perm_ref]),
              "shuffle_rows dense read-only %s" % np.dtype(dtype))
    X = rng.standard_normal((n, p))
    gen_perm = np.random.default_rng(7).permutation(n)
    Xp, yp, perm = shuffle_rows(X, random_state=np.random.default_rng(7))
    check(yp is None and np.array_equal(perm, gen_perm)
          and same_dense(Xp, X[gen_perm]),
          "shuffle_rows with a numpy Generator and no y")
    Xs = sp.random(n, p, density=0.4, format="csc", random_state=rng)
    Xp, _, perm = shuffle_rows(Xs, random_state=5)
    perm_ref = np.random.RandomState(5).permutation(n)
    check(np.array_equal(perm, perm_ref)
          and same_sparse(Xp, sp.csr_matrix(Xs)[perm_ref]),
          "shuffle_rows sparse")
    check(raises(ValueError, shuffle_rows, X, np.zeros(n + 1)),
          "shuffle_rows raises ValueError for mismatched X and y")


def check_to_csr(rng):
    import numpy as np
    import scipy.sparse as sp
    from mlcore.kernels import to_csr

    n, p = 20, 9
    dense = rng.standard_normal((n, p))
    dense[rng.random((n, p)) < 0.6] = 0.0
    for fmt in ("coo", "csc", "bsr", "dia", "dok", "lil", "csr"):
        M = sp.csr_matrix(dense).asformat(fmt)
        res = to_csr(M)
        check(same_sparse(res, M)
              and np.array_equal(res.toarray(), dense),
              "to_csr from %s" % fmt)
        check(isinstance(res, sp.spmatrix), "to_csr keeps a %s matrix a "
              "matrix" % fmt)
    # Duplicates and unsorted indices: summed and sorted, input untouched.
    # Integer-valued floats, so that sums are exact in any order.
    rows = rng.integers(0, n, size=60)
    cols = rng.integers(0, p, size=60)
    vals = rng.integers(-9, 10, size=60).astype(np.float64)
    coo = sp.coo_matrix((vals, (rows, cols)), shape=(n, p))
    ref = np.zeros((n, p))
    np.add.at(ref, (rows, cols), vals)
    res = to_csr(coo)
    check(same_sparse(res, coo) and np.array_equal(res.toarray(), ref),
          "to_csr sums duplicates of a COO input")
    check(np.array_equal(coo.row, rows) and np.array_equal(coo.col, cols)
          and np.array_equal(coo.data, vals),
          "to_csr leaves its input unchanged")
    unsorted = sp.csr_matrix((np.array([1.0, 2.0, 3.0]),
                              np.array([2, 0, 0]), np.array([0, 3])),
                             shape=(1, 3))
    before = unsorted.indices.copy()
    res = to_csr(unsorted)
    check(res.has_canonical_format
          and np.array_equal(res.toarray(), [[5.0, 0.0, 1.0]])
          and np.array_equal(unsorted.indices, before),
          "to_csr canonicalises a non-canonical CSR without modifying it")
    canon = sp.csr_matrix(dense)
    check(to_csr(canon) is canon, "to_csr returns canonical CSR as is")
    if hasattr(sp, "csr_array"):
        res = to_csr(sp.coo_array(dense))
        check(isinstance(res, sp.csr_array)
              and same_sparse(res, sp.csr_array(dense)),
              "to_csr keeps sparse arrays as arrays")
    check(raises(TypeError, to_csr, dense), "to_csr raises TypeError for a "
          "dense input")


def check_rebase(rng):
    import numpy as np
    from mlcore.kernels import rebase

    t = readonly(rng.standard_normal((30, 2)))
    for n_rows in (0, 1, 12, 30):
        res = rebase(t, n_rows)
        check(same_dense(res, t[30 - n_rows:]),
              "rebase last %d rows" % n_rows)
    res = rebase(t, 10, offset=5)
    check(same_dense(res, t[5:15]) and np.shares_memory(res, t),
          "rebase with offset returns a view")
    y = rng.integers(0, 3, size=30)
    check(same_dense(rebase(y, 8), y[22:]), "rebase 1-D integer targets")
    check(rebase(None, 3) is None, "rebase(None) is None")
    check(raises(ValueError, rebase, t, 31), "rebase raises ValueError for "
          "too many rows")
    check(raises(ValueError, rebase, t, 10, offset=25),
          "rebase raises ValueError for an out-of-range offset")


###############################################################################

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help="file name of the wheel under test "
                        "(printed only)")
    parser.add_argument("--source-root", help="the source checkout, which "
                        "mlcore must NOT be imported from")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)

    if args.wheel:
        print("wheel: %s" % os.path.basename(args.wheel))
    print("python: %s (%s)" % (sys.version.split()[0], sys.executable))
    print("cwd: %s" % os.getcwd())

    try:
        import numpy as np
        import scipy
        import mlcore
        import mlcore.kernels  # noqa: F401
        import mlcore._kernels  # noqa: F401
    except Exception:
        traceback.print_exc()
        print("wheel smoke test: FAILED (import)")
        return 1
    print("numpy %s, scipy %s, mlcore %s"
          % (np.__version__, scipy.__version__,
             getattr(mlcore, "__version__", "(no __version__)")))

    rng = np.random.default_rng(args.seed)
    steps = [
        ("install location", lambda: check_install_location(args.source_root)),
        ("take_rows", lambda: check_take_rows(rng)),
        ("propagate_features", lambda: check_propagate_features(rng)),
        ("propagate_features_sparse",
         lambda: check_propagate_features_sparse(rng)),
        ("shuffle_rows", lambda: check_shuffle_rows(rng)),
        ("to_csr", lambda: check_to_csr(rng)),
        ("rebase", lambda: check_rebase(rng)),
    ]
    for name, step in steps:
        print("checking %s" % name)
        n_fail = len(FAILURES)
        try:
            step()
        except Exception:
            traceback.print_exc()
            FAILURES.append("%s raised an exception" % name)
        if len(FAILURES) == n_fail:
            print("  ok")

    if FAILURES:
        print("%d of %d checks failed:" % (len(FAILURES), N_CHECKS))
        for what in FAILURES:
            print("  - %s" % what)
        print("wheel smoke test: FAILED")
        return 1
    print("%d checks passed" % N_CHECKS)
    if args.wheel:
        print("wheel: %s" % os.path.basename(args.wheel))
    print("wheel smoke test: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
