"""Training configurations: which layers learn what, and the optimiser settings.

A configuration is a TOML file (documented in docs/training.md) or a recipe name:

    [train]
    recipe = "sparse"          # optional starting point: sparse | bias | head | full | mobiletl
    lr = 0.05                  # default learning rate (can be changed over the protocol)
    momentum = 0.9             # SGD momentum (0 = plain SGD; >0 keeps a float32 buffer per parameter)
    qas = true                 # quantization-aware scaling of the int8/int32 gradients
    epochs = 1
    search = true              # sparse: pick bias_last/weights by contribution analysis under the
                               # board's budget (opt-in; ignored when a key below is given)
    bias_last = 4              # the last N conv/depthwise/FC layers update their biases
    [train.weights]            # layers whose weights update, with the fraction of output channels
    "#20" = 1.0                # by op index ...
    "conv_pw_3" = 0.5          # ... or by (a substring-free) output tensor name

Layers are the CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED ops of the int8 graph.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiny.ir import Graph, TinyError
from tiny.ops import kinds as K
from tiny.train.layers import LayerUpdate, resolve_layer, trainable_layers, trainable_ops, updates_for

RECIPES = ("sparse", "bias", "head", "full", "mobiletl")
TRAINABLE_OPS = trainable_ops()


@dataclass
class TrainConfig:
    recipe: str = "sparse"
    lr: float = 0.05
    momentum: float = 0.0
    qas: bool = True
    epochs: int = 1
    bias_last: int | None = None              # None: the recipe decides
    weights: dict[str, float] = field(default_factory=dict)   # layer ref -> ratio
    blocks: int | None = None                 # mobiletl: top K inverted residual blocks
    freeze_dw: bool = False                   # mobiletl: depthwise weights frozen (bias still trains)
    headroom: float = 1.0                     # trained weights requantized with this x their scale
    body_headroom: float | None = None        # ... for the trained layers below the classifier (None: headroom)
    shadow: bool | None = False               # 1/256-quantum fractions of the trained weights in SRAM
                                              # (None: when the training fits the budget with them)
    lr_default: bool = True                   # lr is the recipe's default (not --lr's nor a TOML's): probed
    search: bool | None = None                # sparse: contribution analysis + budget search (None: by
                                              # default, within a host-time limit; True: always; False: never)
    scheme: Any = None                        # the searched scheme (tiny.train.contrib.Scheme), once chosen
    scheme_report: dict[str, Any] | None = None   # its report (layers, ratios, gains, bytes) for the JSON

    def searches(self) -> bool:
        """Whether the sparse scheme is to be searched (vs the fixed default or explicit settings)."""
        if self.recipe != "sparse" or self.scheme is not None:
            return False
        # By default (search unset) and with `search = true`; `search = false` keeps the fixed scheme.
        return self.search is not False and not self.weights and self.bias_last is None

    def key(self) -> str:
        if self.scheme is not None:
            w = ",".join(f"#{k}={v}" for k, v in sorted(self.scheme.weights.items()))
            return f"sparse-searched;b={self.scheme.bias_last};w={w};m={self.momentum > 0}" + (";sh" if self.shadow else "")
        w = ",".join(f"{k}={v}" for k, v in sorted(self.weights.items()))
        return (f"{self.recipe};b={self.bias_last};w={w};m={self.momentum > 0};k={self.blocks};fdw={self.freeze_dw}"
                + (";sh" if self.shadow else ""))


def load_config(spec: str | Path | None, **overrides: Any) -> TrainConfig:
    """A recipe name or a TOML file -> TrainConfig (unknown keys are errors)."""
    spec = spec or "sparse"
    if str(spec) in RECIPES:
        # the recipe's defaults (tiny/train/schedule.py), so `tiny report --train R` plans the momentum
        # buffers `tiny train --recipe R` will use
        from tiny.train.schedule import DEFAULTS
        d = DEFAULTS.get(str(spec))
        cfg = TrainConfig(recipe=str(spec)) if d is None else TrainConfig(
            recipe=str(spec), lr=d.lr, momentum=d.momentum, epochs=d.epochs, headroom=d.headroom,
            body_headroom=d.body_headroom, shadow=d.shadow)
    else:
        p = Path(spec)
        if not p.exists():
            raise TinyError(f"training config {spec!r}: neither a recipe ({', '.join(RECIPES)}) nor a file")
        try:
            doc = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as e:
            raise TinyError(f"{p}: not valid TOML ({e})") from None
        t = doc.get("train", doc)
        known = {"recipe", "lr", "momentum", "qas", "epochs", "bias_last", "weights", "blocks", "freeze_depthwise",
                 "search", "headroom", "body_headroom", "shadow"}
        bad = sorted(set(t) - known)
        if bad:
            raise TinyError(f"{p}: unknown key(s) {', '.join(bad)} (known: {', '.join(sorted(known))})")
        recipe = t.get("recipe", "sparse")
        if recipe not in RECIPES:
            raise TinyError(f"{p}: recipe {recipe!r} is not one of {', '.join(RECIPES)}")
        # keys left out take the recipe's defaults, as `--recipe R` does
        from tiny.train.schedule import DEFAULTS
        d = DEFAULTS[recipe]
        cfg = TrainConfig(recipe=recipe, lr=float(t.get("lr", d.lr)), momentum=float(t.get("momentum", d.momentum)),
                          qas=bool(t.get("qas", True)), epochs=int(t.get("epochs", d.epochs)),
                          bias_last=t.get("bias_last"), weights={str(k): float(v) for k, v in
                                                                 dict(t.get("weights", {})).items()},
                          blocks=t.get("blocks"), freeze_dw=bool(t.get("freeze_depthwise", False)),
                          search=t.get("search"), headroom=float(t.get("headroom", d.headroom)),
                          # a TOML headroom alone applies to every trained layer
                          body_headroom=(float(t["body_headroom"]) if "body_headroom" in t else
                                         None if "headroom" in t else d.body_headroom),
                          shadow=_shadow(p, t.get("shadow", d.shadow)), lr_default="lr" not in t)
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
            if k == "headroom" and overrides.get("body_headroom") is None:
                cfg.body_headroom = None        # --headroom F: F for every trained layer
    for h in (cfg.headroom, cfg.body_headroom if cfg.body_headroom is not None else cfg.headroom):
        if not 1.0 <= h <= 64.0:
            raise TinyError(f"weight headroom {h} must be in [1, 64]")
    if not 0.0 <= cfg.momentum < 1.0:
        raise TinyError(f"momentum {cfg.momentum} must be in [0, 1)")
    return cfg


def _shadow(p: Path, v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if v == "auto":
        return None
    raise TinyError(f"{p}: shadow = {v!r}: true, false or \"auto\" (when the training fits the budget with it)")


def fixed_sparse_scheme(g: Graph) -> tuple[int, dict[int, float]]:
    """The fixed sparse scheme, paper-like and scaled to the model: (biases of the last half of the
    layers (at most 12), {op: ratio}: the full head and the last two small pointwise (1x1) convs
    with 100 % / 50 % of their channels). One of the candidates the scheme search verifies."""
    layers = trainable_layers(g)
    weights = {layers[-1]: 1.0}
    # (pointwise convs whose int8 filter is at most 16 KB: a trained filter lives in SRAM)
    pw = [i for i in layers[:-1] if g.ops[i].type == K.CONV_2D
          and g.tensors[g.ops[i].inputs[1]].shape[1:3] == (1, 1)
          and g.tensors[g.ops[i].inputs[1]].nbytes <= 16384]
    for i, r in zip(reversed(pw), (1.0, 0.5)):
        weights[i] = r
    return max(1, min(len(layers) // 2, 12)), weights


def layer_updates(g: Graph, cfg: TrainConfig) -> list[LayerUpdate]:
    """The recipe + explicit settings -> per-layer updates (ascending op index)."""
    layers = trainable_layers(g)
    if not layers:
        raise TinyError("the model has no conv/depthwise/fully-connected layer to train")
    if cfg.scheme is not None:   # searched by contribution analysis (tiny/train/contrib.py)
        return updates_for(g, cfg.scheme.bias_last, cfg.scheme.weights)
    weights: dict[int, float] = {}
    bias_last = cfg.bias_last
    if cfg.recipe == "full":
        weights = {i: 1.0 for i in layers}
        bias_last = len(layers) if bias_last is None else bias_last
    elif cfg.recipe == "head":
        weights = {layers[-1]: 1.0}
        bias_last = 1 if bias_last is None else bias_last
    elif cfg.recipe == "bias":
        bias_last = len(layers) if bias_last is None else bias_last
    elif cfg.recipe == "mobiletl":
        from tiny.passes.mobiletl import updates
        return updates(g, cfg.blocks, cfg.freeze_dw, cfg.weights)[0]
    else:  # sparse: the fixed scheme (searched ones come in as cfg.scheme)
        fb, fw = fixed_sparse_scheme(g)
        weights = {} if cfg.weights else fw
        bias_last = fb if bias_last is None else bias_last
    for ref, ratio in cfg.weights.items():
        if not 0.0 < ratio <= 1.0:
            raise TinyError(f"training config: weight ratio {ratio} for {ref!r} must be in (0, 1]")
        weights[resolve_layer(g, ref)] = ratio
    out = updates_for(g, max(0, min(int(bias_last or 0), len(layers))), weights)
    if not out:
        raise TinyError("training config updates nothing")
    return out
