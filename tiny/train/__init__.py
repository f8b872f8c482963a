"""On-device training: plan, emission, runs on the board. `tiny.train(...)` is tiny.api.train
(this package is callable so the name serves both; see tiny/__init__.py)."""
import sys as _sys
import types as _types
from typing import Any as _Any


class _CallableModule(_types.ModuleType):
    def __call__(self, *args: _Any, **kwargs: _Any) -> _Any:
        from tiny.api import train
        return train(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
