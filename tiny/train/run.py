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

from tiny.device.protocol import BoardReset, DeviceError
from tiny.input_domain import Normalization
from tiny.ir import TinyError
from tiny.ops import kinds as K
from tiny.train import schedule as sch
from tiny.train.layers import label_count
from tiny.train.config import TrainConfig, load_config
from tiny.train.device import Checkpoint, TrainDevice


@dataclass
class RunResult:
    data: dict[str, Any]
    checkpoint: Checkpoint | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)


def sample_index(step: int, n: int, seed: int = 0) -> int:
    return sch.sample_index(step, n, seed)


def evaluate(dev: TrainDevice, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([dev.eval(x[i:i + 1]) == y[i] for i in range(len(x))])) if len(x) else 0.0


def resolve_settings(recipe: str, lr: float | str | None, momentum: float | None, epochs: int | None,
                     ) -> tuple[float | None, float | None, int | None, bool]:
    """The recipe's defaults for what the user left out (recipe names only; a TOML config keeps its own
    values); lr "auto" -> (None, ..., True): the rate is searched on the host oracle."""
    auto = isinstance(lr, str)
    if auto and lr != "auto":
        try:
            lr, auto = float(lr), False
        except ValueError:
            raise TinyError(f"--lr {lr!r}: a number or 'auto'") from None
    d = sch.DEFAULTS.get(recipe) if recipe in sch.DEFAULTS else None
    if d is not None:
        lr = d.lr if lr is None or auto else lr
        momentum = d.momentum if momentum is None else momentum
        epochs = d.epochs if epochs is None else epochs
    return (None if auto and d is None else lr), momentum, epochs, auto


def _trial_runners(workers: int | None, address: str | None) -> tuple[Any, Any]:
    """Runners for the host-oracle searches (sparse contribution trials, --lr auto candidates): Ray
    tasks when `workers`/`address` is given, else None (one after the other in this process)."""
    if not workers and not address:
        return None, None
    from tiny.sweep.engine import shared_runner
    from tiny.train.contrib import run_trial
    from tiny.train.lr_search import _lr_trial
    return shared_runner(run_trial, workers, address), shared_runner(_lr_trial, workers, address)


@dataclass
class Prepared:
    """Everything a run decides on the host before the board is touched: the model with its head,
    the data (quantized into the model's input domain, held-out split), the scheme, the rates and
    the compiled training firmware. Picklable, so farm boards (Ray tasks) train the same run."""
    model: str
    board: str
    data: str
    g: Any                  # the model trained (with weight headroom, if any)
    g0: Any                 # the model as the user gave it (with its new head): the float twins start from it
    cfg: Any
    tc: Any
    dom: Any
    xtr: np.ndarray
    ytr: np.ndarray
    xv: np.ndarray
    yv: np.ndarray
    xte: np.ndarray
    yte: np.ndarray
    total: int
    rates: list[float]
    eval_at: set[int]
    rounding: str
    lr_schedule: str
    steps: int | None
    lr_search: list[dict[str, float]] | None = None
    lr_check: dict[str, Any] | None = None    # the probe of a default rate (tiny.train.lr_search)
    order_seed: int = 0     # the sample order's seed (tiny/train/schedule.py): the board and the twins alike


@dataclass
class BoardRun:
    """What one board did with a Prepared run."""
    acc_before: float
    acc_after: float
    checkpoint: Checkpoint
    curve: list[tuple[int, float]]
    kept: int
    resumes: int
    watchdog_resets: list[dict[str, int]]
    wall_s: float = 0.0


