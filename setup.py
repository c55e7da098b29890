"""Build script for the compiled part of mlcore.

Everything declarative lives in pyproject.toml; this file only describes the
Cython extension, because its compile flags depend on the numpy headers found
at build time.
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# Plain -O3 and no -march=native: wheels built here must run on other CPUs.
# MLCORE_CFLAGS lets a sanitizer build add flags (see README, "Sanitizers").
extra_compile_args = ["-O3"] + os.environ.get("MLCORE_CFLAGS", "").split()
extra_link_args = os.environ.get("MLCORE_LDFLAGS", "").split()

extensions = [
    Extension(
        "mlcore._kernels",
        ["mlcore/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            # Bounds and wraparound checks are switched off per function,
            # only where the Python wrapper has validated the inputs.
            "embedsignature": True,
            "cdivision": True,
        },
    )
)
