"""Build script: compiles ``fastevents/_core.pyx`` unless ``FASTEVENTS_NO_EXTENSIONS`` says not to,
and falls back to the pure-Python core, with one warning line, when it cannot be compiled.

Project metadata lives in pyproject.toml; this file only declares the extension.
"""

import importlib.util
import pathlib
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

HERE = pathlib.Path(__file__).parent
OPTIMISE = [] if sys.platform == "win32" else ["-O3"]  # MSVC's default (/Ox) already optimises

# What a missing or broken C toolchain raises: the compiler or linker fails or cannot be run
# (CCompilerError covers CompileError and LinkError; ExecError), no compiler is known for the
# platform (PlatformError: Windows without Visual C++), or its executable is not there.
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, FileNotFoundError)


def _extensions_disabled() -> bool:
    # The very function the package uses at run time, loaded by path (the package's own
    # dependencies need not be installed while building).
    spec = importlib.util.spec_from_file_location("_switch", HERE / "fastevents" / "_switch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.extensions_disabled()


def fallback_warning(exc: BaseException) -> str:
    """The one line a build without a working C compiler prints (as yarl and multidict do)."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if len(reason) > 200:  # a failing compiler's message holds its whole command line
        reason = reason[:197] + "..."
    return (
        f"WARNING: fastevents: cannot compile the C core ({reason}); building the pure-Python "
        "core instead (same behaviour, slower dispatch). Install a C compiler and reinstall "
        "for the compiled core, or set FASTEVENTS_NO_EXTENSIONS=1 to build the pure core "
        "without trying."
    )


class BuildExtOrPure(build_ext):
    """``build_ext`` that, when the compiler is missing or fails, drops the extension: the
    distribution then has no extension at all, and its wheel is a pure ``py3-none-any``."""

    def run(self) -> None:
        try:
            super().run()
        except BUILD_ERRORS as exc:
            print(fallback_warning(exc), file=sys.stderr, flush=True)
            self.extensions.clear()  # the distribution's own list: has_ext_modules() is now False
            wheel = self.distribution.command_obj.get("bdist_wheel")
            if wheel is not None:  # decided before the build; the wheel is pure after all
                wheel.root_is_pure = True


if __name__ == "__main__":  # setuptools' build backend runs this file as __main__
    if _extensions_disabled():
        ext_modules = []
    else:
        from Cython.Build import cythonize

        ext_modules = cythonize(
            [Extension("fastevents._core", ["fastevents/_core.pyx"], extra_compile_args=OPTIMISE)],
            compiler_directives={"language_level": "3"},
        )

    setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExtOrPure})
