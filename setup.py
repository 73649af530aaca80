"""Builds the Cython netting kernel; metadata lives in pyproject.toml.

Set ``MILLSTREAM_CYTHON_DEBUG=1`` to compile with bounds and wraparound checks
on (for hunting a kernel bug), and ``MILLSTREAM_REQUIRE_COMPILED=1`` to make a
failed build fatal instead of leaving the pure-Python twin in charge.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("MILLSTREAM_CYTHON_DEBUG") == "1"
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "cdivision": True,
    "initializedcheck": debug,
}

setup(
    ext_modules=cythonize(
        [Extension("core._netting", ["core/_netting.pyx"], extra_compile_args=["-O3"]),
         Extension("core._ids", ["core/_ids.pyx"], extra_compile_args=["-O3"])],
        compiler_directives=directives,
        annotate=os.environ.get("MILLSTREAM_CYTHON_ANNOTATE") == "1",
    ),
)
