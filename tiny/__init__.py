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


from tiny.api import compile, load, report, validate  # noqa: E402, A004
# tiny.train and tiny.export are also subpackage/module names: those modules are callable
# (tiny/train/__init__.py, tiny/export.py), so tiny.train(...) and tiny.export(...) work however
# the submodules were imported.
import tiny.export  # noqa: E402, F401
import tiny.train  # noqa: E402, F401

__all__ = ["__version__", "compile", "export", "load", "report", "train", "validate"]
