#!/usr/bin/env bash
# Build and test mlcore for every CPython on this machine.
#
#   bash wheels/check_all_pythons.sh                 # every pyenv CPython
#   bash wheels/check_all_pythons.sh /usr/bin/python3.12 ...   # these only
#
# 1. Builds the sdist from the checkout (`python -m build --sdist`, in a
#    temporary venv) and checks its contents with wheels/check_sdist.py.
# 2. For each interpreter (default: ${PYENV_ROOT:-~/.pyenv}/versions/*/bin/
#    python) that is CPython and satisfies requires-python, runs
#    `wheels/build.sh --sdist SDIST --tests`: a wheel built from the sdist,
#    repaired to manylinux with a stripped extension, installed into a fresh
#    venv of that interpreter outside the checkout, and tested there with
#    wheels/smoke_test.py and tests/test_kernels.py.
# 3. Prints a PASS/FAIL table (SKIP for interpreters outside
#    requires-python). Exit status 0 only if the sdist check and every
#    interpreter that was not skipped passed.
#
# Leaves the sdist and the repaired wheels in wheels/wheelhouse and one log
# per step in wheels/logs; everything else is removed. The interpreters run
# one after another (about two minutes each on 2 shared cores, warm pip cache).
set -uo pipefail

WHEELS_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$WHEELS_DIR/.." && pwd -P)
WHEELHOUSE="$WHEELS_DIR/wheelhouse"
LOGS="$WHEELS_DIR/logs"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlcore-check.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# requires-python = ">=X.Y" from pyproject.toml.
MIN=$(sed -n 's/^requires-python *= *">= *\([0-9][0-9.]*\)".*/\1/p' \
      "$ROOT/pyproject.toml")
if [[ -z "$MIN" ]]; then
    echo "cannot read requires-python (\">=X.Y\") from pyproject.toml" >&2
    exit 2
fi

