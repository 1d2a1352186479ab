"""Build script: compiles ``fastevents/_core.pyx`` unless ``FASTEVENTS_NO_EXTENSIONS`` says not to.

Project metadata lives in pyproject.toml; this file only declares the extension.
"""

import importlib.util
import pathlib

from setuptools import Extension, setup

HERE = pathlib.Path(__file__).parent


def _extensions_disabled() -> bool:
    # The very function the package uses at run time, loaded by path (the package's own
    # dependencies need not be installed while building).
    spec = importlib.util.spec_from_file_location("_switch", HERE / "fastevents" / "_switch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.extensions_disabled()


if _extensions_disabled():
    ext_modules = []
else:
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [Extension("fastevents._core", ["fastevents/_core.pyx"], extra_compile_args=["-O3"])],
        compiler_directives={"language_level": "3"},
    )

setup(ext_modules=ext_modules)
