"""The training oracle: one SGD step of a sparse-update plan in numpy, as the C runtime does it.

The forward pass is the bit-exact int8 reference (tiny.reference.run_graph). The backward pass
follows the plan's step list (tiny.passes.sparse_update) in float32 with *the same operation order
as firmware/src/train/train.c*: every sum is accumulated sequentially from 0.0f in the documented
loop order, no fused multiply-add, the same exp approximation, the same rounding of the update.
IEEE float32 + and * are correctly rounded, so device and oracle agree bit for bit and so do the
int8 weights after any number of steps.

Gradients are taken w.r.t. the real values of the fake-quant graph (straight-through rounding,
clamp masks from the int8 outputs). Updates with QAS (quantization-aware scaling):
    int8 weight  w_q += -lr * round( dL/dW / s_w[c] )          (= dL/dw_q / s_w^2)
    int32 bias   b_q += -lr * round( dL/db / (s_x s_w[c]) )     (= dL/db_q / (s_x s_w)^2)
without QAS the raw int gradients dL/dw_q = s_w dL/dW and dL/db_q = s_x s_w dL/db are used.
Updates are rounded and saturated ([-127, 127] weights, int32 biases). Rounding is stochastic by
default (`rounding="stochastic"`): d = floor(v + u) with u in [0, 1) drawn from a counter-based hash of
(step number, backward-step index, role, element index), so an update of 0.1 quanta moves the weight by
one quantum one time in ten instead of never, the expected update is the float update, and the board
(firmware/src/train/train.c, same hash) draws the same u for the same element in any loop order.
`rounding="nearest"` rounds half away from zero.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from tiny.ops import opdef
from tiny.ops.resize import bilinear_sources, resize_sources
from tiny.passes.sparse_update import VALUE_KINDS, Step, TrainPlan, input_slots
from tiny.train.layers import predicted_class
from tiny.interpreter import prepare_all, run_graph

F = np.float32
_LOG2E, _LN2_HI, _LN2_LO = F(1.44269504), F(0.693145752), F(1.42860677e-06)
_EXP_C = [F(1.0 / 720.0), F(1.0 / 120.0), F(1.0 / 24.0), F(1.0 / 6.0), F(0.5), F(1.0), F(1.0)]
EXP_CONSTANTS = {"log2e": _LOG2E, "ln2_hi": _LN2_HI, "ln2_lo": _LN2_LO, "c": _EXP_C}


def exp32(x: np.ndarray) -> np.ndarray:
    """exp for x <= 0 in float32, exactly as tiny_train_exp in C."""
    x = np.maximum(np.asarray(x, dtype=F), F(-87.0))
    t = x * _LOG2E
    k = np.trunc(t - F(0.5)).astype(np.int32)
    kf = k.astype(F)
    r = x - kf * _LN2_HI
    r = r - kf * _LN2_LO
    p = np.full_like(r, _EXP_C[0])
    for c in _EXP_C[1:]:
        p = p * r + c
    two_k = ((k + 127).astype(np.int32) << 23).view(F)
    return p * two_k


def round_update(step: np.ndarray) -> np.ndarray:
    s = np.clip(step.astype(F), F(-1e9), F(1e9))
    return np.trunc(np.where(s >= 0, s + F(0.5), s - F(0.5))).astype(np.int64)


_M32 = np.uint64(0xFFFFFFFF)


def _mul32(a: np.ndarray, b: int) -> np.ndarray:
    return (a.astype(np.uint64) * np.uint64(b)) & _M32


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (uint32 arithmetic, as tiny_train_fmix32 in C)."""
    h = np.asarray(h, dtype=np.uint64) & _M32
    h ^= h >> np.uint64(16)
    h = _mul32(h, 0x85EBCA6B)
    h ^= h >> np.uint64(13)
    h = _mul32(h, 0xC2B2AE35)
    h ^= h >> np.uint64(16)
    return h


def sr_key(step: int, bstep: int, role: int, seed: int = 0) -> int:
    """The per-(training step, backward step, role) key of the stochastic rounding hash."""
    k = (int(step) * 0x9E3779B9 + (2 * int(bstep) + int(role)) * 0x85EBCA6B + int(seed)) & 0xFFFFFFFF
    return int(fmix32(np.array(k))[()])


