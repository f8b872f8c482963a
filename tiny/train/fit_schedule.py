"""Forward schedule of a training firmware, chosen with the training memory counted.

The training peak is max(forward arena, backward workspace) + the training's own buffers (saved
activations and masks, SRAM copies of updated weights, momentum, logits): the workspace reuses the
dead forward arena (tiny/passes/sparse_update.py::TrainPlan.memory). So a schedule fits when its
forward arena is at most budget - those buffers, and the patch stage must end below every op the
backward touches (the patch stage keeps no full-size activation to capture or to differentiate).
With `--schedule auto` (and a training plan) this module gives the schedule search that reduced
budget: the result fits, or a TinyError names the budget and the smallest peak found.
"""
from __future__ import annotations

from typing import Any, Callable

from tiny.ir import Graph, TinyError
from tiny.passes.sparse_update import TrainPlan


def fixed_bytes(plan: TrainPlan) -> int:
    """Training bytes on top of max(forward arena, backward workspace)."""
    m = plan.memory(0)
    return m["train_peak_sram_bytes"] - m["backward_workspace_bytes"]


def stage_limit(plan: TrainPlan) -> int:
    """The largest split point k (the patch stage is ops 0..k-1) that leaves every backward step
    and every capture outside the stage."""
    ops = [s.op for s in plan.steps if s.op >= 0] + [c.op for c in plan.captures]
    low = min(ops, default=len(plan.graph.ops))
    return max(low, 0) if low >= 0 else 0


def training_budget(board: str, sram_budget: int | None) -> int:
    from tiny.boards import get_board
    from tiny.passes.patch import usable_sram
    return int(sram_budget) if sram_budget is not None else usable_sram(get_board(board))


def compile_for_training(g: Graph, board: str, plan: TrainPlan, schedule: str = "layer",
                         sram_budget: int | None = None, kernels: str = "opt") -> Any:
    """The forward Compiled for a training firmware. `auto`: the fewest-MACs schedule whose
    *training* peak fits the budget (board SRAM after stack and runtime unless --sram-budget)."""
    from tiny.compile import compile_model
    from tiny.target import Target
    from tiny.workflow import compile_for
    if schedule == "layer":
        return compile_for(g, board, "layer", None, kernels=kernels)
    limit = stage_limit(plan)
    ok: Callable[[int], bool] = lambda k: k <= limit  # noqa: E731
    if schedule == "patch":
        return compile_model(g, Target(board=board, kernels=kernels, schedule="patch", sram_budget=sram_budget),
                             stage_ok=ok)
    if schedule != "auto":
        raise TinyError(f"unknown schedule '{schedule}': use layer, patch or auto")
    budget = training_budget(board, sram_budget)
    fixed = fixed_bytes(plan)
    ws = 4 * plan.ws_floats
    what = (f"saved activations {plan.saved_bytes:,} B + SRAM weights/momentum/logits "
            f"{fixed - plan.saved_bytes:,} B")
    if ws + fixed > budget:
        raise TinyError(f"training does not fit an SRAM budget of {budget:,} B with any schedule: the backward "
                        f"workspace alone is {ws:,} B + {what} = {ws + fixed:,} B; update fewer or higher layers")
    try:
        return compile_model(g, Target(board=board, kernels=kernels, schedule="auto", sram_budget=budget - fixed),
                             stage_ok=ok)
    except TinyError:
        low = _lowest_forward_peak(g, board, ok)
        raise TinyError(
            f"no schedule fits the training in an SRAM budget of {budget:,} B: the smallest training peak "
            f"found is {max(low, ws) + fixed:,} B (forward arena {low:,} B, patch stage limited to ops "
            f"#0..#{limit - 1} below the backward, + {what}); update fewer or higher layers") from None


def _lowest_forward_peak(g: Graph, board: str, ok: Callable[[int], bool]) -> int:
    from tiny.compile import compile_model
    from tiny.emit.model import compile_graph
    from tiny.target import Target
    layer = compile_graph(g, Target(board=board)).plan.arena_bytes
    try:
        return min(layer, compile_model(g, Target(board=board, schedule="patch"), stage_ok=ok).plan.arena_bytes)
    except TinyError:
        return layer
