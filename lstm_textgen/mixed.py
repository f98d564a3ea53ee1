"""The generation step with its matrix products in bfloat16, for CPUs and GPUs that have bfloat16 instructions.

At a few rows a step is bound by reading the weights; half the bytes and the hardware's bfloat16 products
make it faster (bench/results/speed.md has the figures). Everything else stays float32: the state, the gates'
nonlinearities, the residuals and the logits. The products' outputs are rounded to 8 bits of mantissa, so a
probability moves by about 1% (speed.md measures the effect on perplexity). :meth:`LSTMNet.step` is the same
step in float32, to read first.
"""

from __future__ import annotations

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


def stepper(model: HeadlineModel, dtype: torch.dtype = torch.float32) -> StepFn:
    """``model.step`` with its products in ``dtype``, bound to the weights as they are now: call it once a
    request, then every step (the bfloat16 weights are looked up once, not at every step). The tutorial's
    model, and a model in training mode, always step in float32."""
    net = model.net
    if dtype == torch.float32 or not isinstance(net, LSTMNet) or model.training:
        return model.step
    weights = _weights(net, dtype, model.step_cache)
    return lambda tokens, state: _step(net, tokens, state, dtype, weights)


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
        gates = torch.mm(torch.cat([x, h], dim=1).to(dtype), w).float().add_(b)  # [B, 4H], gates i f o g
        sig = torch.sigmoid(gates[:, : 3 * hid])
        c = torch.addcmul(sig[:, hid : 2 * hid] * c, sig[:, :hid], torch.tanh(gates[:, 3 * hid :]))
        h = sig[:, 2 * hid :] * torch.tanh(c)
        x = h + x if net.cfg.residual and i > 0 else h
        new_state.append((h.unsqueeze(0), c.unsqueeze(0)))
    for w, b in decoder:  # the projection (if any), then the vocabulary
        x = torch.mm(x.to(dtype), w).float().add_(b)
    return x, new_state


def _weights(net: LSTMNet, dtype: torch.dtype, cache: dict[str, Any]) -> tuple[list, list]:
    """The weights as :func:`_step` reads them: each layer's two matrices as one [in + H, 4H] matrix in
    ``dtype`` (gates reordered to i f o g) and its two biases summed; the decoder's transposed.

    Kept in ``cache`` (the model's ``step_cache``) until a parameter changes: the key holds each one's storage
    and in-place version counter, so training, ``load_state_dict`` or ``.to()`` rebuild it."""
    lstm = [(layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0) for layer in net.layers]
    if net.cfg.tie_weights:
        linears = [] if net.proj is None else [(net.proj.weight, net.proj.bias)]
        linears.append((net.embedding.weight, net.decoder_bias))
    else:
        linears = [(net.decoder.weight, net.decoder.bias)]
    key = (dtype, tuple((t.data_ptr(), t._version) for group in lstm + linears for t in group))
    cached = cache.get("mixed")
    if cached is not None and cached[0] == key:
        return cached[1]
    hid = net.cfg.hidden_dim
    order = torch.cat([torch.arange(0, 2 * hid), torch.arange(3 * hid, 4 * hid), torch.arange(2 * hid, 3 * hid)])
    with torch.no_grad():
        layers = [
            (torch.cat([w_ih, w_hh], dim=1)[order].t().contiguous().to(dtype), (b_ih + b_hh)[order].float())
            for w_ih, w_hh, b_ih, b_hh in lstm
        ]
        decoder = [(w.t().contiguous().to(dtype), b.float()) for w, b in linears]
    cache["mixed"] = (key, (layers, decoder))
    return layers, decoder