if [[ $# -gt 0 ]]; then
    PYTHONS=("$@")
else
    # In version order (3.9 before 3.10).
    mapfile -t PYTHONS < <(printf '%s\n' \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python \
        | while read -r p; do [[ -x "$p" ]] && echo "$p"; done | sort -V)
    if [[ ${#PYTHONS[@]} -eq 0 ]]; then
        echo "no interpreters under ${PYENV_ROOT:-$HOME/.pyenv}/versions;" \
             "name them on the command line" >&2
        exit 2
    fi
fi

# "<implementation> <x.y.z> <ok>" for an interpreter; ok is 1 when it is
# CPython at or above MIN. Works on Python 2 as well, to skip it cleanly.
describe() {
    "$1" -c '
import platform, sys
need = tuple(int(p) for p in sys.argv[1].split("."))
ok = platform.python_implementation() == "CPython" and sys.version_info[:len(need)] >= need
sys.stdout.write("%s %d.%d.%d %d\n" % ((platform.python_implementation(),)
                 + tuple(sys.version_info[:3]) + (int(ok),)))' "$MIN" 2>/dev/null
}

mkdir -p -- "$WHEELHOUSE" "$LOGS"
rows=()
failed=0
n_built=0
mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1e6 }'; }

###############################################################################
echo "== sdist (log: wheels/logs/sdist.log)"
SDIST_PY=""
for py in "${PYTHONS[@]}"; do
    read -r _ _ ok <<< "$(describe "$py")"
    if [[ "${ok:-0}" == 1 ]]; then SDIST_PY=$py; break; fi
done
SDIST_PY=${SDIST_PY:-python3}
sdist_status=FAIL
(
    set -e
    "$SDIST_PY" -m venv "$WORK/venv-sdist"
    "$WORK/venv-sdist/bin/python" -m pip install --quiet --upgrade pip build
    "$WORK/venv-sdist/bin/python" -m build --sdist -o "$WORK/sdist" "$ROOT"
) > "$LOGS/sdist.log" 2>&1
shopt -s nullglob
sdists=("$WORK/sdist"/mlcore-*.tar.gz)
shopt -u nullglob
SDIST=""
if [[ ${#sdists[@]} -eq 1 ]]; then
    SDIST="$WHEELHOUSE/$(basename -- "${sdists[0]}")"
    mv -f -- "${sdists[0]}" "$SDIST"
    if "$WORK/venv-sdist/bin/python" "$WHEELS_DIR/check_sdist.py" "$SDIST" \
            --source-root "$ROOT" 2>&1 | tee -a "$LOGS/sdist.log"; then
        sdist_status=PASS
    fi
else
    echo "building the sdist failed; see wheels/logs/sdist.log"
    tail -n 20 "$LOGS/sdist.log"
fi
[[ $sdist_status == PASS ]] || failed=1

###############################################################################
for py in "${PYTHONS[@]}"; do
    desc=$(describe "$py")
    if [[ -z "$desc" ]]; then
        rows+=("$py|-|-|-|-|FAIL (does not run)")
        failed=1
        continue
    fi
    read -r impl ver ok <<< "$desc"
    if [[ "$ok" != 1 ]]; then
        if [[ "$impl" != CPython ]]; then why="not CPython"
        else why="requires-python >=$MIN"; fi
        rows+=("$ver|-|-|-|-|SKIP ($why)")
        continue
    fi
    if [[ -z "$SDIST" ]]; then
        rows+=("$ver|-|-|-|-|FAIL (no sdist)")
        failed=1
        continue
    fi
    n_built=$((n_built + 1))
    log="$LOGS/python-$ver.log"
    sum="$WORK/summary-$ver.txt"
    echo "== CPython $ver: $py (log: wheels/logs/python-$ver.log)"
    PYTHON="$py" bash "$WHEELS_DIR/build.sh" --sdist "$SDIST" --tests \
        --summary "$sum" > "$log" 2>&1
    rc=$?
    # The last value written for a key wins.
    get() { sed -n "s/^$1=//p" "$sum" 2>/dev/null | tail -n 1; }
    # mlcore-V-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
    # -> "cp311 manylinux_2_17_x86_64" (the last of the platform aliases).
    tag=$(get wheel); tag=${tag%.whl}
    if [[ -n "$tag" ]]; then
        abi=${tag#mlcore-*-}; abi=${abi%%-*}; tag="$abi ${tag##*[.-]}"
    fi
    raw=$(get so_raw_bytes); so=$(get so_bytes)
    size="-"
    if [[ -n "$raw" && -n "$so" ]]; then size="$(mb "$raw") -> $(mb "$so")"; fi
    smoke=$(get smoke); tests=$(get kernel_tests_line); tests=${tests% in *}
    if [[ $rc -eq 0 ]]; then result=PASS; else result=FAIL; failed=1; fi
    rows+=("$ver|${tag:--}|$size|${smoke:--}|${tests:--}|$result")
    echo "   $result"
    if [[ $rc -ne 0 ]]; then tail -n 15 "$log" | sed 's/^/   | /'; fi
done

###############################################################################
echo
echo "sdist: ${SDIST:+wheels/wheelhouse/$(basename -- "$SDIST")} $sdist_status"
echo
{
    echo "python|wheel|_kernels .so (built -> in wheel)|smoke test|kernel tests|result"
    printf '%s\n' "${rows[@]}"
} | awk -F'|' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i
          if (length($i) > w[i]) w[i] = length($i) }
      if (NF > nf) nf = NF }
    END { for (r = 1; r <= NR; r++) { line = ""
              for (i = 1; i <= nf; i++)
                  line = line sprintf(i < nf ? "%-" w[i] "s  " : "%s", cell[r, i])
              print line } }'
if [[ $n_built -eq 0 ]]; then
    echo
    echo "check_all_pythons: no interpreter satisfies requires-python >=$MIN"
    failed=1
fi
if [[ $failed -ne 0 ]]; then
    echo
    echo "check_all_pythons: FAILED (logs in wheels/logs)"
    exit 1
fi
echo
echo "check_all_pythons: all passed"