def run_training(model: str | None, board: str, recipe: str = "sparse", data: str = "digits-transfer",
                 epochs: int | None = None, steps: int | None = None, lr: float | str | None = None,
                 momentum: float | None = None, qas: bool | None = None, schedule: str = "layer",
                 checkpoint_every: int = 100, eval_samples: int | None = None, out: Path | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 on_step: Callable[[int, Any], None] | None = None, log: Callable[[str], None] = print,
                 blocks: int | None = None, freeze_dw: bool | None = None, count_steps: int = 2,
                 kernels: str = "opt", input_range: tuple[float, float] | None = None, normalize: Normalization | None = None,
                 lr_schedule: str = "cosine", early_stop: bool = True, float_reference: bool = True,
                 rounding: str = "stochastic", workers: int | None = None, address: str | None = None,
                 headroom: float | None = None, shadow: bool | None = None,
                 search: bool | None = None, sram_budget: int | None = None, order_seed: int = 0) -> RunResult:
    t0 = time.time()
    pr = prepare(model, board, recipe, data, epochs=epochs, steps=steps, lr=lr, momentum=momentum, qas=qas,
                 schedule=schedule, eval_samples=eval_samples, out=out, log=log, blocks=blocks,
                 freeze_dw=freeze_dw, kernels=kernels, input_range=input_range, normalize=normalize,
                 lr_schedule=lr_schedule,
                 early_stop=early_stop, rounding=rounding, workers=workers, address=address, headroom=headroom,
                 shadow=shadow, search=search, sram_budget=sram_budget, order_seed=order_seed)
    br = train_on_board(pr, checkpoint_every=checkpoint_every, progress=progress, on_step=on_step, log=log)
    return finish(pr, br, count_steps=count_steps, kernels=kernels, float_reference=float_reference,
                  early_stop=early_stop, out=out, log=log, t0=t0)


