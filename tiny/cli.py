"""`tiny` command line: a thin argparse layer over the library."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tiny.ir import TinyError

DEFAULT_BOARD = "qemu-m4-256k"


def _emit(args: argparse.Namespace, data: Any, table: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=_jsonable))
    else:
        print(table)


def _jsonable(o: Any) -> Any:
    import numpy as np
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def cmd_boards(args: argparse.Namespace) -> int:
    from tiny.boards import list_boards
    boards = list_boards()
    rows = [b.as_json() for b in boards]
    from rich.table import Table
    t = Table(title="boards")
    for col in ("name", "core", "SRAM KB", "flash KB", "emulated", "target"):
        t.add_column(col)
    for b in rows:
        t.add_row(b["name"], b["core"], str(b["sram_bytes"] // 1024), str(b["flash_bytes"] // 1024),
                  "yes" if b["emulated"] else "no", str(b.get("qemu_machine") or b.get("pio_board") or ""))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from rich.console import Console
        Console().print(t)
    return 0


def _load(args: argparse.Namespace):  # -> Graph
    from tiny.pipeline import load_model
    return load_model(args.model)


def cmd_compile(args: argparse.Namespace) -> int:
    from tiny.workflow import compile_for, write_project
    g = _load(args)
    if getattr(args, "train", None):
        from tiny.train.api import compile_train
        from tiny.train.config import load_config
        c = compile_train(g, args.board, load_config(args.train), args.schedule, args.sram_budget)
        print(f"training firmware: train_peak_sram_bytes {c.train_memory['train_peak_sram_bytes']}")
    else:
        c = compile_for(g, args.board, args.schedule, args.sram_budget)
    out = write_project(c, args.board, Path(args.output))
    s = c.summary()
    print(f"wrote {out} for board {args.board}: arena {s['arena_bytes']} B, constants {s['weights_bytes']} B, "
          f"{len(g.ops)} ops, {s['macs']} MACs, hash {c.hash}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tiny.report import report
    extras = args.html or args.bench or args.bench_json or args.validate or args.training_json
    data, table = report(args.model, args.board, args.schedule, args.sram_budget,
                         plot=None if extras else args.plot)
    if extras:
        from tiny import html_report as hr
        data, bench, val = hr.collect(args.model, args.board, args.schedule, args.sram_budget, data=data,
                                      bench=args.bench_json, run_bench_on_board=args.bench,
                                      validate_samples=args.validate or 0, compare_patch=bool(args.html))
        if bench:
            data["bench"] = {k: v for k, v in bench.items() if k != "layers"}
        if val:
            data["validation"] = val
            table += f"\n  validation: {'BIT-EXACT' if val['bit_exact'] else 'MISMATCH'} ({val['samples']} samples)"
        if args.plot:
            pngs = hr.write_plots(args.plot, data, bench, val, args.training_json)
            table += "\n  plots: " + ", ".join(map(str, pngs))
        if args.html:
            data["html"] = str(hr.write_report(args.html, args.model, args.board, args.schedule, args.sram_budget,
                                               data=data, bench=bench, validation=val,
                                               training=args.training_json, compare_patch=False))
            table += f"\n  html report: {data['html']}"
    if getattr(args, "train", None):
        from tiny.train.report import train_report
        extra, lines = train_report(args.model, args.board, args.train, args.schedule, args.sram_budget,
                                    data=args.train_data)
        data.update(extra)
        table += "\n" + lines
    _emit(args, data, table)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from tiny.build.pio import build, default_envs, project_envs
    d = Path(args.dir)
    if not (d / "platformio.ini").exists():
        raise TinyError(f"{d}: no platformio.ini; create the project with `tiny compile MODEL --board B -o {d}`")
    envs = [args.env] if args.env else default_envs(d)
    for env in envs:
        if env not in project_envs(d):
            raise TinyError(f"{d}: no env '{env}' (envs: {', '.join(project_envs(d))})")
        print(f"{env}: {build(d, env)}")
    return 0


def cmd_flash(args: argparse.Namespace) -> int:
    from tiny.build.pio import flash
    d = Path(args.dir)
    if not (d / "platformio.ini").exists():
        raise TinyError(f"{d}: no platformio.ini; create the project with `tiny compile MODEL --board B -o {d}`")
    return flash(d, board=args.board, env=args.env, port=args.port, upload_port=args.upload_port)


def cmd_validate(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from tiny.compare import validate
    from tiny.workflow import compile_for, open_session
    t0 = time.time()
    if args.data:   # the user's samples: accuracy, TFLM agreement, error vs the float model
        from tiny import validate_data as vd
        with Progress(transient=True, disable=args.json) as bar:
            data = vd.run(args.model, args.board, args.data, float_model=args.float_model,
                          input_range=args.input_range, mean=args.mean, std=args.std, schedule=args.schedule, sram_budget=args.sram_budget,
                          port=args.port, warn=lambda m: print(f"tiny: {m}", file=sys.stderr),
                          progress_factory=lambda n: (lambda k, t=bar.add_task(
                              f"validating on {args.board}", total=n): bar.update(t, completed=k)))
        data["wall_s"] = round(time.time() - t0, 2)
        _emit(args, data, vd.table(data))
        return 0 if data["bit_exact"] else 1
    g = _load(args)
    from tiny import oracle
    oracle.prestart()  # TFLM's worker process starts while the firmware compiles
    c = compile_for(g, args.board, args.schedule, args.sram_budget)
    from tiny.compare import random_inputs
    if args.farm:
        from tiny.farm import load_farm, validate_on_farm
        from tiny.sweep import shutdown
        try:
            with Progress(transient=True, disable=args.json) as bar:
                task = bar.add_task(f"validating on the farm's {args.board}", total=args.samples)
                res = validate_on_farm(args.model, args.board, load_farm(args.farm), args.samples, args.schedule,
                                       args.sram_budget, address=args.address,
                                       progress=lambda n: bar.update(task, completed=n))
        finally:
            shutdown()
    else:
        samples = [random_inputs(g, seed) for seed in range(args.samples)]
        with open_session(c, args.board, samples=samples, port=args.port) as s, \
                 Progress(transient=True, disable=args.json) as bar:
            task = bar.add_task(f"validating on {args.board}", total=args.samples)
            res = validate(g, s, args.board, args.samples, inputs=samples,
                           progress=lambda n: bar.update(task, completed=n), readable=c.readable_ops)
    data = res.as_json()
    data["wall_s"] = round(time.time() - t0, 2)
    data["schedule"] = args.schedule
    fm = data["first_mismatch"]
    table = (f"{g.name} on {args.board}: {res.samples} samples, "
             f"{'BIT-EXACT' if res.bit_exact else 'MISMATCH'} vs {oracle.name(g)}\n"
             f"  device:    {res.device.mismatched} mismatched elements (max |diff| {res.device.max_abs_diff})\n"
             f"  reference: {res.reference.mismatched} mismatched elements on every tensor "
             f"(max |diff| {res.reference.max_abs_diff})")
    if res.oracle_error:
        table = table.replace(f"vs {oracle.name(g)}", "vs the numpy reference ONLY") + (
            f"\n  {res.oracle_error}\n  so the device was compared with tiny's numpy reference alone")
    if fm:
        table += f"\n  first mismatch ({fm['source']}): op #{fm['layer']} {fm['op']}, tensor '{fm['tensor']}'"
    _emit(args, data, table)
    return 0 if res.bit_exact else 1


def cmd_bench(args: argparse.Namespace) -> int:
    if args.suite:
        from tiny.suite import run_suite
        data, table = run_suite(args.board, [args.model] if args.model else None)
        _emit(args, data, table)
        return 0
    if not args.model:
        raise TinyError("tiny bench needs a MODEL (or --suite)")
    if args.train:
        from tiny.train.insn import bench_training
        data, table = bench_training(args.model, args.board, args.train, args.schedule, args.sram_budget,
                                     args.kernels)
        _emit(args, data, table)
        return 0
    if args.farm:
        from tiny.farm import bench_on_farm, load_farm
        data, table = bench_on_farm(args.model, args.board, load_farm(args.farm), args.schedule,
                                    args.sram_budget, args.kernels, address=args.address)
        _emit(args, data, table)
        return 0
    from tiny.bench import bench
    data, table = bench(args.model, args.board, args.schedule, args.sram_budget, args.kernels, port=args.port)
    _emit(args, data, table)
    return 0


def _float_line(d: dict) -> str:
    if d.get("float_reference_accuracy") is None:
        return f"  float reference: {d.get('float_reference_note', 'not run')}\n" if "float_reference_accuracy" in d else ""
    q8 = d.get("float_int8_activations_accuracy")
    return (f"  float on the host, same data and steps: same scheme {d['float_reference_accuracy']:.1%}"
            + (f" ({q8:.1%} on the int8 activation grid)" if q8 is not None else "") + ", "
            f"full fine-tune {d['float_full_accuracy']:.1%} (board: {d['accuracy_after']:.1%})\n")


def cmd_train(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from tiny.input_domain import parse_input_range, parse_normalization
    from tiny.device.connect import using_port
    from tiny.train.run import run_training
    kw = dict(model=args.model, recipe=args.config or args.recipe, data=args.data, epochs=args.epochs,
              steps=args.steps, lr=args.lr, momentum=args.momentum, qas=False if args.no_qas else None,
              schedule=args.schedule, eval_samples=args.eval_samples, blocks=args.blocks,
              freeze_dw=args.freeze_dw, kernels=args.kernels,
              input_range=parse_input_range(args.input_range) if args.input_range else None,
              normalize=parse_normalization(args.mean, args.std),
              workers=args.workers, address=args.address, lr_schedule=args.lr_schedule,
              early_stop=not args.no_early_stop, rounding=args.rounding, headroom=args.headroom,
              search=False if args.fixed_scheme else None, sram_budget=args.sram_budget,
              order_seed=args.order_seed)
    log = lambda m: print(f"tiny: {m}", file=sys.stderr)  # noqa: E731
    if args.farm:
        from tiny.farm import load_farm, train_on_farm
        if args.port:
            raise TinyError("--farm and --port: the farm file names the boards and their ports; give one of them")
        farm = load_farm(args.farm)
        with Progress(transient=True, disable=args.json) as bar:
            task = bar.add_task(f"training on the farm's {args.board}", total=None)
            res = train_on_farm(farm, args.board, kw, address=args.address, checkpoint_every=args.checkpoint_every,
                                float_reference=not args.no_float_reference, out=Path(args.output), log=log,
                                progress=lambda k, n: bar.update(task, completed=k, total=n))
    else:
        with using_port(args.port), Progress(transient=True, disable=args.json) as bar:
            task = bar.add_task(f"training on {args.board}", total=None)
            res = run_training(board=args.board, checkpoint_every=args.checkpoint_every, out=Path(args.output),
                               progress=lambda k, n: bar.update(task, completed=k, total=n), log=log,
                               float_reference=not args.no_float_reference, **kw)
    d = res.data
    if args.plot:
        from tiny.train.report import plot_curve
        plot_curve(res, Path(args.plot))
        d["plot"] = args.plot
    table = (f"{d['model']} on {args.board}, recipe {d['recipe']} (QAS {'on' if d['qas'] else 'off'}), "
             f"data {d['data']}: {d['steps']} steps\n"
             f"  accuracy on {d['eval_samples']} held-out samples: before {d['accuracy_before']:.1%}, "
             f"after {d['accuracy_after']:.1%} (lr {d['lr']:g}, momentum {d['momentum']:g}, kept step "
             f"{d['kept_step']})\n" + _float_line(d) +
             f"  train_peak_sram_bytes {d['train_peak_sram_bytes']:,}; fine-tuned model: {d.get('output')}")
    if d.get("instructions_per_step"):
        sp = d.get("instructions_per_step_split") or {}
        table += (f"\n  instructions per training step {d['instructions_per_step']:,} ({d['kernels']} kernels; "
                  f"forward {sp.get('forward', 0):,}, backward {sp.get('backward', 0):,})")
    if d.get("farm"):
        fm = d["farm"]
        table += (f"\n  farm: {fm['farm_boards']} x {args.board}, final weights "
                  + ("identical on every board" if fm["identical"] else
                     f"DIFFER on entries {fm['differing_entries']}"))
        for r in fm["boards"]:
            table += (f"\n    #{r['entry']} {r['port'] or 'QEMU'}: after {r['accuracy_after']:.1%}, resumes "
                      f"{r['resumes']}, weights {r['weights_sha256'][:12]}, {r['wall_s']:.0f} s")
    if d.get("sparse_scheme"):
        from tiny.train.report import scheme_lines
        table += "\n" + "\n".join(scheme_lines(d["sparse_scheme"]))
    for b in d.get("train_blocks", []):
        table += (f"\n  {b['name']}: kept for backward {b['backward_bytes']:,} B vs vanilla "
                  f"{b['vanilla_backward_bytes']:,} B ({-b['reduction']:+.0%})")
    _emit(args, d, table)
    return 1 if d.get("farm") and not d["farm"]["identical"] else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from tiny import sweep as sw
    from tiny.sweep import summary
    cells = sw.expand(args.models, args.boards, args.schedules, args.kernels, args.sram_budget,
                      bench=args.bench, validate=args.validate)
    try:
        with Progress(transient=True, disable=args.json) as bar:
            task = bar.add_task(f"sweep: {len(cells)} cells", total=len(cells))
            rows, hits = sw.sweep(cells, workers=args.workers, address=args.address, cache=not args.no_cache,
                                  progress=lambda k, n: bar.update(task, completed=k, total=n))
    finally:
        sw.shutdown()
    text = summary.table(rows) + f"\n{len(rows)} cells, {hits} from the cache"
    if args.csv:
        summary.write_csv(rows, Path(args.csv))
        text += f"; csv: {args.csv}"
    if args.plot:
        summary.plot(rows, Path(args.plot))
        text += f"; plot: {args.plot}"
    _emit(args, rows, text)
    return 1 if any("error" in r for r in rows) else 0
def cmd_export(args: argparse.Namespace) -> int:
    from tiny.export import export_model
    e = export_model(args.model, args.board, Path(args.output), args.schedule, args.sram_budget,
                     train=args.train, kernels=args.kernels)
    io = lambda ts: ", ".join(f"{'x'.join(map(str, t.shape))} {t.dtype}" for t in ts)  # noqa: E731
    _emit(args, e.summary(), f"wrote the C library {e.out} for {e.board}: include/tiny_model.h, "
          f"{sum(f.endswith('.c') for f in e.files)} C files ({len(e.runtime)} from the runtime); "
          f"arena {e.arena_bytes} B, weights {e.const_bytes} B; in {io(e.inputs)} -> out {io(e.outputs)}"
          + ("; with training entry points" if e.training else ""))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tiny.demo import run_demo
    return run_demo(board=args.board, out=Path(args.output))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tiny", description="Neural networks to bit-exact C firmware for "
                                "Cortex-M microcontrollers.")
    from tiny import DISTRIBUTION, installed_version
    p.add_argument("--version", action="version", version=f"tiny {installed_version()} ({DISTRIBUTION})",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="cmd", required=True)

    def model_cmd(name: str, help: str, board_default: str = DEFAULT_BOARD,
                  optional: bool = False) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help)
        q.add_argument("model", help=".tflite file or Keras model (.keras / SavedModel dir)",
                       **({"nargs": "?", "default": None} if optional else {}))
        q.add_argument("--board", default=board_default, help=f"target board (default {board_default}); see `tiny boards`")
        q.add_argument("--schedule", default="layer", choices=["layer", "patch", "auto"],
                       help="layer by layer, or patch-based for the first stage (MCUNetV2)")
        q.add_argument("--sram-budget", type=int, default=None, metavar="BYTES",
                       help="with --schedule auto: the SRAM the schedule must fit")
        return q

    q = sub.add_parser("boards", help="list the boards tiny can target")
    q.add_argument("--json", action="store_true", help="print the boards as JSON (name, core, sram_bytes, ...)")
    q.set_defaults(fn=cmd_boards)

    q = model_cmd("compile", "generate C (and a PlatformIO project) for a model")
    q.add_argument("-o", "--output", required=True, help="output directory")
    q.add_argument("--train", default=None, help="training config (TOML) or recipe name")
    q.set_defaults(fn=cmd_compile)

    q = model_cmd("report", "memory and compute report")
    q.add_argument("--json", action="store_true", help="print the report as JSON (peak_sram_bytes, macs, layers, ...)")
    q.add_argument("--plot", default=None, metavar="PNG", help="write the memory timeline as a PNG "
                   "(with --bench/--validate/--training-json, the other figures as PNG-<name>.png)")
    q.add_argument("--train", default=None, help="training config (TOML) or recipe name")
    q.add_argument("--train-data", default=None, metavar="DATA", help="data for the sparse scheme's "
                   "contribution analysis (a built-in task or .npz/folder; default digits-transfer)")
    q.add_argument("--html", default=None, metavar="OUT", help="write a self-contained HTML report")
    q.add_argument("--bench", action="store_true", help="count instructions per layer now (emulated boards)")
    q.add_argument("--bench-json", default=None, metavar="FILE", help="per-layer counts from `tiny bench --json`")
    q.add_argument("--validate", type=int, default=0, metavar="N", help="validate N samples on the board")
    q.add_argument("--training-json", default=None, metavar="FILE", help="training results to show (JSON)")
    q.set_defaults(fn=cmd_report)

    q = model_cmd("export", "write the model as a C library for your own firmware (no main, no UART)")
    q.add_argument("-o", "--output", required=True, metavar="DIR", help="library folder (include/, src/, "
                   "library.json, library.properties, CMakeLists.txt)")
    q.add_argument("--train", default=None, metavar="CONFIG|RECIPE",
                   help="also export the on-device training entry points (TOML config or recipe name)")
    q.add_argument("--kernels", default="opt", choices=["opt", "ref"],
                   help="opt: the board's DSP kernels where they apply; ref: portable kernels only")
    q.add_argument("--json", action="store_true", help="print what was written as JSON")
    q.set_defaults(fn=cmd_export)

    q = sub.add_parser("build", help="build a generated PlatformIO project (pio run)")
    q.add_argument("dir", help="project folder written by `tiny compile`")
    q.add_argument("--env", default=None, help="PlatformIO environment (default: the offline ones)")
    q.set_defaults(fn=cmd_build)

    q = sub.add_parser("flash", help="upload a built project (QEMU boards: start the emulator)")
    q.add_argument("dir", help="project folder written by `tiny compile`")
    q.add_argument("--board", default=None, help="the board to flash (default: the project's only board); "
                   "real boards upload with PlatformIO's platform and tool (ST-LINK), e.g. --board nucleo_f746zg")
    q.add_argument("--env", default=None, help="PlatformIO environment (default: the one for --board)")
    q.add_argument("--port", default=None, metavar="URL",
                   help="the board's serial port to check after upload (/dev/ttyACM0, COM3, rfc2217://HOST:PORT); "
                   "emulated boards: socket://127.0.0.1:PORT serves the QEMU UART there for --port of other commands")
    q.add_argument("--upload-port", default=None, help="upload port if the upload tool needs one (pio --upload-port)")
    q.set_defaults(fn=cmd_flash)

    q = model_cmd("validate", "prove the board computes what TFLite Micro computes")
    q.add_argument("--samples", type=int, default=10, help="random samples (without --data)")
    q.add_argument("--data", default=None, metavar="PATH", help="your samples: .npz with x (and labels y: "
                   "class indices or one-hot), .npy, or a folder of class folders; reports accuracy, tflm_agreement and, with a float model, rmse/mae/l2r/cosine per output")
    q.add_argument("--float-model", default=None, metavar="KERAS", help="the float Keras model to measure the "
                   "int8 outputs against (default: MODEL itself when it is a Keras model)")
    q.add_argument("--input-range", default=None, metavar="LO,HI", help="the float range of the model's input "
                   "(default: from its quantization); uint8 data map 0..255 onto it")
    q.add_argument("--mean", default=None, metavar="M[,M,M]", help="the model's per-channel normalization "
                   "of [0, 1] images, with --std (torchvision's Normalize): uint8 images become (x/255 - mean) / "
                   "std instead of mapping linearly onto the input range; values above 1 are pixel units")
    q.add_argument("--std", default=None, metavar="S[,S,S]", help="see --mean")
    q.add_argument("--port", default=None, metavar="URL", help="the serial port of a flashed board: /dev/ttyACM0, COM3, socket://HOST:PORT, rfc2217://HOST:PORT "
                   "(default: the board's ST-LINK virtual COM port if found)")
    q.add_argument("--json", action="store_true", help="print the result as JSON (bit_exact, samples, max_abs_diff, ...)")
    q.add_argument("--farm", default=None, metavar="FILE", help="spread the samples over the boards of a farm "
                   "file (TOML, see docs/scale.md); same verdict and counts as one board")
    q.add_argument("--address", default=None, metavar="ADDR", help="with --farm: an existing Ray cluster")
    q.set_defaults(fn=cmd_validate)

    q = model_cmd("bench", "count instructions per layer on an emulated board", optional=True)
    q.add_argument("--kernels", default="opt", choices=["opt", "ref"],
                   help="opt: the board's DSP kernels where they apply (default); ref: portable kernels only")
    q.add_argument("--suite", action="store_true",
                   help="bench the built-in model suite (one per family) with optimized and portable kernels")
    q.add_argument("--train", default=None, metavar="CONFIG|RECIPE",
                   help="count one training step instead (forward + each backward step, with its kernel)")
    q.add_argument("--port", default=None, metavar="URL", help="DWT cycles, clock_hz and ms from a flashed board: "
                   "the serial port of a flashed board: /dev/ttyACM0, COM3, socket://HOST:PORT, rfc2217://HOST:PORT "
                   "(default: the board's ST-LINK virtual COM port if found)")
    q.add_argument("--json", action="store_true", help="print the counts as JSON (instructions, est_cycles, layers)")
    q.add_argument("--farm", default=None, metavar="FILE", help="bench every board of this kind in a farm file "
                   "(TOML, see docs/scale.md) at once: per-board figures and their spread")
    q.add_argument("--address", default=None, metavar="ADDR", help="with --farm: an existing Ray cluster")
    q.set_defaults(fn=cmd_bench)

    from tiny.train.data import TASKS
    q = sub.add_parser("train", help="fine-tune a model on the board (sparse update, QAS)",
                       description="Built-in data sets: " + "; ".join(f"{k}: {v}" for k, v in TASKS.items())
                       + ". --data also takes an .npz (x_train, y_train, x_test, y_test; or x and y, "
                       "of which a seeded 25%% becomes the test split), or a folder with one sub-folder of "
                       "images per class (or train/ and test/ folders holding them). Labels: class indices "
                       "or one-hot; channels-first (N, C, H, W) images are transposed.")
    q.add_argument("model", nargs="?", default=None,
                   help=".tflite or Keras model (default: the data set's own base model)")
    q.add_argument("--board", default=DEFAULT_BOARD, help=f"board to train on (default {DEFAULT_BOARD}); see `tiny boards`")
    q.add_argument("--port", default=None, metavar="URL", help="the serial port of a flashed board: /dev/ttyACM0, COM3, socket://HOST:PORT, rfc2217://HOST:PORT "
                   "(default: the board's ST-LINK virtual COM port if found)")
    q.add_argument("--recipe", default="sparse", choices=["sparse", "bias", "head", "mobiletl", "full"],
                   help="what trains: sparse update (default), biases only, the head, MobileTL blocks, or all layers")
    q.add_argument("--config", default=None, metavar="TOML", help="training config (overrides --recipe)")
    q.add_argument("--data", default="digits-transfer", help="data set name or path")
    q.add_argument("--epochs", type=int, default=None, help="passes over the training data (default: the recipe's)")
    q.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    q.add_argument("--lr", default=None, metavar="LR|auto",
                   help="learning rate (default: the recipe's); auto: a short search on the bit-exact host oracle")
    q.add_argument("--momentum", type=float, default=None, help="SGD momentum (default: the recipe's)")
    q.add_argument("--no-qas", action="store_true", help="raw int8/int32 gradients (no QAS)")
    q.add_argument("--input-range", default=None, metavar="LO,HI",
                   help="the model's float input range (default: from its input quantization)")
    q.add_argument("--mean", default=None, metavar="M[,M,M]", help="the model's per-channel normalization "
                   "of [0, 1] images, with --std (torchvision's Normalize): uint8 images become (x/255 - mean) / "
                   "std instead of mapping linearly onto the input range; values above 1 are pixel units")
    q.add_argument("--std", default=None, metavar="S[,S,S]", help="see --mean")
    q.add_argument("--lr-schedule", default="cosine", choices=["cosine", "constant"],
                   help="cosine: warm-up then cosine decay (default)")
    q.add_argument("--rounding", default="stochastic", choices=["stochastic", "nearest"],
                   help="rounding of the int8/int32 updates (stochastic: seeded, identical on board and oracle)")
    q.add_argument("--headroom", type=float, default=None, metavar="F",
                   help="requantize the weights that train with F x their scale, so they can grow F-fold "
                        "before saturating (default: the recipe's; head 4, sparse 4 for the classifier and "
                        "2 below it, others 1)")
    q.add_argument("--fixed-scheme", action="store_true",
                   help="sparse: train the fixed scheme instead of the one the contribution analysis "
                        "searches under the board's budget (the default)")
    q.add_argument("--no-early-stop", action="store_true",
                   help="keep the last weights instead of the best on a held-out 15%% of the training data")
    q.add_argument("--no-float-reference", action="store_true", help="skip the float twins on the host")
    q.add_argument("--blocks", type=int, default=None, metavar="K",
                   help="mobiletl: fine-tune the top K inverted residual blocks (default: top half, at most 4)")
    q.add_argument("--freeze-dw", action="store_true", help="mobiletl: freeze depthwise weights (bias trains)")
    q.add_argument("--schedule", default="auto", choices=["layer", "patch", "auto"],
                   help="forward schedule of the training firmware (default auto: layer-based when the training "
                        "fits the board, else patch-based below the layers that train; patch: only layers after "
                        "the patch stage train)")
    q.add_argument("--sram-budget", type=int, default=None, metavar="BYTES",
                   help="the SRAM the whole training may use (forward arena + saved activations + gradients + "
                        "trained weights), e.g. to leave room for your own firmware (default: the board's usable "
                        "SRAM); the sparse scheme is searched and the schedule planned under it")
    q.add_argument("--order-seed", type=int, default=0, metavar="N",
                   help="seed of the training samples' order (default 0); the float twins see the same order. "
                        "Per-sample SGD is noisy: other seeds show how much of a result is the order")
    q.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run the host-oracle searches (sparse contribution trials, --lr auto) as N local Ray tasks")
    q.add_argument("--address", default=None, metavar="ADDR",
                   help="run those searches on an existing Ray cluster instead (docs/scale.md)")
    q.add_argument("--kernels", default="opt", choices=["opt", "ref"],
                   help="opt: DSP forward and FPU backward kernels where the board has them; ref: portable")
    q.add_argument("--checkpoint-every", type=int, default=100, metavar="K",
                   help="read the parameters back every K steps, to resume after a lost board (default 100)")
    q.add_argument("--farm", default=None, metavar="FILE",
                   help="train the same run on every board of this kind in a farm file at once; their final "
                        "weights must agree bit for bit (docs/scale.md)")
    q.add_argument("--eval-samples", type=int, default=None, metavar="N",
                   help="held-out samples for accuracy before/after (default: the whole test split)")
    q.add_argument("-o", "--output", default="tiny-train", help="where the fine-tuned .tflite goes")
    q.add_argument("--plot", default=None, metavar="PNG", help="save the accuracy curve")
    q.add_argument("--json", action="store_true", help="print the result as JSON (accuracy_before, accuracy_after, ...)")
    q.set_defaults(fn=cmd_train)

    q = sub.add_parser("sweep", help="models x boards x schedules as tasks on Ray (local, or a cluster)",
                       epilog="example: tiny sweep --models a.tflite b.tflite --boards qemu-m4-256k qemu-f405 "
                              "--schedules layer patch auto --bench --workers 2 --plot pareto.png")
    q.add_argument("--models", nargs="+", required=True, metavar="MODEL", help=".tflite or Keras models")
    q.add_argument("--boards", nargs="+", default=[DEFAULT_BOARD], metavar="BOARD", help="boards (see `tiny boards`)")
    q.add_argument("--schedules", nargs="+", default=["layer"], choices=["layer", "patch", "auto"],
                   help="schedules to try")
    q.add_argument("--kernels", nargs="+", default=["opt"], choices=["opt", "ref"], help="kernel sets to try")
    q.add_argument("--sram-budget", type=int, default=None, metavar="BYTES", help="budget for --schedule auto")
    q.add_argument("--bench", action="store_true", help="also count instructions on emulated boards")
    q.add_argument("--validate", type=int, default=0, metavar="N", help="also validate N samples per cell")
    q.add_argument("--workers", type=int, default=None, metavar="N", help="local Ray workers (default: all cores)")
    q.add_argument("--address", default=None, metavar="ADDR", help="an existing Ray cluster, e.g. ray://head:10001")
    q.add_argument("--no-cache", action="store_true", help="recompute cells already in the cache")
    q.add_argument("--json", action="store_true", help="print the rows as JSON")
    q.add_argument("--csv", default=None, metavar="FILE", help="write the rows as CSV")
    q.add_argument("--plot", default=None, metavar="PNG", help="write the Pareto plot (peak SRAM vs cost)")
    q.set_defaults(fn=cmd_sweep)

    q = sub.add_parser("demo", help="the whole story on the default emulated board")
    q.add_argument("--board", default=DEFAULT_BOARD, help=f"emulated board to run the demo on (default {DEFAULT_BOARD})")
    q.add_argument("-o", "--output", default="tiny-demo", help="where the demo writes its files")
    q.set_defaults(fn=cmd_demo)

    for name, q in sub.choices.items():       # one example per command, under its --help
        if q.epilog is None and name in EXAMPLES:
            q.epilog = "example:\n  " + "\n  ".join(EXAMPLES[name])
            q.formatter_class = _ExampleFormatter
    return p


class _ExampleFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual but keeps the lines of an "example:" epilog as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example:"):
            return "".join(indent + ln for ln in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


EXAMPLES = {
    "boards": ["tiny boards --json"],
    "compile": ["tiny compile model.tflite --board qemu-m4-256k --schedule auto -o build/m4"],
    "report": ["tiny report model.tflite --board qemu-m4-256k --schedule patch --json"],
    "export": ["tiny export model.tflite --board nucleo_f746zg -o firmware/lib/tiny_model"],
    "build": ["tiny build build/m4"],
    "flash": ["tiny flash build/f746 --board nucleo_f746zg --port /dev/ttyACM0"],
    "validate": ["tiny validate model.tflite --board qemu-m4-256k --samples 20 --json"],
    "bench": ["tiny bench model.tflite --board qemu-m4-256k --kernels opt --json"],
    "train": ["tiny train --board qemu-m4-256k --recipe sparse --data digits-transfer --epochs 2"],
    "demo": ["tiny demo -o tiny-demo"],
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except TinyError as e:
        print(f"tiny: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tiny: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
