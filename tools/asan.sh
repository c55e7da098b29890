#!/usr/bin/env bash
# Build mlcore._kernels with AddressSanitizer and run the kernel tests under it.
#
#   tools/asan.sh [extra pytest args]
#
# The sanitizer build happens in a throwaway copy of this checkout (tracked
# files plus untracked, non-ignored ones) under ${TMPDIR:-/tmp}; the checkout
# and its normal build are never touched, so nothing needs restoring and other
# people's test runs are unaffected. Environment:
#   PYTHON      interpreter with numpy, scipy, Cython, setuptools, pytest and
#               hypothesis (default: .venv/bin/python of this checkout)
#   KEEP=1      keep the copy for inspection
#   HYPOTHESIS_PROFILE=stress   many more fuzz examples (slow under ASan)
# Exit status: 0 when the positive control is caught and every test passes.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
CC=${CC:-gcc}
LIBASAN=$("$CC" -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ]; then
    echo "asan.sh: $CC has no libasan.so ($LIBASAN); install libasan" >&2
    exit 2
fi

# 1. Copy the working tree (as it is now, uncommitted edits included).
. "$REPO/tools/_scratch_copy.sh"
scratch_copy asan
cd "$REPO"

# 2. Sanitizer build, in place in the copy (setup.py reads MLCORE_*FLAGS).
echo "== building mlcore._kernels with AddressSanitizer in $SRC"
# pyproject.toml is moved aside for the build: only the extension is built
# here, and an older setuptools in $PY may not parse newer metadata.
(cd "$SRC" && mv pyproject.toml pyproject.toml.off \
    && MLCORE_CFLAGS="-fsanitize=address -fno-omit-frame-pointer -O1" \
       MLCORE_LDFLAGS="-fsanitize=address" \
       "$PY" setup.py -q build_ext --inplace >"$WORK/build.log" 2>&1 \
    && mv pyproject.toml.off pyproject.toml) || {
    tail -40 "$WORK/build.log"; echo "asan.sh: build FAILED" >&2; exit 1; }
SO=$(ls "$SRC"/mlcore/_kernels*.so)
if ! readelf -d "$SO" | grep -q 'libasan'; then
    echo "asan.sh: $SO is not linked against libasan" >&2; exit 1
fi

export LD_PRELOAD=$LIBASAN
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1}
export PYTHONMALLOC=malloc        # every allocation gets ASan redzones
export PYTHONDONTWRITEBYTECODE=1
cd "$SRC"

# 3. The copy, not the editable install, must be what gets imported.
"$PY" - "$SRC" <<'PYEOF'
import os, sys
import mlcore, mlcore._kernels as k
src = os.path.realpath(sys.argv[1])
assert os.path.realpath(k.__file__).startswith(src), k.__file__
print("== testing", k.__file__)
PYEOF

# 4. Positive control: an out-of-bounds read through the raw compiled loop
#    (bypassing the validating wrapper) must be reported by ASan.
set +e
"$PY" - >"$WORK/control.log" 2>&1 <<'PYEOF'
import numpy as np
from mlcore import _kernels
X = np.zeros(1000)
out = np.zeros(1)
_kernels.take_rows_1d(X, np.array([1000 + 3], dtype=np.int64), out)
print("NOT DETECTED")
PYEOF
rc=$?
set -e
if [ $rc -eq 0 ] || ! grep -q 'AddressSanitizer: heap-buffer-overflow' "$WORK/control.log"; then
    cat "$WORK/control.log"
    echo "asan.sh: positive control NOT detected: ASan is not active" >&2
    exit 1
fi
echo "== positive control: out-of-bounds read detected by ASan (as it must be)"

# 5. The kernel tests under ASan.
TESTS=()
for t in tests/test_kernels.py tests/test_reliability.py; do
    [ -f "$t" ] && TESTS+=("$t")
done
echo "== pytest ${TESTS[*]} -k 'kernel or sparse' under ASan"
set +e
"$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}" -k "kernel or sparse" "$@" \
    2>&1 | tee "$WORK/pytest.log"
rc=${PIPESTATUS[0]}
set -e
if grep -q 'ERROR: AddressSanitizer' "$WORK/pytest.log"; then
    echo "asan.sh: FAIL: AddressSanitizer reported an error (see above)" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "asan.sh: FAIL: pytest exit status $rc" >&2
    exit "$rc"
fi
echo "asan.sh: PASS (no AddressSanitizer reports)"
