"""The generation step with packed weights: each layer's two matrices as one, its products in float32,
bfloat16 or int8.

At a few rows a step is bound by reading the weights and by the number of operations, not by arithmetic:
one product a layer instead of two, and fewer bytes a weight, make it faster (bench/results/speed.md has
the figures).
- bfloat16, for CPUs and GPUs that have bfloat16 instructions: half the bytes. The products' outputs are
  rounded to 8 bits of mantissa, so a probability moves by about 1%.
- int8, for CPUs without bfloat16: a quarter of the bytes. Weights are rounded to 255 levels a row (symmetric,
  one scale an output), inputs to 128 levels a call (dynamic quantization, fbgemm/x86's kernels), so the
  probabilities move by a few percent; speed.md measures the perplexity this costs.
- float32: the same arithmetic as :meth:`LSTMNet.step` (which reads first), summed in another order.
Everything else stays float32: the state, the gates' nonlinearities, the residuals and the logits.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F

from .model import HeadlineModel, LSTMNet, LSTMState, StepFn


def native_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run in hardware on ``device`` (a CPU with AVX512-BF16 or AMX, or a GPU
    that has them); elsewhere they are emulated, and a bfloat16 step would not pay off."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's own checks
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    return False


# the operator's C++ entry itself: no lookup at every call, nor the Python wrapper's checks (about 6 us a call)
_LINEAR_INT8 = getattr(torch.ops.quantized.linear_dynamic.default, "_op", torch.ops.quantized.linear_dynamic.default)
INT8_ENGINES = ("x86", "fbgemm")  # quantized engines with per-row int8 weights for dynamic linear products


def int8_available() -> bool:
    """Whether this PyTorch build runs int8 dynamic products on this CPU (x86's fbgemm kernels)."""
    return torch.backends.quantized.engine in INT8_ENGINES


def stepper(model: HeadlineModel, dtype: torch.dtype = torch.float32) -> StepFn:
    """The generation step with its products in ``dtype`` (float32, bfloat16, or torch.qint8 for int8), bound
    to the weights as they are now: call it once a request, then every step (the packed weights are built
    once, not at every step). The tutorial's model, and a model in training mode, step with ``model.step``."""
    net = model.net
    if not isinstance(net, LSTMNet) or model.training:
        return model.step
    if dtype == torch.qint8 and (model.device.type != "cpu" or not int8_available()):
        raise ValueError("int8 products run on x86 CPUs only (fbgemm); use float32 or bfloat16 here")
    weights = _weights(net, dtype, model.step_cache)
    return lambda tokens, state: _step(net, tokens, state, dtype, weights)


def _product(x: torch.Tensor, w: Any, b: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """x [B, in] times a packed weight (from :func:`_weights`) plus its bias, in float32 out."""
    if dtype == torch.qint8:
        return _LINEAR_INT8(x, w, True)  # 7-bit inputs (reduce_range): safe on CPUs without VNNI; bias packed in
    if dtype == torch.float32:
        return torch.addmm(b, x, w)
    return torch.mm(x.to(dtype), w).float().add_(b)


def _step(
    net: LSTMNet, tokens: torch.Tensor, state: LSTMState, dtype: torch.dtype, weights: tuple
) -> tuple[torch.Tensor, LSTMState]:
    """:meth:`LSTMNet.step` with one ``dtype`` product a layer (both of its matrices at once, from
    :func:`_weights`) and float32 everywhere else."""
    layers, decoder = weights
    x = F.embedding(tokens, net.embedding.weight)
    hid = net.cfg.hidden_dim
    new_state: LSTMState = []
    for i, (w, b) in enumerate(layers):
        h, c = state[i][0][0], state[i][1][0]
        # one sigmoid for all four gates: the g rows are stored doubled, and tanh(g) = 2 sigmoid(2g) - 1
        gates = _product(torch.cat([x, h], dim=1), w, b, dtype).sigmoid_()  # [B, 4H], gates i f o g
        in_, forget, out, g2 = gates.view(-1, 4, hid).unbind(1)
        c = torch.addcmul(forget * c, in_, g2, value=2).sub_(in_)  # f c + i (2 sigmoid(2g) - 1)
        h = out * torch.tanh(c)
        x = h + x if net.cfg.residual and i > 0 else h
        new_state.append((h.unsqueeze(0), c.unsqueeze(0)))
    for w, b in decoder:  # the projection (if any), then the vocabulary
        x = _product(x, w, b, dtype)
    return x, new_state


def _pack_int8(rows: torch.Tensor, b: torch.Tensor) -> Any:
    """A weight as rows [out, in] and its bias b, packed for fbgemm: int8, one scale an output."""
    rows = rows.float().contiguous()
    scale = (rows.abs().amax(dim=1) / 127).clamp_(min=1e-12).double()
    zero = torch.zeros(rows.size(0), dtype=torch.long)
    with warnings.catch_warnings():  # torch 2.13 marks quantized tensors deprecated; the pinned version has them
        warnings.simplefilter("ignore", UserWarning)
        qrows = torch.quantize_per_channel(rows, scale, zero, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(qrows, b.float())


def _weights(net: LSTMNet, dtype: torch.dtype, cache: dict[str, Any]) -> tuple[list, list]:
    """The weights as :func:`_step` reads them: each layer's two matrices as one [in + H, 4H] matrix in
    ``dtype`` (gates reordered to i f o g, the g rows doubled) and its two biases summed; the decoder's
    transposed. For int8, each (matrix, bias) is fbgemm's packed form instead.

    Kept in ``cache`` (the model's ``step_cache``) until a parameter changes: the key holds each one's storage
    and in-place version counter, so training, ``load_state_dict`` or ``.to()`` rebuild it."""
    lstm = [(layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0) for layer in net.layers]
    if net.cfg.tie_weights:
        linears = [] if net.proj is None else [(net.proj.weight, net.proj.bias)]
        linears.append((net.embedding.weight, net.decoder_bias))
    else:
        linears = [(net.decoder.weight, net.decoder.bias)]
    key = (dtype, tuple((t.data_ptr(), t._version) for group in lstm + linears for t in group))
    cached = cache.get(str(dtype))
    if cached is not None and cached[0] == key:
        return cached[1]
    hid = net.cfg.hidden_dim
    order = torch.cat([torch.arange(0, 2 * hid), torch.arange(3 * hid, 4 * hid), torch.arange(2 * hid, 3 * hid)])
    scale = lstm[0][0].new_ones(4 * hid, 1)
    scale[3 * hid :] = 2  # exact in every dtype: int8 keeps its levels, with a doubled scale a row
    with torch.no_grad():  # as rows [out, in] first: fbgemm packs rows, the other products read columns
        layers = [
            (torch.cat([w_ih, w_hh], dim=1)[order] * scale, ((b_ih + b_hh)[order] * scale[:, 0]).float())
            for w_ih, w_hh, b_ih, b_hh in lstm
        ]
        decoder = [(w, b.float()) for w, b in linears]
        if dtype == torch.qint8:
            layers, decoder = ([(_pack_int8(w, b), None) for w, b in group] for group in (layers, decoder))
        else:
            layers, decoder = ([(w.t().contiguous().to(dtype), b) for w, b in group] for group in (layers, decoder))
    cache[str(dtype)] = (key, (layers, decoder))
    return layers, decoder
