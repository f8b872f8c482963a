"""Host side of on-device training: the training commands of protocol v1 (docs/protocol.md)."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.device.protocol import DeviceError

TRAIN_INFO, TRAIN_STEP, SET_HPARAMS, READ_PARAM, WRITE_PARAM, SET_STEPS, EVAL, PARAM_SIZE = range(0x10, 0x18)


@dataclass
class Checkpoint:
    steps: int
    params: list[bytes]


class TrainDevice:
    """Training commands over an open Session whose firmware was built by compile_training."""

    def __init__(self, session: Any, n_params: int) -> None:
        self.s = session
        self.n_params = n_params

    def info(self) -> dict[str, Any]:
        text = self.s.request(TRAIN_INFO).decode()
        out: dict[str, Any] = {}
        for line in text.splitlines():
            k, _, v = line.partition("=")
            out[k] = int(v) if v.isdigit() else v
        return out

    def set_hparams(self, lr: float, momentum: float = 0.0, qas: bool = True, rounding: str = "stochastic") -> None:
        self.s.request(SET_HPARAMS, struct.pack("<ffBB", lr, momentum, int(qas), int(rounding == "stochastic")))

    def step(self, x: np.ndarray, label: int, step: int, lr: float | None = None) -> dict[str, Any]:
        """One step; lr (sent as float32) becomes the board's learning rate from this step on."""
        self.s.write_input(0, x)
        args = struct.pack("<HI", int(label), int(step)) + (b"" if lr is None else struct.pack("<f", lr))
        r = self.s.request(TRAIN_STEP, args)
        steps, pred, p, cycles = struct.unpack("<IHfI", r[:14])
        return {"steps": steps, "pred": pred, "p_label": p, "cycles": cycles}

    def eval(self, x: np.ndarray) -> int:
        self.s.write_input(0, x)
        return struct.unpack("<H", self.s.request(EVAL)[:2])[0]

    def param_sizes(self) -> list[int]:
        n = int(self.info()["n_params"])
        return [struct.unpack("<I", self.s.request(PARAM_SIZE, struct.pack("<H", i))[:4])[0] for i in range(n)]

    def read_param(self, i: int, nbytes: int) -> bytes:
        chunk = self.s.max_body
        out = b""
        for off in range(0, nbytes, chunk):
            out += self.s.request(READ_PARAM, struct.pack("<HIH", i, off, min(chunk, nbytes - off)))
        return out

    def write_param(self, i: int, data: bytes) -> None:
        chunk = self.s.max_body - 6
        for off in range(0, len(data), chunk):
            self.s.request(WRITE_PARAM, struct.pack("<HI", i, off) + data[off:off + chunk])

    def checkpoint(self) -> Checkpoint:
        sizes = self.param_sizes()
        return Checkpoint(steps=int(self.info()["steps"]), params=[self.read_param(i, n) for i, n in enumerate(sizes)])

    def restore(self, ck: Checkpoint) -> None:
        sizes = self.param_sizes()
        if [len(p) for p in ck.params] != sizes:
            raise DeviceError("checkpoint does not match the board's trainable parameters")
        for i, p in enumerate(ck.params):
            self.write_param(i, p)
        self.s.request(SET_STEPS, struct.pack("<I", ck.steps))