def round_stochastic(step: np.ndarray, key: int, index: np.ndarray) -> np.ndarray:
    """floor(v + u), u = (fmix32(index ^ key) >> 8) * 2^-24 in [0, 1) (float32 sum, as in C)."""
    s = np.clip(step.astype(F), F(-1e9), F(1e9))
    h = fmix32(np.asarray(index, dtype=np.uint64) ^ np.uint64(key))
    u = ((h >> np.uint64(8)).astype(np.float64) * 2.0 ** -24).astype(F)
    return np.floor((s + u.reshape(s.shape)).astype(F)).astype(np.int64)


class TrainOracle:
    """Holds the trainable int8/int32 tensors (inside the prepared kernel params) and SGD state."""

    def __init__(self, plan: TrainPlan, lr: float = 0.05, momentum: float = 0.0, qas: bool = True,
                 rounding: str = "stochastic") -> None:
        self.plan = plan
        self.g = g = plan.graph
        self.params = prepare_all(g)      # filter/bias arrays in here are copies: updated in place
        self.lr, self.mu, self.qas = F(lr), F(momentum), bool(qas)
        if rounding not in ("stochastic", "nearest"):
            raise ValueError(f"rounding {rounding!r}: stochastic or nearest")
        self.stochastic = rounding == "stochastic"
        self._bstep = 0
        self.steps_done = 0
        self.last_grads: dict[tuple[int, str], np.ndarray] = {}
        self.wscale: dict[int, np.ndarray] = {}
        self.bscale: dict[int, np.ndarray] = {}
        self.mom: dict[tuple[int, str], np.ndarray] = {}
        self.m0: dict[int, tuple[np.ndarray, np.ndarray]] = {}   # initial multiplier/shift (trained scales)
        # weight shadow: per filter element (flat, filter order) the fraction below the int8 weight
        self.frac: dict[int, np.ndarray] = {}
        for s in plan.steps:   # frozen layers inside the backward need their scales too (input grad)
            if s.kind in ("conv", "dw", "fc") and s.op not in self.wscale:
                self.wscale[s.op], self.bscale[s.op] = layer_scales(g, s.op)
        for u in plan.updates:
            op = g.ops[u.op]
            oc = g.tensors[op.outputs[0]].shape[-1]
            ws, bs = layer_scales(g, u.op)
            self.wscale[u.op], self.bscale[u.op] = ws, bs
            if plan.momentum:
                f = g.tensors[op.inputs[1]]
                if u.weight_channels:
                    self.mom[(u.op, "w")] = np.zeros((u.weight_channels, f.size // oc), F)
                if u.bias:
                    self.mom[(u.op, "b")] = np.zeros(oc, F)
                if u.scale:
                    self.mom[(u.op, "s")] = np.zeros(oc, F)
            if plan.shadow and u.weight_channels:
                # as the board's table: the updated channels only when the frozen ones stay in flash
                self.frac[u.op] = np.zeros(plan.sram_filter_size(u.op), np.int8)
            if u.scale:
                p = self.params[u.op]
                p["multiplier"] = np.array(p["multiplier"], dtype=np.int32)
                p["shift"] = np.array(p["shift"], dtype=np.int32)
                self.m0[u.op] = (p["multiplier"].copy(), p["shift"].copy())

    # ------------------------------------------------------------------ state
    def tensors(self) -> dict[str, np.ndarray]:
        """The trainable tensors by name (op index + role), as the device's parameter table lists them."""
        out = {}
        for u in self.plan.updates:
            p = self.params[u.op]
            if u.weight_channels:
                # the board's table of a split layer holds the updated channels only
                out[f"{u.op}.w"] = p["filter"][:self.plan.split_channels(u.op) or None]
                if u.op in self.frac:
                    out[f"{u.op}.wf"] = self.frac[u.op]
            if u.bias:
                out[f"{u.op}.b"] = p["bias"]
            if u.scale:
                out[f"{u.op}.m"] = p["multiplier"]
                out[f"{u.op}.e"] = p["shift"]
        return out

    def kfac(self, op: int) -> np.ndarray:
        """Per output channel, the trained factor k = m 2^e / (m0 2^e0) of a scale-trained conv (float32,
        as the device computes it: (float)m / (float)m0, times an exact power of two); 1 elsewhere."""
        if op not in self.m0:
            return np.ones(self.g.tensors[self.g.ops[op].outputs[0]].shape[-1], F)
        p = self.params[op]
        m0, e0 = self.m0[op]
        k = (p["multiplier"].astype(F) / m0.astype(F)).astype(F)
        return np.ldexp(k, (p["shift"] - e0).astype(np.int32)).astype(F)

    def forward(self, x: np.ndarray) -> dict[int, np.ndarray]:
        return run_graph(self.g, [x], self.params)

    def predict(self, x: np.ndarray) -> int:
        vals = self.forward(x)
        return predicted_class(vals[self.plan.logits], self.g.tensors[self.plan.logits].quant.zp())

    # ------------------------------------------------------------------ one step
    def step(self, x: np.ndarray, label: int, lr: float | None = None) -> dict[str, Any]:
        """One SGD step; lr (float32) replaces the learning rate from this step on (a schedule)."""
        g, plan = self.g, self.plan
        if lr is not None:
            self.lr = F(lr)
        vals = self.forward(x)
        grads: dict[int, np.ndarray] = {}
        info: dict[str, Any] = {}
        for self._bstep, s in enumerate(plan.steps):
            if s.kind == "ce":
                info = self._ce(vals[s.out].reshape(-1), int(label), grads, s)
                continue
            gout = grads.pop(s.out).reshape(g.tensors[s.out].shape[1:] if s.kind in ("conv", "dw") else -1)
            if s.mask is not None:
                c = plan.captures[s.mask]
                q = vals[c.tensor].reshape(gout.shape)
                gout = np.where((q > c.lo) & (q < c.hi), gout, F(0)).astype(F)
            getattr(self, f"_{s.kind}")(s, gout, vals, grads)
        self.steps_done += 1
        return info

    def _accum(self, grads: dict[int, np.ndarray], t: int, first: bool, value: np.ndarray) -> None:
        shape = self.g.tensors[t].shape
        if first:
            grads[t] = np.array(value, dtype=F).reshape(shape)
        else:
            grads[t] = (grads[t] + value.reshape(shape)).astype(F)

    def _ce(self, q: np.ndarray, label: int, grads: dict[int, np.ndarray], s: Step) -> dict[str, Any]:
        t = self.g.tensors[s.out]
        lg = real_values(t, q)
        if lg.size == 1:    # a one-logit (sigmoid) head: binary cross-entropy, as step_ce in train.c
            z = lg[0]
            e = exp32(np.array([-z if z >= 0 else z], F))[0]       # exp(-|z|) <= 1
            a, b = F(F(1) / F(F(1) + e)), F(e / F(F(1) + e))
            p, not_p = (a, b) if z >= 0 else (b, a)                 # sigmoid(z), 1 - sigmoid(z)
            grads[s.out] = np.array([-not_p if label else p], F).reshape(t.shape)
            return {"pred": predicted_class(q, t.quant.zp()), "p_label": float(p if label else not_p)}
        m = lg.max()
        e = exp32(lg - m)
        tot = F(0)
        for v in e:
            tot = F(tot + v)
        p = (e / tot).astype(F)
        gr = p.copy()
        gr[label] = F(p[label] - F(1))
        grads[s.out] = gr.reshape(t.shape)
        return {"pred": int(np.argmax(q)), "p_label": float(p[label])}

    def _x_real(self, s: Step, vals: dict[int, np.ndarray]) -> np.ndarray:
        return self.real(self.plan.captures[s.x_saved].tensor, vals)

    def _update(self, op: int, role: str, arr: np.ndarray, grad: np.ndarray, scale: np.ndarray,
                index: np.ndarray | None = None) -> None:
        """index: each element's offset in the parameter's device layout (default: arr's own order)."""
        self.last_grads[(op, role)] = np.array(grad)   # dL/dW, dL/db of the real values (for checks)
        # The scale is folded into one float32 factor per element (as the C does once per call): a
        # multiply per weight instead of a division, the same step up to rounding.
        key = (op, role)
        f = self.plan.weight_lr(op) if role == "w" else 1.0
        if f != 1.0:   # a power of two: exact, as the C's scale * w_lr (QAS: * w_lr_inv)
            scale = (scale * F(1.0 / f) if self.qas else scale * F(f)).astype(F)
        if key in self.mom:
            r = (F(1) / scale if self.qas else scale).astype(F)
            self.mom[key][...] = self.mu * self.mom[key] + (grad * r).astype(F)
            step = (self.lr * self.mom[key]).astype(F)
        else:
            c = (self.lr / scale if self.qas else self.lr * scale).astype(F)
            step = (grad * c).astype(F)
        idx = np.arange(arr.size).reshape(arr.shape) if index is None else index
        shadow = self.frac.get(op) if role == "w" else None
        step = step.reshape(arr.shape)
        if shadow is not None:
            step = (step * F(256)).astype(F)       # exact: a power of two
        if self.stochastic:
            key = sr_key(self.steps_done, self._bstep, 0 if role == "w" else 1)
            d = round_stochastic(step, key, idx)
        else:
            d = round_update(step).reshape(arr.shape)
        if shadow is not None:
            # v = 256 w + frac, the update rounded to 1/256 of a quantum; w = v to the nearest quantum
            fr = shadow[idx.reshape(-1)].reshape(arr.shape).astype(np.int64)
            val = np.clip(arr.astype(np.int64) * 256 + fr - d, -127 * 256 - 128, 127 * 256 + 127)
            q = (val + 128) >> 8
            arr[...] = q.astype(arr.dtype)
            shadow[idx.reshape(-1)] = (val - q * 256).reshape(-1).astype(np.int8)
            return
        lo, hi = (-127, 127) if role == "w" else (-2**31, 2**31 - 1)
        arr[...] = np.clip(arr.astype(np.int64) - d, lo, hi).astype(arr.dtype)

    def _bias(self, s: Step, g2: np.ndarray, k: np.ndarray | None = None) -> None:
        """g2: (positions, oc) masked output gradient; sequential sum over positions."""
        u = s.update
        if u is None or not u.bias:
            return
        gb = np.zeros(g2.shape[1], F)
        for row in g2:
            gb = gb + row
        bs = self.bscale[s.op] if k is None else (self.bscale[s.op] * k).astype(F)
        self._update(s.op, "b", self.params[s.op]["bias"], gb, bs)

    def _scale(self, s: Step, g2: np.ndarray, vals: dict) -> None:
        """MobileTL's last-norm scale: dL/dlog k[c] = sum_p g[p, c] * y_real[p, c] (the kept int8 output),
        SGD (+ momentum) on log k applied to the int32 multiplier: m -= round(clip(lr v) * m), renormalized
        into [2^30, 2^31) by moving the shift."""
        c = self.plan.captures[s.y_saved]
        t = self.g.tensors[c.tensor]
        yr = (F(t.quant.s()) * (vals[c.tensor].astype(np.int32) - t.quant.zp()).astype(F)).reshape(g2.shape)
        gs = np.zeros(g2.shape[1], F)
        for p in range(g2.shape[0]):
            gs = gs + g2[p] * yr[p]
        self.last_grads[(s.op, "s")] = np.array(gs)
        key = (s.op, "s")
        if key in self.mom:
            self.mom[key][...] = self.mu * self.mom[key] + gs
            v = self.mom[key]
        else:
            v = gs
        step = np.clip((self.lr * v).astype(F), F(-0.25), F(0.25))
        p = self.params[s.op]
        m, e = p["multiplier"], p["shift"]
        d = round_update((step * m.astype(F)).astype(F))
        nv = m.astype(np.int64) - d
        ne = e.astype(np.int64).copy()
        up = (nv > 2**31 - 1) & (ne < 30)
        nv[up] >>= 1
        ne[up] += 1
        dn = (nv < 2**30) & (ne > -31)
        nv[dn] <<= 1
        ne[dn] -= 1
        nv = np.clip(nv, 2**30, 2**31 - 1)
        keep = m == 0        # a zero multiplier (dead channel) stays
        m[...] = np.where(keep, m, nv).astype(np.int32)
        e[...] = np.where(keep, e, ne).astype(np.int32)

    def _conv(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        p = self.params[s.op]
        oc, kh, kw, ic = p["filter_shape"]
        _, H, W, _ = p["in_shape"]
        OH, OW = g.shape[:2]
        sh, sw, pt, pl = p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"]
        filt = p["filter"]
        k = self.kfac(s.op)
        wse = (self.wscale[s.op] * k).astype(F)
        if s.ins:
            dx = np.zeros((H, W, ic), F) if s.in_first[0] else grads[s.ins[0]].reshape(H, W, ic)
            wr = wse[:, None, None, None] * filt.astype(F)
            for c in range(oc):
                for y in range(kh):
                    oy = _valid(OH, H, sh, y - pt)
                    if oy is None:
                        continue
                    for xk in range(kw):
                        ox = _valid(OW, W, sw, xk - pl)
                        if ox is None:
                            continue
                        (o0, o1, i0), (p0, p1, j0) = oy, ox
                        dx[i0:i0 + (o1 - o0 - 1) * sh + 1:sh, j0:j0 + (p1 - p0 - 1) * sw + 1:sw, :] += \
                            g[o0:o1, p0:p1, c, None] * wr[c, y, xk][None, None, :]
            grads[s.ins[0]] = dx.reshape(self.g.tensors[s.ins[0]].shape)
        self._bias(s, g.reshape(-1, oc), k)
        u = s.update
        if u is not None and u.weight_channels:
            n = u.weight_channels
            xr = self._x_real(s, vals).reshape(H, W, ic)
            xp = np.zeros(((OH - 1) * sh + kh + pt, (OW - 1) * sw + kw + pl, ic), F)
            xp[pt:pt + H, pl:pl + W] = xr[:xp.shape[0] - pt, :xp.shape[1] - pl]
            gw = np.zeros((n, kh, kw, ic), F)
            for oy in range(OH):
                for ox in range(OW):
                    win = xp[oy * sh:oy * sh + kh, ox * sw:ox * sw + kw, :]
                    gw = gw + g[oy, ox, :n, None, None, None] * win[None]
            self._update(s.op, "w", filt[:n], gw.reshape(n, -1), wse[:n, None])
        if u is not None and u.scale:
            self._scale(s, g.reshape(-1, oc), vals)

    def _dw(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        p = self.params[s.op]
        _, kh, kw, C = p["filter_shape"]
        _, H, W, _ = p["in_shape"]
        OH, OW = g.shape[:2]
        sh, sw, pt, pl = p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"]
        filt = p["filter"]
        if s.ins:
            dx = np.zeros((H, W, C), F) if s.in_first[0] else grads[s.ins[0]].reshape(H, W, C)
            wr = self.wscale[s.op][None, None, :] * filt[0].astype(F)
            for y in range(kh):
                oy = _valid(OH, H, sh, y - pt)
                if oy is None:
                    continue
                for xk in range(kw):
                    ox = _valid(OW, W, sw, xk - pl)
                    if ox is None:
                        continue
                    (o0, o1, i0), (p0, p1, j0) = oy, ox
                    dx[i0:i0 + (o1 - o0 - 1) * sh + 1:sh, j0:j0 + (p1 - p0 - 1) * sw + 1:sw, :] += \
                        g[o0:o1, p0:p1, :] * wr[y, xk][None, None, :]
            grads[s.ins[0]] = dx.reshape(self.g.tensors[s.ins[0]].shape)
        self._bias(s, g.reshape(-1, C))
        u = s.update
        if u is not None and u.weight_channels:
            n = u.weight_channels
            xr = self._x_real(s, vals).reshape(H, W, C)
            xp = np.zeros(((OH - 1) * sh + kh + pt, (OW - 1) * sw + kw + pl, C), F)
            xp[pt:pt + H, pl:pl + W] = xr[:xp.shape[0] - pt, :xp.shape[1] - pl]
            gw = np.zeros((kh, kw, n), F)
            for oy in range(OH):
                for ox in range(OW):
                    win = xp[oy * sh:oy * sh + kh, ox * sw:ox * sw + kw, :n]
                    gw = gw + g[oy, ox, None, None, :n] * win
            # device layout: channel-major (c, kh*kw)
            view = filt[0, :, :, :n].transpose(2, 0, 1)
            tmp = np.ascontiguousarray(view)
            idx = (np.arange(kh * kw)[None, :] * C + np.arange(n)[:, None]).reshape(n, kh, kw)
            self._update(s.op, "w", tmp, gw.transpose(2, 0, 1).reshape(n, -1),
                         self.wscale[s.op][:n, None], index=idx)
            filt[0, :, :, :n] = tmp.transpose(1, 2, 0)

    def _fc(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        p = self.params[s.op]
        oc, D = p["out_channels"], p["accum_depth"]
        filt = p["filter"]
        g = g.reshape(oc)
        if s.ins:
            dx = np.zeros(D, F) if s.in_first[0] else grads[s.ins[0]].reshape(D)
            wr = self.wscale[s.op][:, None] * (filt.astype(np.int32) + p["filter_offset"]).astype(F)
            for c in range(oc):
                dx = dx + g[c] * wr[c]
            grads[s.ins[0]] = dx.reshape(self.g.tensors[s.ins[0]].shape)
        self._bias(s, g.reshape(1, oc))
        u = s.update
        if u is not None and u.weight_channels:
            n = u.weight_channels
            xr = self._x_real(s, vals).reshape(D)
            gw = F(0) + g[:n, None] * xr[None, :]
            self._update(s.op, "w", filt[:n], gw, self.wscale[s.op][:n, None])

    def _mean(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """Each output's gradient / the count it averaged, to every input it averaged (any axes)."""
        if not s.ins:
            return
        p = self.params[s.op]
        kept = tuple(1 if (p.axis_mask >> a) & 1 else d for a, d in enumerate(p.in_dims))
        v = np.broadcast_to((g.reshape(kept) / F(p.count)).astype(F), p.in_dims)
        self._accum(grads, s.ins[0], s.in_first[0], v)

    def _reduce_max(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """TF's rule (_MinOrMaxGrad): each output's gradient / the number of its inputs equal to the max,
        to each of them (int8 ties are common), 0 to the others; any axes. The max is found again in
        the saved int8 input. Assigned or added per element, as the C's reduce_max_bwd."""
        if not s.ins:
            return
        p = self.params[s.op]
        red = tuple(a for a in range(4) if (p.axis_mask >> a) & 1)
        kept = tuple(1 if a in red else d for a, d in enumerate(p.in_dims))
        x = vals[self.plan.captures[s.x_saved].tensor].reshape(p.in_dims)
        hit = x == x.max(axis=red, keepdims=True)          # (no axes: every input is its own max)
        n = hit.sum(axis=red, keepdims=True)
        v = (g.reshape(kept) / n.astype(F)).astype(F)
        self._accum(grads, s.ins[0], s.in_first[0], np.where(hit, v, F(0)).astype(F))

    def _pool_windows(self, s: Step) -> tuple[Any, tuple[int, int, int], np.ndarray, np.ndarray, np.ndarray]:
        """Per output position (oy, ox) and window offset (ky, kx): the input row and column it reads
        and whether that lies inside the input (TFLM counts only those)."""
        p = self.params[s.op]
        _, H, W, C = p["in_shape"]
        _, OH, OW, _ = p["out_shape"]
        ky, kx = np.arange(p["filter_h"]), np.arange(p["filter_w"])
        iy = (np.arange(OH) * p["stride_h"] - p["pad_top"])[:, None, None, None] + ky[None, None, :, None]
        ix = (np.arange(OW) * p["stride_w"] - p["pad_left"])[None, :, None, None] + kx[None, None, None, :]
        iy, ix = np.broadcast_arrays(iy, ix)
        ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
        return p, (H, W, C), iy, ix, ok

    def _pool_dx(self, s: Step, grads: dict, shape: tuple[int, int, int]) -> np.ndarray:
        return np.zeros(shape, F) if s.in_first[0] else grads[s.ins[0]].reshape(shape)

    def _maxpool(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """Each output's gradient goes to the first maximum of its window (row-major scan, as TF's
        MaxPoolGrad), found again in the saved int8 input; added in output order (oy, ox, c)."""
        if not s.ins:
            return
        p, (H, W, C), iy, ix, ok = self._pool_windows(s)
        x = vals[self.plan.captures[s.x_saved].tensor].reshape(H, W, C).astype(np.int16)
        win = np.where(ok[..., None], x[np.clip(iy, 0, H - 1), np.clip(ix, 0, W - 1)], np.int16(-129))
        OH, OW = iy.shape[:2]
        k = np.argmax(win.reshape(OH, OW, -1, C), axis=2)              # first maximum
        ry = np.take_along_axis(iy.reshape(OH, OW, -1), k, axis=2)
        rx = np.take_along_axis(ix.reshape(OH, OW, -1), k, axis=2)
        dx = self._pool_dx(s, grads, (H, W, C))
        cc = np.broadcast_to(np.arange(C), (OH, OW, C))
        np.add.at(dx, (ry.reshape(-1), rx.reshape(-1), cc.reshape(-1)), g.reshape(-1).astype(F))
        grads[s.ins[0]] = dx.reshape(self.g.tensors[s.ins[0]].shape)

    def _avgpool(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """Each output's gradient / the count of its in-image window positions to each of them, added
        in the order (oy, ox, ky, kx, c) the C loops use."""
        if not s.ins:
            return
        p, (H, W, C), iy, ix, ok = self._pool_windows(s)
        OH, OW = iy.shape[:2]
        cnt = ok.reshape(OH, OW, -1).sum(axis=2)
        v = (g.reshape(OH, OW, C) / cnt[..., None].astype(F)).astype(F)
        dx = self._pool_dx(s, grads, (H, W, C))
        sel = np.broadcast_to(ok[..., None], (*ok.shape, C))
        vals5 = np.broadcast_to(v[:, :, None, None, :], sel.shape)
        yy = np.broadcast_to(iy[..., None], sel.shape)
        xx = np.broadcast_to(ix[..., None], sel.shape)
        cc = np.broadcast_to(np.arange(C), sel.shape)
        np.add.at(dx, (yy[sel], xx[sel], cc[sel]), vals5[sel])
        grads[s.ins[0]] = dx.reshape(self.g.tensors[s.ins[0]].shape)

    def _transpose(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """The output gradient moved back by the inverse permutation (assigned or added per element)."""
        if s.ins:
            p = self.params[s.op]
            back = np.transpose(g.reshape(p.out_shape), np.argsort(p.perm))
            self._accum(grads, s.ins[0], s.in_first[0], back)

    def _pad(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """The output gradient without the padded rows and columns (assigned or added per element)."""
        if s.ins:
            p = self.params[s.op]
            _, h, w, _ = p.in_shape
            b = p.before
            inner = g.reshape(p.out_shape)[:, b[1]:b[1] + h, b[2]:b[2] + w, :]
            self._accum(grads, s.ins[0], s.in_first[0], inner)

    def _concat(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """Each input's slice of the output gradient along the axis (input 0 first, as the C)."""
        p = self.params[s.op]
        parts = np.split(g.reshape(p.out_shape), np.cumsum(p.sizes)[:-1], axis=p.axis)
        for slot, part in zip(input_slots(self.g, s), parts):
            if slot is not None:
                self._accum(grads, slot[0], slot[1], part)

    def _add(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        if self.params[s.op].broadcasts:
            self._binary(s, g, vals, grads)
            return
        for t, first in zip(s.ins, s.in_first):
            self._accum(grads, t, first, g)

    def _binary(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """Each input's gradient, per output element: the output's (add), negated for input 1 (sub),
        times the other input's real value (mul), where this input was the one chosen (max: x0 >= x1
        picks input 0, min: x0 <= x1, TF's rule for ties), times 1 or alpha by the sign of x (prelu,
        input 0 only). Summed over the positions the input was broadcast to; zeroed when it is the
        first contribution, then added in output order, input 0 first (as the C's binary_bwd)."""
        p = self.params[s.op]
        d = p.dims                       # 4-D dims of input 0, input 1 and the output (broadcast layout)
        n = [int(np.prod(x)) for x in d]
        pos = [np.broadcast_to(np.arange(n[k]).reshape(d[k]), d[2]).reshape(-1) for k in (0, 1)]
        op = self.g.ops[s.op]
        real = [self.real(t, vals).reshape(-1)[pos[k]] if s.kind in VALUE_KINDS and (
            self.g.tensors[t].is_const or t in vals) else None for k, t in enumerate(op.inputs[:2])]
        for k, slot in enumerate(input_slots(self.g, s)):
            if slot is None:
                continue
            t, first = slot
            v = g.reshape(-1).astype(F)
            if s.kind == "sub" and k == 1:
                v = -v
            elif s.kind == "mul":
                v = (v * real[1 - k]).astype(F)
            elif s.kind in ("max", "min"):
                pick0 = real[0] >= real[1] if s.kind == "max" else real[0] <= real[1]
                v = np.where(pick0 if k == 0 else ~pick0, v, F(0)).astype(F)
            elif s.kind == "prelu":
                v = np.where(real[0] >= F(0), v, (v * real[1]).astype(F)).astype(F)
            dx = np.zeros(n[k], F) if first else grads[t].reshape(-1).copy()
            np.add.at(dx, pos[k], v)
            grads[t] = dx.reshape(self.g.tensors[t].shape)

    _sub = _mul = _max = _min = _prelu = _binary

    def _resize(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """RESIZE_NEAREST_NEIGHBOR: each output position's gradient is added to the input position it
        copied, in output order (zeroed first when it is the first contribution), as the C's resize_bwd."""
        if not s.ins:
            return
        p = self.params[s.op]
        rows, cols = resize_sources(p)
        _, ih, iw, c = p.in_shape
        t, first = s.ins[0], s.in_first[0]
        src = (rows[:, None] * iw + cols[None, :]).reshape(-1)          # per output position, row-major
        dx = np.zeros((ih * iw, c), F) if first else grads[t].reshape(ih * iw, c).copy()
        np.add.at(dx, src, g.reshape(-1, c).astype(F))
        grads[t] = dx.reshape(self.g.tensors[t].shape)

    def _bilinear(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """RESIZE_BILINEAR: each output position's gradient goes to its four source pixels, corners in
        the order (y0, x0), (y0, x1), (y1, x0), (y1, x1), times (g * wy) * wx with the int8 kernel's
        weights (bilinear_sources); added in output order (zeroed first when it is the first
        contribution), as the C's bilinear_bwd."""
        if not s.ins:
            return
        p = self.params[s.op]
        (ry, wy), (rx, wx) = bilinear_sources(p)
        _, ih, iw, c = p.in_shape
        _, oh, ow, _ = p.out_shape
        ky, kx = [0, 0, 1, 1], [0, 1, 0, 1]
        dst = ry[:, None, ky] * iw + rx[None, :, kx]                               # [oh, ow, 4]
        v = (g.reshape(oh, ow, 1, c).astype(F) * wy[:, None, ky, None]).astype(F) * wx[None, :, kx, None]
        t, first = s.ins[0], s.in_first[0]
        dx = np.zeros((ih * iw, c), F) if first else grads[t].reshape(ih * iw, c).copy()
        np.add.at(dx, dst.reshape(-1), v.astype(F).reshape(-1, c))
        grads[t] = dx.reshape(self.g.tensors[t].shape)

    def real(self, t: int, vals: dict) -> np.ndarray:
        """The real values of an int8 activation or constant tensor (real_values)."""
        tt = self.g.tensors[t]
        return real_values(tt, tt.data if tt.is_const else vals[t])

    def _logistic(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """sigmoid' = y (1 - y), read off the int8 output y (straight-through, as TF's sigmoid
        gradient is taken at its output)."""
        if s.ins:
            y = self.real(s.out, vals).reshape(-1)
            self._accum(grads, s.ins[0], s.in_first[0], (g * (y * (F(1) - y)).astype(F)).astype(F))

    def _leaky(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """LEAKY_RELU: slope 1 where the saved int8 input is above its zero point (x > 0, as TF), else alpha."""
        if s.ins:
            t = self.g.tensors[s.ins[0]]
            pos = vals[s.ins[0]].reshape(-1).astype(np.int32) > t.quant.zp()
            alpha = F(self.g.ops[s.op].attrs.get("alpha", 0.2))
            self._accum(grads, s.ins[0], s.in_first[0], np.where(pos, g, (g * alpha).astype(F)).astype(F))

    def _dtable(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """An element-wise op's derivative at each int8 input, looked up in its 256-float table
        (OpDef.derivative: GELU's gelu'(x) at the input's real value)."""
        if s.ins:
            op = self.g.ops[s.op]
            d = opdef(op).derivative(self.params[s.op])
            x = vals[s.ins[0]].reshape(-1).astype(np.int64) + 128
            self._accum(grads, s.ins[0], s.in_first[0], (g * d[x]).astype(F))

    def _tanh(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        """tanh' = 1 - y^2, read off the int8 output y."""
        if s.ins:
            y = self.real(s.out, vals).reshape(-1)
            self._accum(grads, s.ins[0], s.in_first[0], (g * (F(1) - (y * y).astype(F))).astype(F))

    def _copy(self, s: Step, g: np.ndarray, vals: dict, grads: dict) -> None:
        if s.ins:
            self._accum(grads, s.ins[0], s.in_first[0], g)


def real_values(t: Any, q: np.ndarray) -> np.ndarray:
    """float32 s (q - zp) of int8 values q of tensor t: the runtime's formula (its saved copies, and
    the constant tables the firmware gets)."""
    return (F(t.quant.s()) * (np.asarray(q).astype(np.int32) - t.quant.zp()).astype(F)).astype(F)


def _valid(O: int, I: int, stride: int, off: int) -> tuple[int, int, int] | None:
    """Output positions o in [o0, o1) with 0 <= o*stride + off < I, and the first input index."""
    o0 = max(0, -(-(-off) // stride)) if off < 0 else 0
    o1 = min(O, (I - 1 - off) // stride + 1) if I - 1 - off >= 0 else 0
    if o1 <= o0:
        return None
    return o0, o1, o0 * stride + off


def layer_scales(g, op_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel: float32 s_w[c] and float32(double(s_x) * double(s_w[c]))."""
    op = g.ops[op_index]
    oc = g.tensors[op.outputs[0]].shape[-1]
    f = g.tensors[op.inputs[1]]
    sw = np.asarray(f.quant.scale, dtype=np.float32).reshape(-1)
    if sw.size == 1:
        sw = np.repeat(sw, oc)
    sx = float(g.tensors[op.inputs[0]].quant.s())
    bs = np.array([sx * float(v) for v in sw], dtype=np.float64).astype(F)
    return sw.astype(F), bs
