"""The firmware watchdog on QEMU (README "Robustness"): a board made to hang (WATCHDOG_TEST) resets
itself, the host learns it at once from the RESET notice (BoardReset, not a timeout), the session
goes on; a board that is idle or busy with a long INVOKE (every op feeds) is never reset.

Fixture firmware built directly (no pio) with a short watchdog, -DTINY_WATCHDOG_MS=2500: QEMU's watchdog
counts virtual time, which runs on while a loaded host leaves the emulator unscheduled, so a
shorter one fires on its own on a busy CI machine."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.device.fixtures.board_helpers import FIXTURES, runtime_sources
from tiny.boards import get_board, list_boards
from tiny.build.project import compile_elf
from tiny.device.connect import open_qemu_session
from tiny.device.protocol import BoardReset, Cmd, DeviceError

pytestmark = pytest.mark.qemu
WD_MS = 2500
WATCHDOG_BOARDS = [b for b in list_boards() if b.emulated and b.watchdog.enabled]


def _elf(board, tmp: Path, model: str, ms: int = WD_MS) -> Path:
    return compile_elf(board, [FIXTURES / model, *runtime_sources()],
                       tmp / board.name / (Path(model).stem + f"-wd{ms}.elf"), defines=[f"TINY_WATCHDOG_MS={ms}"])


# qemu-m4-256k in the default run; the other boards (the same CMSDK watchdog at their own clocks)
# in the slow run: on a loaded 2-core machine their emulators miss feeds now and then (open issue).
@pytest.mark.parametrize("board", [pytest.param(b, marks=() if b.name == "qemu-m4-256k" else pytest.mark.slow)
                                   for b in WATCHDOG_BOARDS], ids=lambda b: b.name)
def test_hang_is_reset_and_session_recovers(board, tmp_path: Path) -> None:
    s = open_qemu_session(board, _elf(board, tmp_path, "board_layers_model.c"), timeout=40.0)
    try:
        info = s.info()
        assert (info["reset_cause"], info["watchdog_ms"], info["watchdog_resets"]) == ("power", WD_MS, 0)
        x = bytes(range(16))
        ref = s.run([x])
        # hang now: no reply, the RESET notice instead, long before the 40 s request timeout
        t0 = time.monotonic()
        with pytest.raises(BoardReset, match="reset by its watchdog during WATCHDOG_TEST.*#1"):
            s.watchdog_test(0)
        assert time.monotonic() - t0 < 20.0
        s.ping()
        info = s.info()
        assert (info["reset_cause"], info["watchdog_resets"]) == ("watchdog", 1)
        # hang inside the next INVOKE (what a stuck kernel looks like from the host)
        s.watchdog_test(Cmd.INVOKE)
        with pytest.raises(BoardReset, match="during INVOKE") as e:
            s.run([x])
        assert e.value.resets == 2 and s.watchdog_resets == 2
        assert s.run([x]) == ref          # the reset disarmed the hang; the board computes as before
        assert s.info()["watchdog_resets"] == 2
    finally:
        s.close()


@pytest.mark.slow   # times a 3-9 s INVOKE against the watchdog: too sensitive to a loaded CI machine
def test_idle_and_long_invoke_are_not_reset(tmp_path: Path) -> None:
    """60 ops of 50 SysTick ms (50-150 ms of QEMU time each): an INVOKE of 3-9 s with a 2.5 s
    watchdog, fed after each op; and idle waiting for a request longer than the timeout."""
    board = get_board("qemu-m4-256k")
    ms = 2500
    s = open_qemu_session(board, _elf(board, tmp_path, "board_slow_model.c", ms), timeout=20.0)
    try:
        assert s.info()["watchdog_ms"] == ms
        for _ in range(2):
            t0 = time.monotonic()
            s.run([bytes(16)])
            assert time.monotonic() - t0 > ms / 1000   # the INVOKE (>= 60 x 50 ms) outlasted the timeout
        time.sleep(2 * ms / 1000)                            # idle
        info = s.info(refresh=True)
        assert (info["reset_cause"], info["watchdog_resets"]) == ("power", 0)
    finally:
        s.close()


@pytest.mark.slow   # failed 1 run in 4 on a loaded machine (no reset seen within 2 x the timeout): open issue
def test_lost_notice_found_by_info(tmp_path: Path) -> None:
    """The RESET notice lost on the wire: the request times out, INFO shows the watchdog reset."""
    board = get_board("qemu-m4-256k")
    s = open_qemu_session(board, _elf(board, tmp_path, "board_layers_model.c"), timeout=6.0)
    try:
        s.info()
        s.watchdog_test(Cmd.PING)
        real_read = s.transport.read_frame

        def drop_notice(timeout: float) -> bytes:
            frame = real_read(timeout)
            from tiny.device.protocol import decode_frame, parse_reply
            if parse_reply(decode_frame(frame)).status == 8:
                return real_read(timeout)                     # as if it never arrived
            return frame
        s.transport.read_frame = drop_notice                  # type: ignore[method-assign]
        with pytest.raises(BoardReset, match="during PING"):
            s.ping()
        assert not s.closed and s.info()["watchdog_resets"] == 1
    finally:
        s.close()


def test_no_watchdog_board_refuses_to_hang(tmp_path: Path) -> None:
    board = get_board("qemu-m4-256k")
    s = open_qemu_session(board, _elf(board, tmp_path, "board_layers_model.c", ms=0), timeout=10.0)
    try:
        assert s.info()["watchdog_ms"] == 0
        with pytest.raises(DeviceError, match="no watchdog"):
            s.watchdog_test(0)
        s.ping()
    finally:
        s.close()
