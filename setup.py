"""Compiled parts of the carrier toolkit (the rest of the build is declared in pyproject.toml).

Both extensions are optional: where no C compiler is found the install goes on, and the toolkit uses its
Arrow and DuckDB paths, which give the same stores (tests pin it) at a fraction of the speed.
"""

from setuptools import Extension, setup

_FLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]

setup(ext_modules=[
    Extension("nohaven.carrier._natparse", ["src/nohaven/carrier/_natparse.c"], optional=True,
              extra_compile_args=_FLAGS),
    Extension("nohaven.carrier._natbuild", ["src/nohaven/carrier/_natbuild.c"], optional=True,
              extra_compile_args=_FLAGS),
])
