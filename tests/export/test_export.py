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


@pytest.mark.parametrize("model", ["tiny_cnn", pytest.param("custom_cnn", marks=pytest.mark.slow)])
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


@pytest.mark.parametrize("which", ["digits-base", "pooled-pointwise"])
def test_training_entry_points_match_the_oracle(which: str, tmp_path: Path) -> None:
    """tiny export --train: steps run by the caller's own program end with the parameters (and
    predictions) of tiny's training oracle at the learning rate the caller set; save/restore round-trips.
    pooled-pointwise: the fixed scheme trains the 1x1 conv before the pool from the per-channel
    (broadcast) gradient."""
    from tests.train.conftest import device_tensors
    from tiny.train import data as tdata
    from tiny.train.api import oracle_for
    g = load_model(tdata.base_model() if which == "digits-base" else models.pooled_pointwise_cnn())
    t = g.tensors[g.inputs[0]]
    xtr, ytr, _, _ = tdata.load("digits-transfer", t.shape, t.quant.s(), t.quant.zp(), 10)
    e = export_model(g, "host", tmp_path / "lib", train="sparse")
    text = (e.out / "include" / "tiny_model.h").read_text()
    for decl in ("int tiny_model_train_step(", "void tiny_model_train_set_lr(float lr);",
                 "uint32_t tiny_model_train_save(uint8_t *buf, uint32_t cap);", "uint32_t tiny_model_train_restore("):
        assert decl in text
    obj = tmp_path / "train.o"      # the library build leaves the protocol commands and the port out
    _cc(["gcc", *STRICT, "-DTINY_TRAIN_NO_PROTOCOL", f"-I{e.out / 'src'}", "-c", str(e.out / "src/tiny/train/train.c"),
         "-o", str(obj)])
    nm = subprocess.run(["nm", str(obj)], capture_output=True, text=True).stdout
    assert "tiny_train_step" in nm and "tiny_proto" not in nm and "tiny_port" not in nm
    exe = tmp_path / "train_app"
    _cc(["gcc", *STRICT, "-O2", "-DTINY_TRAIN_NO_PROTOCOL", f"-I{e.out / 'include'}", f"-I{e.out / 'src'}",
         str(HERE / "train_main.c"), *_sources(e.out), "-o", str(exe), "-lm"])
    n, lr = 12, 0.03
    (tmp_path / "in.bin").write_bytes(b"".join(xtr[i].astype(np.int8).tobytes() + bytes([int(ytr[i])])
                                               for i in range(n)))
    r = subprocess.run([str(exe), float(np.float32(lr)).hex(), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                       capture_output=True, text=True)
    assert r.returncode == 0, (r.returncode, r.stderr)
    out = (tmp_path / "out.bin").read_bytes()
    pb = e.training["params_bytes"]
    before, preds, after, restored = out[:pb], out[pb:pb + n], out[pb + n:2 * pb + n], out[2 * pb + n:]
    assert restored == before and after != before
    from tiny.train.api import compile_train
    from tiny.train.config import load_config
    tc = compile_train(g, "host", load_config("sparse", lr=lr))
    assert any(st.bcast for st in tc.train_plan.steps) == (which == "pooled-pointwise")
    oracle = oracle_for(tc)
    want_preds = [oracle.step(xtr[i:i + 1], int(ytr[i]))["pred"] for i in range(n)]
    assert list(preds) == want_preds

    class _Ck:   # the parameter blobs in the library's order, as a checkpoint holds them
        params = []
    k = 0
    for name in e.training["params"]:
        size = {"w": 1, "wf": 1, "b": 4}[name.split(".")[1]] * int(np.prod(oracle.tensors()[name].shape))
        _Ck.params.append(after[k:k + size])
        k += size
    assert k == pb
    got = device_tensors(tc, _Ck)
    for name, ref in oracle.tensors().items():
        assert np.array_equal(got[name], ref.reshape(-1)), name


def _two_in_two_out() -> Path:
    def build() -> bytes:
        import tensorflow as tf
        from tiny.frontend.keras import quantize
        L = tf.keras.layers
        tf.keras.utils.set_random_seed(5)
        a, b = tf.keras.Input((8, 8, 3)), tf.keras.Input((8, 8, 3))
        x = L.Add()([L.Conv2D(6, 3, padding="same", activation="relu")(a), L.Conv2D(6, 1)(b)])
        m = tf.keras.Model([a, b], [L.Dense(4)(L.GlobalAveragePooling2D()(x)), L.Conv2D(2, 1)(x)])
        rng = np.random.default_rng(0)
        rep = lambda: ([rng.uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32) for _ in range(2)] for _ in range(16))  # noqa: E731
        return quantize(m, rep)
    return models._cached("export-2in-2out", build)


def test_several_inputs_and_outputs(tmp_path: Path) -> None:
    g = load_model(_two_in_two_out())
    assert len(g.inputs) == 2 and len(g.outputs) == 2
    e = export_model(g, "host", tmp_path / "lib")
    text = (e.out / "include" / "tiny_model.h").read_text()
    assert "int tiny_model_invoke_n(const int8_t *const *in, int8_t *const *out);" in text
    assert "int tiny_model_invoke(" not in text        # one-pointer form only for one input, one output
    for i in range(2):
        assert f"#define TINY_MODEL_INPUT{i}_BYTES {g.tensors[g.inputs[i]].nbytes}u" in text
        assert f"#define TINY_MODEL_OUTPUT{i}_BYTES {g.tensors[g.outputs[i]].nbytes}u" in text
    samples = [random_inputs(g, seed) for seed in range(4)]
    assert _run_host(e.out, tmp_path, samples) == _expected_bytes(g, samples)


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    from tiny.ir import TinyError
    g = load_model(models.tiny_cnn())
    (tmp_path / "proj" / "src").mkdir(parents=True)
    (tmp_path / "proj" / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(TinyError, match="not empty and holds no earlier tiny export"):
        export_model(g, "host", tmp_path / "proj")
    assert (tmp_path / "proj" / "src" / "main.c").exists()
    e = export_model(g, "host", tmp_path / "lib")
    export_model(g, "host", e.out)          # over an earlier export: fine
