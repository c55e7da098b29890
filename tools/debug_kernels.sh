#!/usr/bin/env bash
# Build mlcore._kernels with bounds checks (MLCORE_DEBUG_KERNELS=1) in a
# throwaway copy of this checkout, then run the kernel tests and a short
# fuzzing run (tools/fuzz_kernels.py) against that build.
#
#   tools/debug_kernels.sh [extra pytest args]
#
# The checkout and its normal build are never touched. Environment:
#   PYTHON       interpreter with mlcore's test dependencies (default: the
#                active one, else .venv/bin/python of this checkout); Cython
#                and setuptools are installed into it when missing, atheris
#                too (the fuzzer falls back to random inputs without it)
#   FUZZ_RUNS    inputs for the fuzzing run (default 4000; 0 skips it)
#   FUZZ_ARGS    extra libFuzzer flags, e.g. "-max_total_time=600"
#   COVERAGE=1   also instrument the compiled code for the fuzzer
#   ASAN=1       also build with AddressSanitizer (preloaded for the tests
#                and the fuzzer; slower): catches the out-of-bounds accesses
#                through raw pointers that bounds checks cannot see
#   KEEP=1       keep the copy for inspection
# Exit status: 0 when the bounds checks are shown to be active, every test
# passes and the fuzzer finds nothing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then PY=$VIRTUAL_ENV/bin/python
else PY=$REPO/.venv/bin/python; fi

# 1. Copy the working tree (as it is now, uncommitted edits included).
. "$REPO/tools/_scratch_copy.sh"
scratch_copy debug
cd "$REPO"

# 2. Build tools, then the bounds-checked extension in place in the copy.
"$PY" -c "import Cython, setuptools" 2>/dev/null \
    || "$PY" -m pip install --quiet "Cython>=3.0" "setuptools>=77"
export MLCORE_DEBUG_KERNELS=1
[ "${COVERAGE:-0}" = 1 ] && export MLCORE_FUZZ_COVERAGE=1
echo "== building mlcore._kernels with bounds checks in $SRC"
# -O1: the build is for checking, not speed, and compiles much faster.
CFLAGS_EXTRA="-O1" LDFLAGS_EXTRA=""
if [ "${ASAN:-0}" = 1 ]; then
    LIBASAN=$(${CC:-gcc} -print-file-name=libasan.so)
    [ -e "$LIBASAN" ] || { echo "debug_kernels.sh: no libasan.so" >&2; exit 2; }
    CFLAGS_EXTRA="$CFLAGS_EXTRA -fsanitize=address -fno-omit-frame-pointer"
    LDFLAGS_EXTRA="-fsanitize=address"
fi
(cd "$SRC" && MLCORE_CFLAGS="$CFLAGS_EXTRA ${MLCORE_CFLAGS:-}" \
    MLCORE_LDFLAGS="$LDFLAGS_EXTRA ${MLCORE_LDFLAGS:-}" \
    "$PY" setup.py -q build_ext --inplace >"$WORK/build.log" 2>&1) || {
    tail -40 "$WORK/build.log"; echo "debug_kernels.sh: build FAILED" >&2; exit 1; }
if [ "${ASAN:-0}" = 1 ]; then
    export LD_PRELOAD=$LIBASAN
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}
fi

export PYTHONDONTWRITEBYTECODE=1
cd "$SRC"

# 3. The copy must be what gets imported, and it must check bounds: a raw
#    loop called with a column index past the end must raise IndexError.
"$PY" - "$SRC" <<'PYEOF'
import os, sys
import numpy as np
from mlcore import _kernels
src = os.path.realpath(sys.argv[1])
assert os.path.realpath(_kernels.__file__).startswith(src), _kernels.__file__
assert _kernels.BOUNDS_CHECKED, "not a bounds-checked build"
try:
    _kernels._count_a_rows(np.array([0, 1], np.int32), np.array([5], np.int32),
                           0, np.zeros(3, np.intp), np.zeros(1, np.int32))
except IndexError:
    print("== testing", _kernels.__file__)
    print("== positive control: out-of-bounds index caught by the checks")
else:
    sys.exit("debug_kernels.sh: positive control NOT caught")
PYEOF

# 4. The kernel tests.
TESTS=()
for t in tests/test_kernels*.py tests/test_*kernel_fuzz*.py tests/test_reliability.py; do
    [ -f "$t" ] && TESTS+=("$t")
done
echo "== pytest ${TESTS[*]} -k 'kernel or sparse' (bounds-checked build)"
"$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" -k "kernel or sparse" "$@"

# 5. A short fuzzing run against the same build.
RUNS=${FUZZ_RUNS:-4000}
export PYTHONPATH=$SRC${PYTHONPATH:+:$PYTHONPATH}  # the copy, not the install
export FUZZ_EXPECT_BOUNDS_CHECKED=1
[ "${COVERAGE:-0}" = 1 ] && export FUZZ_EXPECT_COVERAGE=1
if [ "$RUNS" != 0 ]; then
    "$PY" -c "import atheris" 2>/dev/null \
        || "$PY" -m pip install --quiet atheris 2>/dev/null || true
    if "$PY" -c "import atheris" 2>/dev/null; then
        echo "== fuzzing: $RUNS inputs, coverage-guided (atheris)"
        # shellcheck disable=SC2086
        # Inputs up to 1 KiB from the start: a short run gets past the
        # tiny inputs that libFuzzer would otherwise begin with.
        "$PY" tools/fuzz_kernels.py -runs="$RUNS" -seed=1 -max_len=1024 \
            -len_control=0 -print_final_stats=1 ${FUZZ_ARGS:-} 2>&1 | grep -v '^#[0-9].*\(NEW\|REDUCE\|pulse\)' \
            | grep -v '^WARNING: Failed to find function'
    else
        echo "== fuzzing: $RUNS random inputs (atheris not available)"
        "$PY" tools/fuzz_kernels.py --random --runs "$RUNS" --seed 1
    fi
fi
echo "debug_kernels.sh: PASS"
