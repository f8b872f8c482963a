"""The examples/ folders (CMake, PlatformIO, Arduino sketch) build here around an exported model,
run (host / QEMU), and print what TFLite Micro computes."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tests.export.test_export import HERE, M4, _cc, _qemu_run, _sources
from tiny import oracle
from tiny.compare import random_inputs
from tiny.export import export_model
from tiny.pipeline import load_model

ROOT = HERE.parents[1]
EXAMPLES = ROOT / "examples"


def _zero_point_input(g) -> list[np.ndarray]:
    t = g.tensors[g.inputs[0]]
    return [np.full(t.shape, t.quant.zp(), dtype=np.int8)]


def _printed_outputs(text: str, n: int) -> list[int]:
    vals = [int(ln.split()[0]) for ln in text.splitlines() if ln.strip() and not ln.startswith("class")]
    assert len(vals) == n, text
    return vals


def test_cmake_example(tmp_path: Path) -> None:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    g = load_model(models.tiny_cnn())
    lib = export_model(g, "host", tmp_path / "tiny_model").out
    build = tmp_path / "build"
    _cc(["cmake", "-S", str(EXAMPLES / "cmake"), "-B", str(build), f"-DTINY_MODEL_DIR={lib}", "-DCMAKE_BUILD_TYPE=Release"])
    _cc(["cmake", "--build", str(build)])
    assert (build / "tiny_model" / "libtiny_model.a").exists()
    xs = random_inputs(g, 11)
    (tmp_path / "x.bin").write_bytes(xs[0].tobytes())
    r = subprocess.run([str(build / "classify"), str(tmp_path / "x.bin")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    want = oracle.run(g, xs)[0].reshape(-1)
    assert _printed_outputs(r.stdout, want.size) == want.tolist()
    assert f"class {int(np.argmax(want))}" in r.stdout


@pytest.mark.qemu
def test_platformio_example_offline_env(tmp_path: Path) -> None:
    from tiny.build.pio import pio_executable
    from tiny.build.provision import pio_env, platform_dir, provision, toolchain_dir
    provision()
    g = load_model(models.tiny_cnn())
    proj = tmp_path / "proj"
    shutil.copytree(EXAMPLES / "platformio", proj, ignore=shutil.ignore_patterns(".pio", "tiny_model"))
    export_model(g, "qemu-m4-256k", proj / "lib" / "tiny_model")
    env = {**os.environ, **pio_env(), "TINY_PIO_PLATFORM": str(platform_dir()), "TINY_PIO_TOOLCHAIN": str(toolchain_dir())}
    r = subprocess.run([*pio_executable(), "run", "-e", "qemu"], cwd=proj, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    elf = proj / ".pio" / "build" / "qemu" / "firmware.elf"
    run = _qemu_run(elf)
    assert run.returncode == 0, run.stdout + run.stderr
    want = oracle.run(g, _zero_point_input(g))[0].reshape(-1)
    assert _printed_outputs(run.stdout + run.stderr, want.size) == want.tolist()


@pytest.mark.qemu
def test_arduino_sketch_with_shim(tmp_path: Path) -> None:
    """No Arduino core here: the sketch (C++) and the library (C) against tests/export/arduino_shim."""
    if shutil.which("arm-none-eabi-g++") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm toolchain or QEMU not installed")
    g = load_model(models.tiny_cnn())
    lib = export_model(g, "qemu-m4-256k", tmp_path / "libraries" / "tiny_model").out
    props = dict(ln.split("=", 1) for ln in (lib / "library.properties").read_text().splitlines() if "=" in ln)
    assert props["includes"] == "tiny_model.h" and (lib / "src" / "tiny_model.h").exists()
    sketch = EXAMPLES / "arduino" / "tiny_model_classify" / "tiny_model_classify.ino"
    shim = HERE / "arduino_shim"
    objs = []
    # Arduino puts the library's src/ on the include path (library format 1.5) - nothing else.
    for src, lang in ([(sketch, "c++"), (shim / "shim_main.cpp", "c++")]
                      + [(Path(s), "c") for s in _sources(lib)] + [(HERE / "fw" / "startup.c", "c")]):
        o = tmp_path / f"{len(objs)}.o"
        tool = "arm-none-eabi-g++" if lang == "c++" else "arm-none-eabi-gcc"
        extra = ["-std=gnu++11", "-fno-exceptions", "-fno-rtti"] if lang == "c++" else ["-std=gnu11"]
        if src == sketch:
            extra += ["-include", "Arduino.h"]     # what the Arduino builder prepends to a .ino
        _cc([tool, *M4, "-Os", "-Wall", "-Wextra", "-Werror", *extra, "-x", lang, "-ffunction-sections",
             "-fdata-sections", f"-I{shim}", f"-I{lib / 'src'}", "-c", str(src), "-o", str(o)])
        objs.append(str(o))
    elf = tmp_path / "sketch.elf"
    _cc(["arm-none-eabi-gcc", *M4, "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
         "-Wl,--no-warn-rwx-segments", "-T", str(HERE / "fw" / "link.ld"), *objs, "-o", str(elf)])
    run = _qemu_run(elf)
    assert run.returncode == 0, run.stdout + run.stderr
    want = oracle.run(g, _zero_point_input(g))[0].reshape(-1)
    assert _printed_outputs(run.stdout + run.stderr, want.size) == want.tolist()