def prepare(model: str | None, board: str, recipe: str = "sparse", data: str = "digits-transfer",
            epochs: int | None = None, steps: int | None = None, lr: float | str | None = None,
            momentum: float | None = None, qas: bool | None = None, schedule: str = "layer",
            eval_samples: int | None = None, out: Path | None = None, log: Callable[[str], None] = print,
            blocks: int | None = None, freeze_dw: bool | None = None, kernels: str = "opt",
            input_range: tuple[float, float] | None = None, normalize: Normalization | None = None, lr_schedule: str = "cosine",
            early_stop: bool = True, rounding: str = "stochastic", workers: int | None = None,
            address: str | None = None, headroom: float | None = None, shadow: bool | None = None,
            search: bool | None = None, sram_budget: int | None = None, order_seed: int = 0) -> Prepared:
    """The host half of `tiny train` before the board: settings, head, data, scheme, rates, firmware.
    sram_budget: the bytes the whole training peak must fit (default: the board's usable SRAM); the
    sparse scheme is searched under it and the forward schedule planned within it. order_seed: the
    seed of the sample order (0: the default order; another gives another run of the same setup,
    float twins included, to see how much of a result is the order)."""
    if not (isinstance(order_seed, int) and order_seed >= 0):
        raise TinyError(f"--order-seed {order_seed!r}: a non-negative integer")
    from tiny.pipeline import load_model
    from tiny.train import data as tdata
    lr_default = False if lr is not None else None     # --lr given: not the recipe's default (nor a TOML's)
    lr, momentum, epochs, auto = resolve_settings(recipe, lr, momentum, epochs)
    cfg = load_config(recipe, epochs=epochs, lr=lr, momentum=momentum, qas=qas, blocks=blocks,
                      freeze_dw=freeze_dw or None, headroom=headroom, shadow=shadow, search=search,
                      lr_default=lr_default)
    if model is None:
        if data not in tdata.TASKS:
            raise TinyError(f"MODEL is required unless --data is a built-in task ({', '.join(tdata.TASKS)}), "
                            "which has its own base model")
        # mobiletl needs inverted residual blocks: digits-transfer's MobileNetV2/V3-style base model
        model = str(tdata.task_model(data, cfg.recipe))
    g = load_model(model)
    from tiny.train.head import adapt_head, logits_op
    from tiny.train.head import n_classes as head_classes
    n_before = head_classes(g)
    g = adapt_head(g, data, Path(out) if out else Path("tiny-train"), log=log)
    new_head = head_classes(g) != n_before
    from tiny.train.layers import frozen_notes
    n_classes = label_count(g)
    for line in frozen_notes(g):
        log(line)
    dom, xtr, ytr, xte, yte = tdata.model_data(g, data, input_range, warn=log, normalize=normalize)
    if eval_samples is not None:
        xte, yte = xte[:eval_samples], yte[:eval_samples]
    xtr, ytr, xv, yv = sch.split_validation(xtr, ytr) if early_stop else (xtr, ytr, xtr[:0], ytr[:0])
    from tiny.train.contrib import resolve_scheme    # --recipe sparse: the scheme searched under the budget
    runners = _trial_runners(workers, address)
    cfg = resolve_scheme(g, cfg, board, xtr, ytr, schedule, sram_budget, log=log, runner=runners[0],
                         run_steps=steps if steps is not None else cfg.epochs * len(xtr))
    from tiny.train.api import training_plan
    plan = training_plan(g, cfg)
    if new_head:
        hu = plan.update_for(logits_op(g))
        if hu is None or not hu.weight_channels:
            raise TinyError(f"the data have {n_classes} classes, the model's head {n_before}: tiny gave the model a "
                            f"new {n_classes}-class head, but recipe {cfg.recipe!r} does not train the head's "
                            "weights (use --recipe head, sparse or full)")
    from tiny.train.headroom import trained_weight_channels, with_headroom
    g0, g = g, with_headroom(g, trained_weight_channels(plan), cfg.headroom, cfg.body_headroom)
    plan = training_plan(g, cfg)
    total = steps if steps is not None else cfg.epochs * len(xtr)
    # compiled (and refused when over the budget) before the rate searches spend host time on it
    tc = _compile_within_budget(g, board, cfg, schedule, sram_budget, kernels, log)
    lr_search = None
    if auto:
        from tiny.train.lr_search import search_lr
        cfg.lr, tried = search_lr(plan, cfg.lr, cfg.momentum, cfg.qas, rounding, xtr, ytr,
                                  xv if len(xv) else xtr, yv if len(yv) else ytr, max_steps=min(600, total), log=log,
                                  runner=runners[1], seed=order_seed)
        lr_search = [{"lr": a, "heldout_accuracy": b} for a, b in tried]
    lr_check = None
    from tiny.train.lr_search import PROBE_MIN_STEPS, check_default_lr
    if not auto and cfg.lr_default and total >= PROBE_MIN_STEPS:   # a recipe's default: checked
        cfg.lr, lr_check = check_default_lr(plan, cfg.lr, cfg.momentum, cfg.qas, rounding, xtr, ytr,
                                            xv if len(xv) else xtr, yv if len(yv) else ytr, total,
                                            sch.chance(yv if len(yv) else ytr, ytr, n_classes), lr_schedule,
                                            order_seed, log=log,
                                            what=f"the {cfg.recipe} recipe's default")
    rates = sch.lrs(total, cfg.lr, lr_schedule)
    eval_at = set(sch.eval_points(total, len(xtr))) if early_stop and len(xv) else set()
    if cfg.lr != tc.lr:      # a searched or backed-off rate: the firmware's default rate is that one
        tc = _compile_within_budget(g, board, cfg, schedule, sram_budget, kernels, log=lambda _: None)
    return Prepared(model=model, board=board, data=data, g=g, g0=g0, cfg=cfg, tc=tc, dom=dom, xtr=xtr, ytr=ytr, xv=xv,
                    yv=yv, xte=xte, yte=yte, total=total, rates=rates, eval_at=eval_at, rounding=rounding,
                    lr_schedule=lr_schedule, steps=steps, lr_search=lr_search, lr_check=lr_check,
                    order_seed=order_seed)


