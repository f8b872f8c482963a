"""Ships firmware/, codegen/ and boards/ inside the wheel as tiny/_data (see tiny/paths.py)."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("firmware", "codegen", "boards")
SKIP = shutil.ignore_patterns(".pio", ".build", "__pycache__", "*.o", "*.elf", "*.so")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for name in DATA_DIRS:
            src = root / name
            if src.exists():
                dst = Path(self.build_lib) / "tiny" / "_data" / name
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=SKIP)


setup(cmdclass={"build_py": BuildPyWithData})
