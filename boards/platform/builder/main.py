"""SCons builder of tiny's local platform: bare-metal Cortex-M with arm-none-eabi-gcc.

Target flags come from the board JSON (build.cpu, build.fpu); the project's platformio.ini adds
the linker script (board_build.ldscript) and tiny's flags. `upload` runs the ELF on QEMU for
emulated boards (serial on stdio); real boards are uploaded through their `<board>` env, which
uses PlatformIO's own ststm32 / nordicnrf52 platform and upload tools.
"""
from os.path import join

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment  # noqa: F401

env = DefaultEnvironment()
board = env.BoardConfig()

env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-gcc",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.data|\.ARM\.exidx|\.ARM\.extab|\.init_array|\.fini_array|\.preinit_array)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
)

cpu = ["-mcpu=%s" % board.get("build.cpu"), "-mthumb"]
fpu = board.get("build.fpu", "none")
cpu += ["-mfpu=%s" % fpu, "-mfloat-abi=hard"] if fpu != "none" else ["-mfloat-abi=soft"]

# AppendUnique: the project's tiny_flags.py pre-script adds the same flags (gcc rejects
# --specs=nano.specs twice).
env.AppendUnique(
    ASFLAGS=cpu + ["-x", "assembler-with-cpp"],
    CCFLAGS=cpu + ["-ffunction-sections", "-fdata-sections", "-Wall"],
    LINKFLAGS=cpu + [
        "-Wl,--gc-sections",
        "-nostartfiles",
        "--specs=nano.specs",
        "--specs=nosys.specs",
        "-Wl,--no-warn-rwx-segments",
        "-Wl,-Map,%s" % join("$BUILD_DIR", "firmware.map"),
    ],
    LIBS=["c", "m", "gcc", "nosys"],
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"),
            suffix=".bin",
        )
    ),
)

target_elf = env.BuildProgram()
target_bin = env.ElfToBin(join("$BUILD_DIR", "${PROGNAME}"), target_elf)
target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)

machine = board.get("tiny.qemu_machine", "")
if machine:
    qemu = ("qemu-system-arm -machine %s -nographic -semihosting-config enable=on,target=native "
            "-kernel $SOURCE" % machine)
    upload = env.VerboseAction(qemu, "Running $SOURCE on QEMU %s (exit with the QUIT command or C-a x)" % machine)
else:
    def upload(target, source, env):  # noqa: ARG001
        print("tiny: this env builds offline only; upload with the `%s` env (PlatformIO's own "
              "platform and upload tools, needs internet once)" % board.get("tiny.pio_board", "?"))
        return 1
AlwaysBuild(env.Alias("upload", target_elf, upload))

Default([target_bin, target_size])
