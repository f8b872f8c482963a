"""`tiny demo`: the whole story on the default emulated board, in a few minutes.

1. train a digits classifier on the host (sklearn's bundled digits, 64x64), quantize it to int8;
2. plan memory: layer by layer it does not fit the board, patch-based (MCUNetV2) it does;
3. build, flash (QEMU), validate bit-exact against TFLite Micro, classify test images on the board;
4. fine-tune on the board (digits-transfer: upright -> rotated/inverted digits) with sparse update
   and with MobileTL, accuracy before/after;
5. write the HTML report and say where it is."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tiny import data as datasets
from tiny.ir import TinyError

SIZE = 64


def build_digits_model(size: int = SIZE):  # -> keras.Model
    """A small CNN whose full-resolution first layer (64x64x64 = 256 KiB) cannot fit the board
    layer by layer; everything after it is small."""
    import tensorflow as tf
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([
        tf.keras.Input((size, size, 1)),
        L.Conv2D(64, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        L.DepthwiseConv2D(3, padding="same", activation="relu"),
        L.Conv2D(32, 1, activation="relu"),
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
        L.Conv2D(32, 1, activation="relu"),
        L.GlobalAveragePooling2D(),
        L.Dense(10),
    ])


BOARD_IMAGES = 64     # test images classified on the board (and by the float model, for the comparison)


def train_digits(out: Path, size: int = SIZE, epochs: int = 16) -> tuple[Path, tuple[float, float], tuple]:
    """Train on the host, quantize to int8; return (tflite path, (float accuracy on the whole test
    split, on its first BOARD_IMAGES images), test split)."""
    import tensorflow as tf
    from tiny.frontend.keras import quantize
    xtr, ytr, xte, yte = datasets.digits(size=size)
    m = build_digits_model(size)
    m.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    m.fit(xtr, ytr, epochs=epochs, batch_size=32, verbose=0)
    acc = float(m.evaluate(xte, yte, verbose=0)[1])
    acc_n = float(m.evaluate(xte[:BOARD_IMAGES], yte[:BOARD_IMAGES], verbose=0)[1])
    p = out / "digits64.tflite"
    p.write_bytes(quantize(m, xtr[:64]))
    return p, (acc, acc_n), (xte, yte)


def _memory_story(con: Console, g: Any, board: str) -> Any:
    from tiny.boards import get_board
    from tiny.passes.patch import usable_sram
    from tiny.workflow import compile_for
    b = get_board(board)
    budget = usable_sram(b)
    layer = compile_for(g, board)
    patch = compile_for(g, board, "auto")
    t = Table(title=f"SRAM on {board}: {b.sram_bytes:,} B ({budget:,} B for tensors after stack and runtime)")
    for col in ("schedule", "peak (input image included)", "fits?", "MACs"):
        t.add_column(col)
    t.add_row("layer by layer", f"{layer.plan.arena_bytes:,} B",
              "[red]no[/red]" if layer.plan.arena_bytes > budget else "[green]yes[/green]", "+0%")
    info = getattr(patch, "schedule_info", {})
    label = (f"patch-based: ops #0..#{info['split_after_op']} in {info['grid'][0]}x{info['grid'][1]} patches"
             if info.get("schedule") == "patch" else "layer by layer (auto)")
    t.add_row(label, f"{patch.plan.arena_bytes:,} B",
              "[green]yes[/green]" if patch.plan.arena_bytes <= budget else "[red]no[/red]",
              f"+{info.get('patch_mac_overhead', 0.0):.1%}")
    con.print(t)
    if patch.plan.arena_bytes > budget:
        raise TinyError(f"the demo model does not fit {board} even patch-based ({patch.plan.arena_bytes:,} B)")
    return patch


def _board_story(con: Console, g: Any, c: Any, board: str, xte: np.ndarray, yte: np.ndarray) -> tuple[Any, float]:
    from tiny.compare import validate
    from tiny.workflow import open_session
    from tiny.input_domain import model_input_domain, quantize_input
    xq = quantize_input(xte, model_input_domain(g), "x_test", warn=con.print)
    n = min(len(xq), BOARD_IMAGES)
    samples = [[xq[i:i + 1]] for i in range(n)]
    with con.status(f"building the firmware and starting {board}"):
        sess = open_session(c, board, samples=samples)
    with sess, Progress(transient=True, console=con) as bar:
        task = bar.add_task(f"validating on {board} against TFLite Micro", total=8)
        res = validate(g, sess, board, 8, inputs=samples[:8], readable=c.readable_ops,
                       progress=lambda k: bar.update(task, completed=k))
        task2 = bar.add_task(f"classifying {n} test images on {board}", total=n)
        correct = 0
        for i in range(n):
            logits = np.frombuffer(sess.run(samples[i])[0], dtype=np.int8)
            correct += int(np.argmax(logits) == yte[i])
            bar.update(task2, completed=i + 1)
    verdict = "[green]BIT-EXACT[/green]" if res.bit_exact else f"[red]MISMATCH[/red] {res.as_json()['first_mismatch']}"
    con.print(f"validated {res.samples} images on {board}: {verdict} (every tensor of the numpy reference, "
              f"the board's outputs); on-board accuracy {correct / n:.1%} of {n} test images")
    return res, correct / n


def _training_story(con: Console, board: str, epochs: int | None) -> list[dict[str, Any]]:
    from tiny.train.run import run_training
    runs = []
    for recipe in ("sparse", "mobiletl"):   # each on its own base model, the recipe's default settings
        try:
            with Progress(transient=True, console=con) as bar:
                task = bar.add_task(f"fine-tuning on {board}: {recipe}", total=None)
                # the recipe's epochs and --lr auto: the rate chosen on the bit-exact host oracle
                res = run_training(None, board, recipe, "digits-transfer", epochs=epochs, lr="auto",
                                   eval_samples=200, out=Path("."), log=lambda m: None,
                                   progress=lambda k, n: bar.update(task, completed=k, total=n))
        except TinyError as e:
            con.print(f"[yellow]{recipe}: skipped[/yellow] ({str(e).splitlines()[0]})")
            continue
        d = dict(res.data)
        d.setdefault("recipe", recipe)
        if res.curve:   # held-out accuracy at the evaluation points, for the report's curve
            d["curve"] = {"step": [int(k) for k, _ in res.curve], "accuracy": [float(a) for _, a in res.curve]}
        runs.append(d)
        fr = d.get("float_reference_accuracy")
        ref = (f"; float on the host, same steps: same scheme {fr:.1%}, full fine-tune "
               f"{d['float_full_accuracy']:.1%}" if fr is not None else "")
        con.print(f"{recipe}: accuracy on rotated/inverted digits {d['accuracy_before']:.1%} -> "
                  f"{d['accuracy_after']:.1%} after {d['steps']} steps on {board}{ref}; training peak SRAM "
                  f"{d['train_peak_sram_bytes']:,} B")
    return runs


def run_demo(board: str, out: Path, train_epochs: int | None = None) -> int:
    from tiny.pipeline import load_model
    con = Console()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    con.rule("[bold]tiny demo")
    with con.status("training a digits classifier on the host (sklearn digits, 64x64)"):
        path, (acc_float, acc_float_n), (xte, yte) = train_digits(out)
    g = load_model(path)
    con.print(f"1. trained on the host, quantized to int8: {path} (float accuracy {acc_float:.1%})")
    con.print("2. memory plan")
    c = _memory_story(con, g, board)
    con.print("3. on the board")
    res, acc_board = _board_story(con, g, c, board, xte, yte)
    con.print("4. the board keeps learning")
    import os
    cwd = os.getcwd()
    os.chdir(out)   # fine-tuned models land in the demo folder
    try:
        runs = _training_story(con, board, train_epochs)
    finally:
        os.chdir(cwd)
    con.print("5. report")
    from tiny.html_report import write_report
    with con.status("writing the HTML report"):
        html = write_report(out / "report.html", path, board, schedule="auto", validation=res.as_json(),
                            training=runs or None)
    t = Table(title="tiny demo: summary")
    t.add_column("what")
    t.add_column("value")
    t.add_row("board", board)
    t.add_row("SRAM peak (patch-based)", f"{c.plan.arena_bytes:,} B")
    t.add_row("bit-exact vs TFLite Micro", str(res.bit_exact))
    t.add_row(f"accuracy on the board ({min(len(xte), BOARD_IMAGES)} test images)",
              f"{acc_board:.1%} (float model on the host, same images {acc_float_n:.1%}; whole test split "
              f"{acc_float:.1%})")
    for d in runs:
        fr = d.get("float_reference_accuracy")
        t.add_row(f"fine-tuning ({d['recipe']})", f"{d['accuracy_before']:.1%} -> {d['accuracy_after']:.1%}"
                  + (f" (float: same scheme {fr:.1%}, full {d['float_full_accuracy']:.1%})" if fr is not None else ""))
    t.add_row("HTML report", str(html))
    t.add_row("wall time", f"{time.time() - t0:.0f} s")
    con.print(t)
    return 0 if res.bit_exact else 1
