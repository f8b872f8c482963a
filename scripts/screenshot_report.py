#!/usr/bin/env python3
"""Render a tiny HTML report and screenshot it with headless Chromium (for the README tour).

    .venv/bin/python scripts/screenshot_report.py                 # -> docs/report.png
    .venv/bin/python scripts/screenshot_report.py --model m.tflite --board qemu-m4-256k --height 2200

Default model: MobileNetV2-0.35 at 144x144 (tests/models.py, built locally), on the default
emulated board, whose 256 KiB SRAM the layer-based plan does not fit and the patch plan does.
Bench (instruction counts on QEMU) and validation run live; if the firmware cannot be built
here, the page is rendered without them (bench) or validated on the host board (validation)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from tiny import html_report
    from tiny.browser import Chromium
    from tiny.ir import TinyError
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help=".tflite (default: MobileNetV2-0.35 144x144 from tests/models.py)")
    p.add_argument("--board", default="qemu-m4-256k")
    p.add_argument("--schedule", default="patch", choices=["layer", "patch", "auto"])
    p.add_argument("--bench-json", default=None, help="use this `tiny bench --json` output instead of a live bench")
    p.add_argument("--no-bench", action="store_true", help="skip the live bench")
    p.add_argument("--validate", type=int, default=2, metavar="N", help="samples to validate (0: skip)")
    p.add_argument("--training-json", default=None)
    p.add_argument("--html", default=str(ROOT / "build" / "report" / "report.html"))
    p.add_argument("-o", "--out", default=str(ROOT / "docs" / "report.png"))
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=1500, help="height of the screenshot (0: the whole page)")
    a = p.parse_args()

    t0 = time.time()
    if a.model is None:
        from tests import models
        a.model = str(models.mobilenet_v2(0.35, 144, 144))
    bench = a.bench_json
    if bench is None and not a.no_bench:
        try:
            bench = html_report.run_bench(a.model, a.board, a.schedule)
        except TinyError as e:
            print(f"bench skipped: {str(e).splitlines()[0]}", file=sys.stderr)
    validation = None
    if a.validate:
        for board in dict.fromkeys([a.board, "host"]):
            try:
                validation = html_report.run_validation(a.model, board, a.validate, a.schedule)
                break
            except TinyError as e:
                print(f"validation on {board} failed: {str(e).splitlines()[0]}", file=sys.stderr)
    html = html_report.write_report(a.html, a.model, a.board, a.schedule, bench=bench, validation=validation,
                                    training=a.training_json)
    with Chromium(width=a.width, height=a.height or 900) as b:
        b.open(html)
        if b.errors:
            print("page errors:\n  " + "\n  ".join(b.errors), file=sys.stderr)
            return 1
        out = b.screenshot(Path(a.out), full_page=not a.height, max_height=a.height or None)
    print(f"{html}\n{out} ({time.time() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
