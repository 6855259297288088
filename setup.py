"""Compiles the hot loops (DSN tokeniser and parser, the rule checks' passes over jobs) with Cython when a C compiler is there.

The modules stay plain Python: without a compiler (or if compiling fails) they are installed and
run as they are, only slower. Settings other than the extension modules live in pyproject.toml.
"""

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED = [
    "warehouse/dsn/parser.py", "warehouse/dsn/records.py", "warehouse/dsn/line_runs.py",  # line_runs.pxd: its C types
    "features/job_posts.py", "features/replacements.py",  # and their .pxd files
]


class OptionalBuildExt(build_ext):
    """A failed compilation leaves the pure-Python module in place instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers...
            print(f"warning: nothing compiled ({exc}); the pure-Python modules are used")

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"warning: {ext.name} not compiled ({exc}); its pure-Python module is used")


def extensions() -> list:
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    return cythonize(COMPILED, language_level=3, quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
