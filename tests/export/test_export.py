"""`tiny export`: the library inside a caller's own program, bit-exact with TFLite Micro.

The callers are hand-written (tests/export/host_main.c, tests/export/fw/: their own start-up code,
linker script and semihosting output) and only see include/tiny_model.h; the expected outputs come
from the TFLM interpreter."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests import models
from tiny import oracle
from tiny.compare import random_inputs
from tiny.export import export_model
from tiny.pipeline import load_model

HERE = Path(__file__).resolve().parent
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]


def _sources(lib: Path) -> list[str]:
    return sorted(str(p) for p in (lib / "src").rglob("*.c"))


def _cc(cmd: list[str], cwd: Path | None = None) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, f"{' '.join(cmd[:3])} ...:\n{r.stderr[-3000:]}"


def _tflm(g, samples):
    return [oracle.run(g, xs) for xs in samples]


def _run_host(lib: Path, tmp: Path, samples, defines: tuple[str, ...] = ()) -> list[list[np.ndarray]]:
    exe = tmp / "app"
    _cc(["gcc", *STRICT, "-O2", *(f"-D{d}" for d in defines), f"-I{lib / 'include'}", f"-I{lib / 'src'}",
         str(HERE / "host_main.c"), *_sources(lib), "-o", str(exe)])
    (tmp / "in.bin").write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for xs in samples for x in xs))
    r = subprocess.run([str(exe), str(tmp / "in.bin"), str(tmp / "out.bin")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return (tmp / "out.bin").read_bytes()


def _expected_bytes(g, samples) -> bytes:
    return b"".join(np.ascontiguousarray(y).tobytes() for ys in _tflm(g, samples) for y in ys)


@pytest.mark.parametrize("model", ["tiny_cnn", "custom_cnn"])
def test_host_caller_matches_tflm(model: str, tmp_path: Path) -> None:
    path = getattr(models, model)()
    g = load_model(path)
    e = export_model(g, "host", tmp_path / "lib")
    lib = e.out
    text = (lib / "include" / "tiny_model.h").read_text()
    t_in, t_out = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    assert f"#define TINY_MODEL_INPUT_BYTES TINY_MODEL_INPUT0_BYTES" in text
    assert f"#define TINY_MODEL_INPUT0_BYTES {t_in.nbytes}u" in text
    assert f"#define TINY_MODEL_OUTPUT0_BYTES {t_out.nbytes}u" in text
    assert f"#define TINY_MODEL_INPUT0_ZERO_POINT ({t_in.quant.zp()})" in text
    scale = float(re.search(r"TINY_MODEL_OUTPUT0_SCALE (\S+)f", text).group(1))
    assert scale == pytest.approx(t_out.quant.s(), rel=1e-8)
    assert "int tiny_model_invoke(const int8_t *input, int8_t *output);" in text
    # no board code in a library
    for f in _sources(lib):
        code = Path(f).read_text()
        assert not re.search(r"\bint\s+main\s*\(", code) and "tiny_port_" not in code and "tiny_proto_" not in code, f
    assert not any("protocol/" in r or "boards/" in r or r == "runtime/main.c" for r in e.runtime)
    samples = [random_inputs(g, seed) for seed in range(6)]
    assert _run_host(lib, tmp_path, samples) == _expected_bytes(g, samples)


def test_external_arena_and_only_chosen_kernels(tmp_path: Path) -> None:
    g = load_model(models.tiny_cnn())
    e = export_model(g, "host", tmp_path / "lib")
    # portable kernels only on the host; exactly the ops of the model (conv, in-place dw, mean, fc)
    assert all(r.startswith(("kernels/ref/", "runtime/markers")) for r in e.runtime), e.runtime
    assert "kernels/ref/softmax_s8.c" not in e.runtime and "kernels/ref/add_s8.c" not in e.runtime
    samples = [random_inputs(g, seed) for seed in range(3)]
    assert _run_host(e.out, tmp_path, samples, ("TINY_MODEL_EXTERNAL_ARENA",)) == _expected_bytes(g, samples)
    # the arena really is the caller's: the library alone leaves tiny_model_arena undefined
    obj = tmp_path / "model.o"
    _cc(["gcc", *STRICT, "-DTINY_MODEL_EXTERNAL_ARENA", f"-I{e.out / 'src'}", "-c",
         str(e.out / "src" / "tiny_model" / "model.c"), "-o", str(obj)])
    nm = subprocess.run(["nm", str(obj)], capture_output=True, text=True).stdout
    assert re.search(r"\bU tiny_model_arena\b", nm) and "tiny_arena" not in nm
    # every global symbol the library defines is prefixed
    objs = []
    for i, src in enumerate(_sources(e.out)):
        o = tmp_path / f"o{i}.o"
        _cc(["gcc", *STRICT, f"-I{e.out / 'include'}", f"-I{e.out / 'src'}", "-c", src, "-o", str(o)])
        objs.append(str(o))
    syms = subprocess.run(["nm", "-g", "--defined-only", *objs], capture_output=True, text=True).stdout
    names = [ln.split()[-1] for ln in syms.splitlines() if len(ln.split()) == 3]
    assert names and all(n.startswith("tiny_") for n in names), [n for n in names if not n.startswith("tiny_")]


def _qemu_run(elf: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                          capture_output=True, text=True, timeout=timeout)


def _samples_header(samples) -> str:
    rows = ",\n".join("    {" + ", ".join(str(int(v)) for v in xs[0].reshape(-1)) + "}" for xs in samples)
    n = samples[0][0].size
    return (f"#define APP_SAMPLES {len(samples)}\n"
            f"static const int8_t app_samples[APP_SAMPLES][{n}] = {{\n{rows}\n}};\n")


@pytest.mark.qemu
@pytest.mark.parametrize("external", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_own_firmware_on_qemu_matches_tflm(external: bool, tmp_path: Path) -> None:
    """Built with the library's strict flags for the board's core (the DSP kernels included)."""
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm toolchain or QEMU not installed")
    g = load_model(models.tiny_cnn())
    e = export_model(g, "qemu-m4-256k", tmp_path / "lib")
    assert any(r.startswith("kernels/arm/") for r in e.runtime)
    assert "-mcpu=cortex-m4" in (e.out / "README.md").read_text()
    samples = [random_inputs(g, seed) for seed in range(4)]
    (tmp_path / "samples.h").write_text(_samples_header(samples))
    elf = tmp_path / "app.elf"
    fw = HERE / "fw"
    _cc(["arm-none-eabi-gcc", *M4, "-O2", *STRICT, *(["-DTINY_MODEL_EXTERNAL_ARENA"] if external else []),
         "-ffunction-sections", "-fdata-sections", "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
         "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments", "-T", str(fw / "link.ld"),
         f"-I{tmp_path}", f"-I{e.out / 'include'}", f"-I{e.out / 'src'}",
         str(fw / "startup.c"), str(fw / "main.c"), *_sources(e.out), "-o", str(elf)])
    r = _qemu_run(elf)
    assert r.returncode == 0, r.stdout + r.stderr
    got = [bytes.fromhex(ln) for ln in (r.stdout + r.stderr).split() if re.fullmatch(r"[0-9a-f]+", ln)]
    want = [np.ascontiguousarray(ys[0]).tobytes() for ys in _tflm(g, samples)]
    assert got == want
