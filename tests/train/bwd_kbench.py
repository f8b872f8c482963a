"""Instruction counts of single backward-kernel calls on QEMU (a tool, not a test).

    python -m tests.train.bwd_kbench [--board B] [--profile] 'BK_PW(tiny_conv2d_1x1_bwd_f32, 8, 8, 32, 64, 0, 1)' ...

Cases of tests/train/bwd_kbench.c: BK_PW(fn, h, w, ic, oc, n_upd, g_in) (1x1 conv), BK_DW(fn, h, w, c,
n_upd, g_in) (3x3 depthwise, pad 1), BK_FC(fn, d, oc, n_upd, g_in) (BK_FCM: with momentum, n_upd * d <=
4096). QAS on. Prints the instructions and the
instructions per multiply-add of the parts asked for (input gradient if g_in, weight gradient of the
n_upd channels); a bias update alone is counted as 0 MACs."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from tests.kernels.kbench import count_cases
from tiny import paths

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
    fw = Path(paths.FIRMWARE) / "src" / "train"
    return count_cases(cases, HERE / "bwd_kbench.c", [fw / "train.c", fw / "bwd_ref.c", fw / "bwd_opt.c"],
                       [HERE, HERE.parent / "kernels"], board, profile)


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