def _compile_within_budget(g: Any, board: str, cfg: TrainConfig, schedule: str, sram_budget: int | None,
                           kernels: str, log: Callable[[str], None]) -> Any:
    """compile_train, and a TinyError when the training peak is over the budget (layer and patch
    schedules are not planned to it). Sets cfg.shadow to the plan's (the sparse default: the weight
    shadow when it fits), so a second compile makes the same plan."""
    from tiny.train.api import compile_train
    from tiny.train.fit_schedule import training_budget
    tc = compile_train(g, board, cfg, schedule, sram_budget, kernels=kernels, log=log)
    cfg.shadow = tc.train_plan.shadow
    peak, budget = tc.train_memory["train_peak_sram_bytes"], training_budget(board, sram_budget)
    if peak > budget:
        raise TinyError(f"the training needs {peak:,} B of SRAM, over "
                        + (f"--sram-budget {budget:,} B" if sram_budget is not None else
                           f"the {budget:,} B {board} leaves after its stack and runtime")
                        + f" (schedule {schedule}: use --schedule auto, or update fewer or higher layers)")
    return tc


def train_on_board(pr: Prepared, port: str | None = None, checkpoint_every: int = 100,
                   progress: Callable[[int, int], None] | None = None,
                   on_step: Callable[[int, Any], None] | None = None,
                   log: Callable[[str], None] = print, elf: Path | None = None) -> BoardRun:
    """The board half: evaluate, train with checkpoints (resuming after a watchdog reset or a lost
    connection), keep the best held-out weights, evaluate again."""
    from tiny.workflow import open_session
    t0 = time.time()
    cfg, tc, board, rounding = pr.cfg, pr.tc, pr.board, pr.rounding
    xtr, ytr, xv, yv, xte, yte = pr.xtr, pr.ytr, pr.xv, pr.yv, pr.xte, pr.yte
    total, rates, eval_at = pr.total, pr.rates, pr.eval_at
    sess = open_session(tc, board, port=port, elf=elf)
    dev = TrainDevice(sess, len(tc.param_names))
    resets = 0
    watchdog_resets: list[dict[str, int]] = []
    try:
        dev.set_hparams(cfg.lr, cfg.momentum, cfg.qas, rounding)
        acc_before = evaluate(dev, xte, yte)
        ck = dev.checkpoint()
        best: tuple[float, int, Checkpoint] | None = None
        curve: list[tuple[int, float]] = []
        hits: list[int] = []
        step = 0
        while step < total:
            try:
                i = sample_index(step, len(xtr), pr.order_seed)
                r = dev.step(xtr[i:i + 1], int(ytr[i]), step, lr=rates[step])
                if on_step:
                    on_step(step, sess)
                hits.append(int(r["pred"] == ytr[i]))
                step += 1
                if step in eval_at:
                    ck = dev.checkpoint()
                    a = evaluate(dev, xv, yv)
                    curve.append((step, a))
                    if best is None or a > best[0]:
                        best = (a, step, ck)
                elif step % checkpoint_every == 0 or step == total:
                    ck = dev.checkpoint()
                if not eval_at and (step % checkpoint_every == 0 or step == total):
                    curve.append((step, float(np.mean(hits[-checkpoint_every:]))))
                if progress:
                    progress(step, total)
            except BoardReset as e:
                # the board hung and its watchdog reset it: same session, the flashed weights again
                resets += 1
                if resets > 3:
                    raise
                dev.set_hparams(cfg.lr, cfg.momentum, cfg.qas, rounding)
                dev.restore(ck)
                log(f"the board was reset by its watchdog at step {step} (it stopped answering "
                    f"{e.during}); resumed from checkpoint {ck.steps}")
                watchdog_resets.append({"step": step, "resumed_from": ck.steps})
                step = ck.steps
                hits = hits[:step]
                curve = [c for c in curve if c[0] <= step]
            except DeviceError as e:
                resets += 1
                if resets > 3:
                    raise
                first = str(e).splitlines()[0]
                log(f"board lost at step {step} ({first}); resuming from the checkpoint at step {ck.steps}")
                sess.close()
                sess = open_session(tc, board, port=port, elf=elf)
                dev = TrainDevice(sess, len(tc.param_names))
                dev.set_hparams(cfg.lr, cfg.momentum, cfg.qas, rounding)
                dev.restore(ck)
                step = ck.steps
                hits = hits[:step]
                curve = [c for c in curve if c[0] <= step]
        kept = total
        if best is not None and best[1] != total and best[0] > curve[-1][1]:
            dev.restore(best[2])       # early stop: the weights of the best held-out accuracy
            kept = best[1]
        acc_after = evaluate(dev, xte, yte)
        ck = dev.checkpoint()
    finally:
        sess.close()
    return BoardRun(acc_before, acc_after, ck, curve, kept, resets, watchdog_resets, round(time.time() - t0, 2))


