"""`pio test -e <emulated board>` in a generated project: firmware unit tests (test/, with the
self-contained harness test/tiny_test.h and test/test_custom_runner.py) run on QEMU, offline, and
a failing or crashing test makes `pio test` fail."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tiny.build.pio import run_pio
from tiny.ir import TinyError
from tiny.pipeline import load_model
from tiny.workflow import compile_for, write_project
from tests import models

pytestmark = [pytest.mark.qemu, pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARD = "qemu-m4-256k"
RUNTIME_TESTS = ["test_crc32_known_vectors", "test_crc32_chaining", "test_cobs_known_encodings",
                 "test_cobs_round_trip", "test_cobs_errors", "test_requantize_known_values",
                 "test_clamp", "test_window_crop_place_round_trip", "test_model_invoke"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("piotest") / "proj"
    c = compile_for(load_model(models.tiny_cnn()), BOARD)
    write_project(c, BOARD, out)
    return out


def test_generated_project_has_offline_tests(project: Path) -> None:
    ini = (project / "platformio.ini").read_text()
    assert "test_framework = custom" in ini and "test_build_src = yes" in ini
    for f in ("test_custom_runner.py", "tiny_test.h", "test_runtime/test_main.c"):
        assert (project / "test" / f).is_file(), f


def test_pio_test_runs_runtime_tests_on_qemu(project: Path) -> None:
    r = run_pio(project, ["test", "-e", BOARD, "-f", "test_runtime"], timeout=180)
    out = r.stdout
    for name in RUNTIME_TESTS:
        assert re.search(rf"{name}\s+\[PASSED\]", out), (name, out[-3000:])
    assert f"{len(RUNTIME_TESTS)} test cases: {len(RUNTIME_TESTS)} succeeded" in out, out[-3000:]
    assert "Unity" not in out  # nothing fetched from the registry


def test_pio_test_fails_on_failing_and_crashing_tests(project: Path) -> None:
    (project / "test" / "test_fail").mkdir(exist_ok=True)
    (project / "test" / "test_fail" / "test_main.c").write_text(
        '#include "tiny_test.h"\n'
        "static void test_ok(void) { TT_ASSERT_EQ_INT(4, 2 + 2); }\n"
        "static void test_wrong(void) { TT_ASSERT_EQ_INT(5, 2 + 2); }\n"
        "int main(void) { TT_BEGIN(); RUN_TEST(test_ok); RUN_TEST(test_wrong); return TT_END(); }\n")
    (project / "test" / "test_crash").mkdir(exist_ok=True)
    (project / "test" / "test_crash" / "test_main.c").write_text(
        '#include "tiny_test.h"\n'
        "static void test_fault(void) { ((void (*)(void))0xFFFFFFF1u)(); }\n"
        "int main(void) { TT_BEGIN(); RUN_TEST(test_fault); return TT_END(); }\n")
    try:
        with pytest.raises(TinyError) as ei:
            run_pio(project, ["test", "-e", BOARD, "-f", "test_fail", "-f", "test_crash"],
                    timeout=180)
    finally:
        shutil.rmtree(project / "test" / "test_fail")
        shutil.rmtree(project / "test" / "test_crash")
    out = str(ei.value)
    assert re.search(r"test_ok\s+\[PASSED\]", out), out
    assert re.search(r"test_wrong: Expected 5 Was 4.*\[FAILED\]", out), out
    assert re.search(r"test_fail\s+FAILED", out), out
    assert re.search(r"test_crash\s+ERRORED", out) and "before its summary line" in out, out
