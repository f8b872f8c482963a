"""Instruction counts of single backward-kernel calls on QEMU (a tool, not a test).

    python -m tests.train.bwd_kbench [--board B] [--profile] 'BK_PW(tiny_conv2d_1x1_bwd_f32, 8, 8, 32, 64, 0, 1)' ...

Cases of tests/train/bwd_kbench.c: BK_PW(fn, h, w, ic, oc, n_upd, g_in) (1x1 conv), BK_DW(fn, h, w, c,
n_upd, g_in) (3x3 depthwise, pad 1), BK_FC(fn, d, oc, n_upd, g_in). Prints the instructions and the
instructions per multiply-add of the parts asked for (input gradient if g_in, weight gradient of the
n_upd channels); a bias update alone is counted as 0 MACs."""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.kernels.kbench import print_profile
from tiny import paths
from tiny.boards import get_board
from tiny.build.plugin import build_plugin
from tiny.build.project import compile_elf
from tiny.device.bench import MARKERS, layer_counts, parse_plugin_log, symbol_addresses

HERE = Path(__file__).resolve().parent


def macs(case: str) -> int:
    a = [int(x) for x in case[case.index("(") + 1:case.rindex(")")].split(",")[1:]]
    if case.startswith("BK_PW"):
        h, w, ic, oc, nu, gin = a
        return h * w * ic * (oc * gin + nu)
    if case.startswith("BK_DW"):
        h, w, c, nu, gin = a
        return h * w * 9 * (c * gin + nu)
    d, oc, nu, gin = a
    return d * (oc * gin + nu)


def run(cases: list[str], board: str = "qemu-m4-256k", profile: bool = False) -> list[int]:
    b = get_board(board)
    tmp = Path(tempfile.mkdtemp(prefix="tiny-bwd-kbench-"))
    (tmp / "kb_cases.h").write_text("#define KB_CASES " + " ".join(c + ";" for c in cases) + "\n")
    fw = Path(paths.FIRMWARE) / "src"
    sources = [HERE / "bwd_kbench.c", fw / "runtime" / "markers.c", fw / "train" / "train.c",
               fw / "train" / "bwd_ref.c", fw / "train" / "bwd_opt.c"]
    elf = compile_elf(b, sources, tmp / "kb.elf", include_dirs=[HERE, HERE.parent / "kernels", tmp])
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


if __name__ == "__main__":
    args = sys.argv[1:]
    board = "qemu-m4-256k"
    if "--board" in args:
        i = args.index("--board")
        board = args[i + 1]
        del args[i:i + 2]
    prof = "--profile" in args
    args = [a for a in args if a != "--profile"]
    for case, n in zip(args, run(args, board, profile=prof)):
        m = macs(case)
        text = re.sub(r"\s+", " ", case)
        print(f"{n:>10,} {n / max(m, 1):7.3f}/MAC  {text}")
