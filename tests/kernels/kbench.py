"""Instruction counts of single kernel calls on QEMU (a tool, not a test).

    python -m tests.kernels.kbench 'KB_DW(tiny_depthwise_conv2d_s8_3x3, 25, 5, 64, 1, 3, 3, 1, 1, 0, 0)' ...

Each argument is one case of tests/kernels/kbench.c (KB_DW / KB_FC / KB_PW / KB_CONV); prints its instructions and,
for KB_DW / KB_FC, instructions per MAC. Used to fit tiny/emit/cost.py and to compare variants."""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tiny import paths
from tiny.boards import get_board
from tiny.build.plugin import build_plugin
from tiny.build.project import compile_elf
from tiny.device.bench import MARKERS, layer_counts, parse_plugin_log, symbol_addresses

HERE = Path(__file__).resolve().parent


def macs(case: str) -> int:
    a = [x.strip() for x in case[case.index("(") + 1:case.rindex(")")].split(",")]
    if case.startswith("KB_FC"):
        return int(a[1]) * int(a[2]) * int(a[3])
    if case.startswith("KB_CONV"):
        h, w, ic, oc, kh, kw, s, pad = (int(v) for v in a[1:9])
        return ((h + 2 * pad - kh) // s + 1) * ((w + 2 * pad - kw) // s + 1) * oc * ic * kh * kw
    if case.startswith("KB_PW"):
        return int(a[1]) * int(a[2]) * int(a[3]) * int(a[4])
    h, w, c, m, kh, kw, s, pad = (int(v) for v in a[1:9])
    oh = (h + s - 1) // s if pad else (h - kh + s) // s
    ow = (w + s - 1) // s if pad else (w - kw + s) // s
    return oh * ow * c * m * kh * kw


def count_cases(cases: list[str], main_c: Path, sources: list[Path], include_dirs: list[Path],
                board: str = "qemu-m4-256k", profile: bool = False) -> list[int]:
    """Build `main_c` (which runs KB_CASES between the markers) with `sources` and count the
    instructions of each case on QEMU. Shared by this tool and tests/train/bwd_kbench.py."""
    b = get_board(board)
    tmp = Path(tempfile.mkdtemp(prefix="tiny-kbench-"))
    (tmp / "kb_cases.h").write_text("#define KB_CASES " + " ".join(c + ";" for c in cases) + "\n")
    src = Path(paths.FIRMWARE) / "src"
    elf = compile_elf(b, [main_c, src / "runtime" / "markers.c", *sources], tmp / "kb.elf",
                      include_dirs=[*include_dirs, tmp])
    addrs = symbol_addresses(elf)
    log = tmp / "plugin.log"
    r = subprocess.run(["qemu-system-arm", "-machine", b.qemu_machine, "-nographic", "-monitor", "none",
                        "-semihosting-config", "enable=on,target=native", "-serial", "null", "-kernel", str(elf),
                        "-plugin", f"{build_plugin()},begin={addrs[MARKERS[0]]:#x},end={addrs[MARKERS[1]]:#x}",
                        "-d", "plugin", "-D", str(log)], capture_output=True, text=True, timeout=600)
    assert "KB DONE" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    if profile:
        print_profile(b, elf, tmp)
    return layer_counts(parse_plugin_log(log.read_text())[0])


def run(cases: list[str], board: str = "qemu-m4-256k", profile: bool = False) -> list[int]:
    src = Path(paths.FIRMWARE) / "src"
    kernels = [*sorted((src / "kernels" / "ref").glob("*.c")), *sorted((src / "kernels" / "arm").glob("*.c"))]
    return count_cases(cases, HERE / "kbench.c", kernels, [HERE], board, profile)


def print_profile(b: object, elf: Path, tmp: Path) -> None:
    """Executed instructions per function and per translated block (QEMU -d in_asm,exec, nochain)."""
    log = tmp / "exec.log"
    subprocess.run(["qemu-system-arm", "-machine", b.qemu_machine, "-nographic", "-monitor", "none",  # type: ignore[attr-defined]
                    "-semihosting-config", "enable=on,target=native", "-serial", "null", "-kernel", str(elf),
                    "-d", "in_asm,exec,nochain", "-D", str(log)],
                   capture_output=True, text=True, timeout=600)
    size: dict[int, int] = {}
    execs: dict[int, int] = {}
    cur = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("IN:"):
            cur = None
        elif re.match(r"^0x[0-9a-f]+:", line):
            a = int(line.split(":")[0], 16)
            if cur is None:
                cur = a
                size[cur] = 0
            size[cur] += 1
        elif line.startswith("Trace"):
            m = re.search(r"\[[0-9a-f]+/([0-9a-f]+)/", line)
            if m:
                a = int(m.group(1), 16)
                execs[a] = execs.get(a, 0) + 1
    syms = []
    for line in subprocess.run(["arm-none-eabi-nm", "-n", str(elf)], capture_output=True, text=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tTW":
            syms.append((int(p[0], 16) & ~1, p[2]))
    import bisect
    keys = [s[0] for s in syms]
    per_fn: dict[str, int] = {}
    per_tb = []
    for a, n in execs.items():
        i = bisect.bisect_right(keys, a) - 1
        fn = syms[i][1] if i >= 0 else "?"
        k = n * size.get(a, 0)
        per_fn[fn] = per_fn.get(fn, 0) + k
        per_tb.append((k, a, n, size.get(a, 0), fn))
    for fn, k in sorted(per_fn.items(), key=lambda t: -t[1])[:15]:
        print(f"{k:>12,}  {fn}")
    for k, a, n, sz, fn in sorted(per_tb, reverse=True)[:25]:
        print(f"{k:>12,}  tb {a:#x} x{n} ({sz} insns) {fn}")


if __name__ == "__main__":
    args = sys.argv[1:]
    prof = "--profile" in args
    args = [a for a in args if a != "--profile"]
    for case, n in zip(args, run(args, profile=prof)):
        m = macs(case)
        text = re.sub(r"\s+", " ", case)
        print(f"{n:>10,} {n / m:7.3f}/MAC  {text}")
