"""`tiny demo`: train a digits classifier on the host, quantize, compile, validate on a board."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tiny import data as datasets


def build_digits_model(size: int = 32):  # -> keras.Model
    import tensorflow as tf
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([
        tf.keras.Input((size, size, 1)),
        L.Conv2D(16, 3, strides=2, padding="same", activation="relu6"),
        L.DepthwiseConv2D(3, padding="same", activation="relu6"),
        L.Conv2D(32, 1, activation="relu6"),
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
        L.Conv2D(32, 1, activation="relu6"),
        L.GlobalAveragePooling2D(),
        L.Dense(10),
    ])


def train_digits(out: Path, size: int = 32, epochs: int = 20) -> tuple[Path, float, tuple]:
    """Train on the host, quantize to int8; return (tflite path, float accuracy, test split)."""
    import tensorflow as tf
    from tiny.frontend.keras import quantize
    xtr, ytr, xte, yte = datasets.digits(size=size)
    m = build_digits_model(size)
    m.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    m.fit(xtr, ytr, epochs=epochs, batch_size=32, verbose=0)
    acc = float(m.evaluate(xte, yte, verbose=0)[1])
    p = out / "digits.tflite"
    p.write_bytes(quantize(m, xtr[:64]))
    return p, acc, (xte, yte)


def run_demo(board: str, out: Path) -> int:
    from tiny.compare import validate
    from tiny.pipeline import load_model
    from tiny.workflow import compile_for, open_session
    con = Console()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    con.rule("[bold]tiny demo")
    with con.status("training a digits classifier on the host (sklearn digits, 32x32)"):
        path, acc_float, (xte, yte) = train_digits(out)
    con.print(f"trained and quantized to int8: {path} (float accuracy {acc_float:.1%})")
    g = load_model(path)
    c = compile_for(g, board)
    s = c.summary()
    con.print(f"compiled for {board}: arena {s['arena_bytes']:,} B, constants {s['weights_bytes']:,} B, "
              f"{s['macs']:,} MACs")
    tin = g.tensors[g.inputs[0]]
    xq = datasets.quantize_input(xte, tin.quant.s(), tin.quant.zp())
    n = min(len(xq), 64)
    with open_session(c, board) as sess:
        info = sess.info()
        with Progress(transient=True) as bar:
            task = bar.add_task(f"validating on {board}", total=n)
            res = validate(g, sess, board, n, inputs=[[xq[i:i + 1]] for i in range(n)],
                           progress=lambda k: bar.update(task, completed=k))
            correct = 0
            task2 = bar.add_task(f"classifying on {board}", total=n)
            for i in range(n):
                logits = np.frombuffer(sess.run([xq[i:i + 1]])[0], dtype=np.int8)
                correct += int(np.argmax(logits) == yte[i])
                bar.update(task2, completed=i + 1)
    t = Table(title="summary")
    t.add_column("what")
    t.add_column("value")
    t.add_row("board", f"{board} ({info.get('board', '?')})")
    t.add_row("bit-exact vs TFLite Micro", f"{res.bit_exact} ({res.samples} test images, every tensor of the reference)")
    t.add_row("accuracy on the board (int8)", f"{correct / n:.1%} of {n} test images (float model {acc_float:.1%})")
    t.add_row("SRAM arena / constants", f"{s['arena_bytes']:,} B / {s['weights_bytes']:,} B")
    t.add_row("wall time", f"{time.time() - t0:.1f} s")
    con.print(t)
    return 0 if res.bit_exact else 1
