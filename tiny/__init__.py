"""tiny: neural networks to bit-exact C firmware for microcontrollers.

The Python API (docs/api.md): tiny.load, tiny.compile, tiny.report, tiny.validate, tiny.train,
tiny.export - the commands of the `tiny` CLI as functions returning data (tiny/api.py).
"""
from importlib.metadata import PackageNotFoundError as _NotFound
from importlib.metadata import version as _version
import os as _os

__version__ = "0.1.0"
DISTRIBUTION = "tiny-cortexm"   # the PyPI name (`tiny` is another project's); import name and CLI: tiny

# TensorFlow (imported lazily by the Keras frontend and the oracle) is chatty on stderr.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def installed_version() -> str:
    """The installed distribution's version (the source tree's __version__ when not installed)."""
    try:
        return _version(DISTRIBUTION)
    except _NotFound:
        return __version__


# tiny.compile, tiny.report, tiny.export and tiny.train are also module names: once such a module
# is imported, Python rebinds the package attribute to it. So those modules are imported here and
# made callable (calling one calls the API function of the same name), and tiny.<name>(...) works
# however and whenever the modules were imported.
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402
from typing import Any as _Any  # noqa: E402

from tiny import api as _api  # noqa: E402
from tiny.api import load, validate  # noqa: E402, F401


def _callable_module(name: str) -> None:
    import importlib
    mod = importlib.import_module(f"tiny.{name}")
    fn = getattr(_api, name)

    class _Module(_types.ModuleType):
        __call__ = staticmethod(fn)
    _Module.__name__ = f"CallableModule[{name}]"
    mod.__class__ = _Module
    globals()[name] = mod


for _name in ("compile", "report", "export", "train"):
    _callable_module(_name)

__all__ = ["__version__", "compile", "export", "load", "report", "train", "validate"]