def finish(pr: Prepared, br: BoardRun, count_steps: int = 2, kernels: str = "opt", float_reference: bool = True,
           early_stop: bool = True, out: Path | None = None, log: Callable[[str], None] = print,
           t0: float | None = None) -> RunResult:
    """The host half after the board: instruction counts, float twins, the fine-tuned .tflite, JSON."""
    from tiny.train.headroom import describe as describe_headroom
    g, cfg, tc, board, model = pr.g, pr.cfg, pr.tc, pr.board, pr.model
    xtr, ytr, total = pr.xtr, pr.ytr, pr.total
    from tiny.boards import get_board
    insn, split = None, None
    from tiny.device.connect import current_port
    if count_steps and get_board(board).emulated and board != "host" and not current_port():
        from tiny.train.insn import count_step_breakdown
        counts = count_step_breakdown(tc, board, xtr, ytr, count_steps, cfg.lr, cfg.momentum, cfg.qas)
        insn = int(round(sum(c["total"] for c in counts) / len(counts)))
        split = {k: int(round(sum(c[k] for c in counts) / len(counts))) for k in ("forward", "backward")}
    mem = tc.train_memory
    res = {"model": Path(model).name, "board": board, "recipe": cfg.recipe, "data": pr.data, "qas": cfg.qas,
           "lr": cfg.lr, "momentum": cfg.momentum, "epochs": cfg.epochs, "lr_schedule": pr.lr_schedule,
           "rounding": pr.rounding, "order_seed": pr.order_seed, "steps": total, "kept_step": br.kept,
           "accuracy_before": br.acc_before,
           "accuracy_after": br.acc_after, "eval_samples": int(len(pr.xte)), "heldout_samples": int(len(pr.xv)),
           "heldout_curve": br.curve if pr.eval_at else [], "input_domain": pr.dom.describe(),
           "train_peak_sram_bytes": mem["train_peak_sram_bytes"], "memory": mem, "resumes": br.resumes,
           "watchdog_resets": br.watchdog_resets,
           "instructions_per_step": insn, "instructions_per_step_split": split, "kernels": kernels,
           "lr_search": pr.lr_search, "lr_check": pr.lr_check, "weight_headroom": describe_headroom(g), "weight_shadow": bool(cfg.shadow)}
    if getattr(cfg, "scheme_report", None):
        res["sparse_scheme"] = cfg.scheme_report
    if float_reference:
        res.update(_float_refs(pr.g0, tc, cfg, xtr, ytr, pr.xv, pr.yv, pr.xte, pr.yte, total, pr.rates, pr.eval_at,
                               pr.dom, pr.lr_schedule, pr.steps, early_stop and bool(pr.eval_at), log, grid=pr.g,
                               seed=pr.order_seed))
    note = learning_note(res, sch.chance(pr.yte, pr.ytr, label_count(g)))
    if note:
        res["learning_note"] = note
        log(note)
    if cfg.recipe == "mobiletl":
        from tiny.passes.mobiletl import block_memory, select
        res["blocks"] = cfg.blocks
        res["freeze_depthwise"] = cfg.freeze_dw
        res["train_blocks"] = block_memory(tc.train_plan, select(g, cfg.blocks)[0])
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        p = out / f"{Path(model).stem}-{cfg.recipe}.tflite"
        wb = write_tflite(g, tc, br.checkpoint, p)
        res["output"] = str(p)
        res.update(wb)
        if wb.get("written_scales_note"):
            log(wb["written_scales_note"])
    start = t0 if t0 is not None else time.time() - br.wall_s     # no host half timed: the board's
    res["wall_s"] = round(time.time() - start, 2)
    return RunResult(data=res, checkpoint=br.checkpoint, curve=br.curve)


