"""One LSTM layer for training on a CPU, forward and backward: the products in PyTorch (through oneDNN or MKL,
products.lstm_linear), the gates in C (kernels.c).

nn.LSTM's oneDNN kernel spends more outside its matrix products than this does: a training step of the default
model ran 1.09x (AVX2 kernels) and 1.10x (AVX-512) as fast with it, in turns (bench/results/speed.md, "seventh
session"). The arithmetic is nn.LSTM's, and so are the parameters (``weight_ih_l0`` ...): checkpoints do not
change. What runs where:

- forward: one product for every position's inputs, then a product a step for the state, each followed by the
  step's gates in C, which keep their activations for backward;
- backward: a step at a time, the state's gradient (one product) and the gates' (C, in place of the
  activations); then the inputs' and the weights' gradients in one product each, over all positions.

Used by :class:`~lstm_textgen.model.LSTMNet` in training (:func:`usable`); nn.LSTM everywhere else: on a GPU,
under autocast, without a C compiler, from a given state, and in evaluation and generation.
"""

from __future__ import annotations

from typing import Any

import torch

from . import kernels
from .products import lstm_addmm_, lstm_linear


def usable(x: torch.Tensor, state: Any) -> bool:
    """Whether :func:`lstm_layer` applies to a layer's input ``x`` [T, B, D]: float32 on a CPU, gradients wanted,
    no autocast, training from a zero state, and the compiled kernels built."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 3
        and state is None
        and torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and kernels.available()
    )


class _Layer(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
    ):
        lib = kernels.library()
        t, b, d = x.shape
        h = w_hh.size(1)
        x = x.contiguous()
        gates = lstm_linear(x.view(t * b, d), w_ih, b_ih + b_hh).view(t, b, 4 * h)
        out, cells, tanh_c = x.new_empty(t, b, h), x.new_empty(t, b, h), x.new_empty(t, b, h)
        zero = x.new_zeros(b, h)
        for s in range(t):
            if s:
                lstm_addmm_(gates[s], out[s - 1], w_hh)
            c_prev = cells[s - 1] if s else zero
            lib.lt_lstm_forward(
                gates[s].data_ptr(), c_prev.data_ptr(), cells[s].data_ptr(), tanh_c[s].data_ptr(),
                out[s].data_ptr(), b, h,
            )  # fmt: skip
        ctx.save_for_backward(x, w_ih, w_hh, gates, out, cells, tanh_c)
        ctx.used = False
        return out, out[t - 1].clone(), cells[t - 1].clone()

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor | None, d_h: torch.Tensor | None, d_c: torch.Tensor | None):
        if ctx.used:  # the activations became gradients in place the first time
            raise RuntimeError("lstm_layer: a second backward through the same layer (retain_graph) is not supported")
        ctx.used = True
        lib = kernels.library()
        x, w_ih, w_hh, gates, out, cells, tanh_c = ctx.saved_tensors
        t, b, d = x.shape
        h = w_hh.size(1)
        d_out = torch.zeros_like(out) if d_out is None else d_out.contiguous()
        dc = x.new_zeros(b, h) if d_c is None else d_c.contiguous().clone()
        dh, zero = x.new_empty(b, h), x.new_zeros(b, h)
        for s in reversed(range(t)):
            dh.copy_(d_out[s])
            if s == t - 1:
                if d_h is not None:
                    dh.add_(d_h)
            else:  # the state's gradient: from the output, and through the next step's gates
                lstm_addmm_(dh, gates[s + 1], w_hh.t())
            c_prev = cells[s - 1] if s else zero
            lib.lt_lstm_backward(
                dh.data_ptr(), dc.data_ptr(), gates[s].data_ptr(), c_prev.data_ptr(), tanh_c[s].data_ptr(), b, h
            )
        d_gates = gates.view(t * b, 4 * h)
        dx = lstm_linear(d_gates, w_ih.t()).view(t, b, d) if ctx.needs_input_grad[0] else None
        dw_ih = torch.mm(d_gates.t(), x.view(t * b, d))
        dw_hh = torch.mm(gates[1:].reshape((t - 1) * b, 4 * h).t(), out[:-1].reshape((t - 1) * b, h))
        db = d_gates.sum(0)
        return dx, dw_ih, dw_hh, db, db.clone()  # two tensors: autograd may keep each as a .grad


def lstm_layer(
    x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One-layer nn.LSTM(x) from a zero state, with its parameters passed in (``w_hh`` may be DropConnect's
    masked copy): (outputs [T, B, H], (h_T [1, B, H], c_T [1, B, H])), as nn.LSTM returns them. See :func:`usable`."""
    out, h, c = _Layer.apply(x, w_ih, w_hh, b_ih, b_hh)
    return out, (h[None], c[None])


__all__ = ["lstm_layer", "usable"]
