"""Build script for the compiled part of mlcore.

Everything declarative lives in pyproject.toml; this file only describes the
Cython extension, because its compile flags depend on the numpy headers found
at build time.

Environment switches (all optional):

``MLCORE_DEBUG_KERNELS=1``
    Bounds-checked build: every memoryview access of the kernels is checked
    (an out-of-range index raises IndexError instead of reading or writing
    past a buffer) and uninitialized memoryviews are caught. Slower; meant
    for CI and debugging (see README, "Debug build of the kernels").
``MLCORE_FUZZ_COVERAGE=1``
    Coverage-instrumented build for the fuzzer (tools/fuzz_kernels.py):
    every basic block of the kernels reports to libFuzzer under atheris.
``MLCORE_CFLAGS`` / ``MLCORE_LDFLAGS``
    Extra compiler / linker flags, e.g. for a sanitizer build.
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

def _switch(name):
    return os.environ.get(name, "").strip().lower() not in (
        "", "0", "false", "no", "off")


DEBUG = _switch("MLCORE_DEBUG_KERNELS")
FUZZ_COVERAGE = _switch("MLCORE_FUZZ_COVERAGE")

# Plain -O3 and no -march=native: wheels built here must run on other CPUs.
extra_compile_args = ["-O3"] + os.environ.get("MLCORE_CFLAGS", "").split()
extra_link_args = os.environ.get("MLCORE_LDFLAGS", "").split()

# The directives of the whole module, in one place. Bounds and wraparound
# checks are off because every entry point in mlcore/kernels.py validates
# index ranges, indptr monotonicity, lengths and dtypes before it calls a
# compiled loop. The debug build checks bounds but leaves wraparound off
# on purpose: a negative index then fails the bounds check (IndexError)
# instead of silently reading from the end of the buffer.
directives = {
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
    # The kernels keep no shared mutable state in C: safe without the GIL
    # on free-threaded CPython (ignored by builds with a GIL).
    "freethreading_compatible": True,
}

define_macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    define_macros.append(("MLCORE_DEBUG_KERNELS", "1"))
if FUZZ_COVERAGE:
    define_macros.append(("MLCORE_FUZZ_COVERAGE", "1"))
    extra_compile_args.append("-fsanitize-coverage=trace-pc")

extensions = [
    Extension(
        "mlcore._kernels",
        ["mlcore/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=define_macros,
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives=directives,
        # A debug and a normal build of one checkout must not reuse each
        # other's generated C file.
        force=True,
    )
)
