"""Every option of every `tiny` subcommand has help text, and every command shows an example."""
from __future__ import annotations

import argparse

from tiny.cli import build_parser


def _subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    out = {}
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            out.update(a.choices)
    return out


def test_every_option_has_help_and_every_command_an_example() -> None:
    p = build_parser()
    subs = _subcommands(p)
    assert {"boards", "compile", "report", "build", "flash", "validate", "bench", "train", "export", "demo"} <= set(subs)
    missing = []
    for name, q in [("tiny", p), *sorted(subs.items())]:
        for a in q._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (a.help and a.help.strip()) or a.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}")
    assert not missing, "options without help: " + ", ".join(missing)
    no_example = [n for n, q in subs.items() if not (q.epilog and f"tiny {n}" in q.epilog)]
    assert not no_example, f"commands without an example in their epilog: {no_example}"
    # the example renders in --help (raw formatting keeps its lines)
    assert "tiny export" in subs["export"].format_help()