def learning_note(res: dict[str, Any], chance: float) -> str | None:
    """What to tell a user whose run did not learn (test accuracy not above both its start and chance,
    sch.chance: 1 / classes or the most frequent class's share): whether the float twin of the same
    scheme (same data order and rates) did, i.e.
    whether the rate or the int8 training is at fault."""
    before, after = res["accuracy_before"], res["accuracy_after"]
    if after >= max(before, chance) + sch.LEARNED_MIN:
        return None
    head = f"the board did not learn ({before:.1%} -> {after:.1%} at lr {res['lr']:g})"
    fb, fr = res.get("float_accuracy_before"), res.get("float_reference_accuracy")
    auto = "" if res.get("lr_search") else "; `--lr auto` picks a rate on the host oracle, which the board repeats exactly"
    if fr is None or fb is None:
        return head + auto
    if fr < max(fb, chance) + sch.LEARNED_MIN:
        return (f"{head}, and neither did its float twin with the same rates ({fb:.1%} -> {fr:.1%}): the rate "
                f"does not suit this model and data{auto}")
    return (f"{head}, while its float twin with the same rates did ({fb:.1%} -> {fr:.1%}): the int8 training "
            f"loses what float learns here (try --headroom, or `shadow = true` in a TOML config)")


# The float full fine-tune (the ceiling) tries the full recipe's rate and two smaller ones: at one
# sample per step with momentum, a rate that suits one task diverges on another.
FULL_LR_FACTORS = (1.0, 0.3, 0.1)


def _float_refs(g, tc, cfg, xtr, ytr, xv, yv, xte, yte, total, rates, eval_at, dom, lr_schedule, steps,
                early_stop, log, grid=None, seed: int = 0) -> dict[str, Any]:
    """The float twins of this run (tiny.train.float_ref): the same scheme, and a full fine-tune at the
    full recipe's defaults over the same number of epochs (the best of FULL_LR_FACTORS on held-out data)."""
    from tiny.train.float_ref import dequantize_inputs, float_references
    s, z = dom.scale, dom.zero_point
    t_in = g.tensors[g.inputs[0]]
    if t_in.dtype == "uint8":    # a uint8 input's codes stand for their own real values, not the int8 core's
        s, z = t_in.quant.s(), t_in.quant.zp()
    f = lambda q: q if q.dtype == np.float32 else dequantize_inputs(q, s, z)  # noqa: E731  (float input: as is)
    full = sch.DEFAULTS["full"]
    full_total = total if steps is not None else full.epochs * len(xtr)
    t0 = time.time()
    try:
        out = float_references(g, tc.train_plan.logits, tc.train_plan.updates,
                               (f(xtr), ytr, f(xv), yv, f(xte), yte), sch.order(total, len(xtr), seed), rates,
                               cfg.momentum, sorted(eval_at),
                               sch.order(full_total, len(xtr), seed),
                               [sch.lrs(full_total, full.lr * f, lr_schedule) for f in FULL_LR_FACTORS],
                               full.momentum, sorted(sch.eval_points(full_total, len(xtr))) if eval_at else [],
                               early_stop=early_stop, log=log, grid=grid)
    except ImportError as e:   # TensorFlow is the oracle extra
        return {"float_reference_accuracy": None, "float_full_accuracy": None,
                "float_reference_note": f"no float reference: {e}"}
    out["float_reference_wall_s"] = round(time.time() - t0, 2)
    return out


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
        v = np.frombuffer(blob, dtype=np.int8 if role == "w" else np.int32)
        if v.size < t.size:   # a split layer's board table: its updated channels; the rest is frozen
            v = np.concatenate([v, t.data.reshape(-1)[v.size:].astype(np.int8)])
        out[t.id] = v.reshape(t.shape)
    return out


