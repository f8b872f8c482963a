"""Library entry points of on-device training: compile a training firmware, open it, run it."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from tiny.ir import Graph
from tiny.passes.sparse_update import TrainPlan, plan_training
from tiny.train.config import TrainConfig, layer_updates
from tiny.train.emit import TrainCompiled, compile_training


def training_plan(g: Graph, cfg: TrainConfig, params: list[dict[str, Any]] | None = None) -> TrainPlan:
    return logits_straight_through(plan_training(g, layer_updates(g, cfg), momentum=cfg.momentum > 0,
                                                 params=params, shadow=bool(cfg.shadow)))


def logits_straight_through(plan: TrainPlan) -> TrainPlan:
    """No clamp mask on the logits: the cross-entropy gradient passes the int8 saturation of the logits
    straight through. With the mask, a wrong class whose logit reached the int8 limit gets no gradient
    and stays there for good: head-only training on digits-transfer collapsed to one class (10 %)."""
    chain = {plan.logits}
    steps = []
    for s in plan.steps:
        if s.out in chain and s.kind != "ce":
            s = replace(s, mask=None)
            if s.kind == "copy":
                chain.update(s.ins)
        steps.append(s)
    plan.steps = steps
    return plan


def compile_train(g: Graph, board: str, cfg: TrainConfig, schedule: str = "layer",
                  sram_budget: int | None = None, kernels: str = "opt",
                  log: Callable[[str], None] | None = None) -> TrainCompiled:
    """kernels: "opt" (DSP forward and backward kernels on boards with the DSP extension) or "ref"
    (the portable runtime everywhere). cfg.shadow None (the sparse recipe's default): the weight
    shadow when the training planned without it still fits the budget with it on top (SRAM the plan
    leaves unused: the forward schedule stays the one chosen without it, so the shadow never buys
    its bytes with patch recomputation), else none; the firmware's plan says which
    (train_plan.shadow)."""
    if cfg.shadow is not None:
        return _compile_train(g, board, cfg, schedule, sram_budget, kernels)
    from tiny.train.fit_schedule import training_budget
    budget = training_budget(board, sram_budget)
    tc = _compile_train(g, board, replace(cfg, shadow=False), schedule, sram_budget, kernels)
    peak = tc.train_memory["train_peak_sram_bytes"]
    extra = replace(tc.train_plan, shadow=True).shadow_bytes()
    if peak + extra <= budget:
        return _compile_train(g, board, replace(cfg, shadow=True), schedule, sram_budget, kernels)
    if log is not None and peak <= budget:      # (else the refusal says it all)
        log(f"no weight shadow (the precision it adds to the trained weights does not fit: {peak + extra:,} B "
            f"with its {extra:,} B, over the {budget:,} B budget)")
    return tc


def _compile_train(g: Graph, board: str, cfg: TrainConfig, schedule: str, sram_budget: int | None,
                   kernels: str) -> TrainCompiled:
    from tiny.interpreter import prepare_all
    from tiny.train.fit_schedule import compile_for_training
    from tiny.train.headroom import trained_weight_channels, with_headroom
    g = with_headroom(g, trained_weight_channels(training_plan(g, cfg)), cfg.headroom, cfg.body_headroom)
    plan = training_plan(g, cfg, prepare_all(g))     # independent of the schedule
    c = compile_for_training(g, board, plan, schedule, sram_budget, kernels=kernels)
    plan = training_plan(g, cfg, c.params)
    return compile_training(c, plan, cfg.lr, cfg.momentum, cfg.qas, board=board, kernels=kernels)


def oracle_for(tc: TrainCompiled, rounding: str = "stochastic"):  # -> TrainOracle
    from tiny.reference.train import TrainOracle
    return TrainOracle(tc.train_plan, lr=tc.lr, momentum=tc.momentum, qas=tc.qas, rounding=rounding)
