"""`tiny train`: evaluate, fine-tune on the board with checkpoints, evaluate again, save the model.

The sample of step i is fixed by i alone (epoch = i // n, a seeded permutation per epoch), so a
run resumed from a checkpoint after the board reset or the connection dropped computes exactly
what an uninterrupted run computes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tiny.device.protocol import DeviceError
from tiny.ir import TinyError
from tiny.train.config import load_config
from tiny.train.device import Checkpoint, TrainDevice


@dataclass
class RunResult:
    data: dict[str, Any]
    checkpoint: Checkpoint | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)


def sample_index(step: int, n: int, seed: int = 0) -> int:
    epoch, i = divmod(step, n)
    return int(np.random.default_rng(seed + epoch).permutation(n)[i])


def evaluate(dev: TrainDevice, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([dev.eval(x[i:i + 1]) == y[i] for i in range(len(x))])) if len(x) else 0.0


def run_training(model: str | None, board: str, recipe: str = "sparse", data: str = "digits-transfer",
                 epochs: int | None = None, steps: int | None = None, lr: float | None = None,
                 momentum: float | None = None, qas: bool | None = None, schedule: str = "layer",
                 checkpoint_every: int = 100, eval_samples: int | None = None, out: Path | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 on_step: Callable[[int, Any], None] | None = None, log: Callable[[str], None] = print,
                 blocks: int | None = None, freeze_dw: bool | None = None, count_steps: int = 2,
                 kernels: str = "opt") -> RunResult:
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    from tiny.train.api import compile_train
    from tiny.workflow import open_session
    t0 = time.time()
    cfg = load_config(recipe, epochs=epochs, lr=lr, momentum=momentum, qas=qas, blocks=blocks,
                      freeze_dw=freeze_dw or None)
    if model is None:
        if data != "digits-transfer":
            raise TinyError("MODEL is required unless --data digits-transfer (which has its own base model)")
        # mobiletl needs inverted residual blocks: the task's MobileNetV2/V3-style base model
        model = str(tdata.base_model("irb" if cfg.recipe == "mobiletl" else "v1"))
    g = load_model(model)
    from tiny.train.head import adapt_head
    g = adapt_head(g, data, Path(out) if out else Path("tiny-train"), log=log)
    tin = g.tensors[g.inputs[0]]
    from tiny.passes.sparse_update import _logits
    n_classes = g.tensors[_logits(g)].size
    xtr, ytr, xte, yte = tdata.load(data, tin.shape, tin.quant.s(), tin.quant.zp(), n_classes)
    if eval_samples is not None:
        xte, yte = xte[:eval_samples], yte[:eval_samples]
    tc = compile_train(g, board, cfg, schedule, kernels=kernels)   # raises before flashing if it cannot fit
    total = steps if steps is not None else cfg.epochs * len(xtr)
    sess = open_session(tc, board)
    dev = TrainDevice(sess, len(tc.param_names))
    resets = 0
    try:
        dev.set_hparams(cfg.lr, cfg.momentum, cfg.qas)
        acc_before = evaluate(dev, xte, yte)
        ck = dev.checkpoint()
        curve: list[tuple[int, float]] = []
        hits: list[int] = []
        cycles: list[int] = []
        step = 0
        while step < total:
            try:
                i = sample_index(step, len(xtr))
                r = dev.step(xtr[i:i + 1], int(ytr[i]), step)
                if on_step:
                    on_step(step, sess)
                hits.append(int(r["pred"] == ytr[i]))
                cycles.append(r["cycles"])
                step += 1
                if step % checkpoint_every == 0 or step == total:
                    ck = dev.checkpoint()
                    curve.append((step, float(np.mean(hits[-checkpoint_every:]))))
                if progress:
                    progress(step, total)
            except DeviceError as e:
                resets += 1
                if resets > 3:
                    raise
                first = str(e).splitlines()[0]
                log(f"board lost at step {step} ({first}); resuming from the checkpoint at step {ck.steps}")
                sess.close()
                sess = open_session(tc, board)
                dev = TrainDevice(sess, len(tc.param_names))
                dev.set_hparams(cfg.lr, cfg.momentum, cfg.qas)
                dev.restore(ck)
                step = ck.steps
                hits = hits[:step]
        acc_after = evaluate(dev, xte, yte)
        ck = dev.checkpoint()
    finally:
        sess.close()
    from tiny.boards import get_board
    insn, split = None, None
    from tiny.device.connect import current_port
    if count_steps and get_board(board).emulated and board != "host" and not current_port():
        from tiny.train.insn import count_step_breakdown
        counts = count_step_breakdown(tc, board, xtr, ytr, count_steps, cfg.lr, cfg.momentum, cfg.qas)
        insn = int(round(sum(c["total"] for c in counts) / len(counts)))
        split = {k: int(round(sum(c[k] for c in counts) / len(counts))) for k in ("forward", "backward")}
    mem = tc.train_memory
    res = {"model": Path(model).name, "board": board, "recipe": cfg.recipe, "data": data, "qas": cfg.qas,
           "lr": cfg.lr, "momentum": cfg.momentum, "steps": total, "accuracy_before": acc_before,
           "accuracy_after": acc_after, "eval_samples": int(len(xte)),
           "train_peak_sram_bytes": mem["train_peak_sram_bytes"], "memory": mem, "resumes": resets,
           "instructions_per_step": insn, "instructions_per_step_split": split, "kernels": kernels,
           "wall_s": round(time.time() - t0, 2)}
    if cfg.recipe == "mobiletl":
        from tiny.passes.mobiletl import block_memory, select
        res["blocks"] = cfg.blocks
        res["freeze_depthwise"] = cfg.freeze_dw
        res["train_blocks"] = block_memory(tc.train_plan, select(g, cfg.blocks)[0])
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        p = out / f"{Path(model).stem}-{cfg.recipe}.tflite"
        write_tflite(g, tc, ck, p)
        res["output"] = str(p)
    return RunResult(data=res, checkpoint=ck, curve=curve)


def updated_tensors(tc: Any, ck: Checkpoint) -> dict[int, np.ndarray]:
    """Tensor id -> fine-tuned data, from a checkpoint of the board's parameters."""
    g = tc.graph
    out = {}
    for name, blob in zip(tc.param_names, ck.params):
        op_s, role = name.split(".")
        if role not in ("w", "b"):
            continue
        op = g.ops[int(op_s)]
        t = g.tensors[op.inputs[1 if role == "w" else 2]]
        out[t.id] = np.frombuffer(blob, dtype=np.int8 if role == "w" else np.int32).reshape(t.shape)
    return out


def write_tflite(g: Any, tc: Any, ck: Checkpoint, path: Path) -> Path:
    """The original flatbuffer with the fine-tuned weight and bias buffers."""
    import flatbuffers
    from tiny.frontend.tflite import _schema
    schema = _schema()
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(g.meta["tflite"], 0))
    sub = m.subgraphs[0]
    for tid, arr in updated_tensors(tc, ck).items():
        buf = sub.tensors[tid].buffer
        m.buffers[buf].data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=np.uint8)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
    return path