def write_tflite(g: Any, tc: Any, ck: Checkpoint, path: Path) -> dict[str, Any]:
    """The original flatbuffer with the fine-tuned weight and bias buffers. MobileTL's trained
    requantization scales k[c] = m 2^e / (m0 2^e0) are folded into the filter (and bias) scales as
    float32, which is all a .tflite can state: TFLM (and tiny, compiling the written file) derive the
    multiplier from them, which can differ from the board's trained int32 multiplier in its low bits;
    the returned dict says by how much."""
    import flatbuffers
    from tiny.reference.fixedpoint import quantize_multiplier
    from tiny.frontend.flatbuf import object_schema
    schema = object_schema()
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(g.meta["tflite"], 0))
    sub = m.subgraphs[0]
    written = updated_tensors(tc, ck)
    # the tensors weight headroom moved to a new grid (tiny/train/headroom.py), trained or not: a frozen
    # bias of a trained layer and the classifier's logits too
    moved = (g.meta.get("weight_headroom") or {}).get("tensors", [])
    for tid in sorted(set(written) | set(moved)):
        t = g.tensors[tid]
        arr = written.get(tid, t.data)
        if arr is not None and t.is_const:
            buf = sub.tensors[tid].buffer
            m.buffers[buf].data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=np.uint8)
        q = t.quant           # the scales the board trained with (weight headroom)
        if q is not None and sub.tensors[tid].quantization is not None:
            sub.tensors[tid].quantization.scale = [float(v) for v in np.asarray(q.scale, np.float32).reshape(-1)]
            sub.tensors[tid].quantization.zeroPoint = [int(v) for v in np.asarray(q.zero_point).reshape(-1)]
    blobs = dict(zip(tc.param_names, ck.params))
    info: dict[str, Any] = {}
    scaled = sorted({int(n.split(".")[0]) for n in tc.param_names if n.endswith(".m")})
    n_diff, n_all, worst = 0, 0, 0.0
    for op_i in scaled:
        op = g.ops[op_i]
        mt = np.frombuffer(blobs[f"{op_i}.m"], np.int32).astype(np.float64)
        et = np.frombuffer(blobs[f"{op_i}.e"], np.int32)
        p0 = tc.params[op_i]
        m0 = np.asarray(p0["multiplier"], np.float64)
        e0 = np.asarray(p0["shift"], np.int64)
        k = np.where(m0 != 0, mt / np.where(m0 == 0, 1, m0) * np.exp2(et - e0), 1.0)
        oc = len(k)
        ft = sub.tensors[op.inputs[1]]
        sw = np.asarray(ft.quantization.scale, np.float64)
        sw = np.repeat(sw, oc) if sw.size == 1 else sw
        new_sw = (sw * k).astype(np.float32)
        ft.quantization.scale = [float(v) for v in new_sw]
        ft.quantization.zeroPoint = [0] * oc
        ft.quantization.quantizedDimension = 0 if op.type == K.CONV_2D else 3
        sx = float(g.tensors[op.inputs[0]].quant.s())
        sy = float(g.tensors[op.outputs[0]].quant.s())
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            bt = sub.tensors[op.inputs[2]]
            bt.quantization.scale = [float(np.float32(sx * float(v))) for v in new_sw]
            bt.quantization.zeroPoint = [0] * oc
        for c in range(oc):
            if m0[c] == 0:
                continue
            mm, ee = quantize_multiplier(sx * float(new_sw[c]) / sy)
            n_all += 1
            rel = abs(mm * 2.0 ** ee - mt[c] * 2.0 ** et[c]) / (mt[c] * 2.0 ** et[c])
            if mm != int(mt[c]) or ee != int(et[c]):
                n_diff += 1
                worst = max(worst, rel)
    if scaled:
        info = {"written_scales": n_all, "written_scales_differing": n_diff, "written_scales_max_rel_diff": worst,
                "written_scales_note": (
                    f"trained requantization scales of {len(scaled)} layer(s) written as float32 filter scales: "
                    f"{n_diff} of {n_all} multipliers TFLM derives from them differ from the board's "
                    f"(at most {worst:.1e} relative); a .tflite cannot state an int32 multiplier directly")}
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    path.write_bytes(bytes(b.Output()))
    return info
