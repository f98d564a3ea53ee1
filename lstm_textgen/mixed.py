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
Everything else stays float32: the state, the gates' nonlinearities, the residuals and the logits. The step
is compiled by TorchScript, which runs its 60-odd small operations without Python's overhead.

The first layer's input is a word's embedding, so its share of that layer's product is a function of the word
alone: it is computed once for the whole vocabulary, in float32, and a step looks its rows up. The first
layer's product then covers its state only (half the arithmetic for the bundled model, whose embedding is as
wide as the state), at the cost of a [V, 4H] table: 18.6 MB for the bundled model (bench/results/speed.md).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import amd_cpu
from .model import HeadlineModel, LSTMNet, LSTMState, StepFn
from .products import onednn_may_use


def native_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run in hardware on ``device`` (a CPU with AVX512-BF16 or AMX, or a GPU
    that has them); elsewhere they are emulated, and a bfloat16 step would not pay off. Not on a CPU whose
    kernels are held to AVX2 or older (``ATEN_CPU_CAPABILITY=avx2``, as bench/speed.py's runs for a CPU without
    AVX-512 do)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2"):
            return False
        return _torch_cpu_has("_is_avx512_bf16_supported") or _torch_cpu_has("_is_amx_tile_supported")
    return False


# oneDNN's instruction sets (ONEDNN_MAX_CPU_ISA's names) with its bfloat16 instructions
BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10")


def bfloat16_training(device: torch.device) -> bool:
    """Whether training on a CPU autocasts to bfloat16: where that was measured faster than float32, and
    ONEDNN_MAX_CPU_ISA, which oneDNN reads, does not hold it below bfloat16 (it would be emulated). With AMX
    tiles (:func:`amx_tiles`; Intel Xeon): 1.36-1.84x float32. With AVX512-BF16 alone it depends on the
    float32 it replaces: 1.29-1.66x on an AMD EPYC (Zen 4), but 0.58-0.69x on an Intel Xeon with oneDNN held
    below AMX, whose float32 (MKL's) trained 8,400 tok/s against the AMD CPU's 5,400: an Intel CPU without AMX
    (Cooper Lake, or a virtual machine whose hypervisor hides AMX) trains in float32 (bench/results/speed.md,
    "ninth session", "eleventh session")."""
    if device.type != "cpu" or not native_bfloat16(device) or not onednn_may_use(*BF16_ISAS):
        return False
    return amx_tiles() or amd_cpu()


# oneDNN's instruction sets (ONEDNN_MAX_CPU_ISA's names, as prefixes) with AMX tiles
AMX_ISAS = ("AVX512_CORE_AMX", "AVX10_1_512_AMX", "AVX10_2_512_AMX")


def amx_tiles() -> bool:
    """Whether this CPU has AMX tiles and ONEDNN_MAX_CPU_ISA lets oneDNN's bfloat16 products use them."""
    return _torch_cpu_has("_is_amx_tile_supported") and onednn_may_use(*AMX_ISAS)


def _torch_cpu_has(probe: str) -> bool:
    """torch.cpu's own check of an instruction set, by name (False where this torch has no such check)."""
    return getattr(torch.cpu, probe, lambda: False)()


INT8_ENGINES = ("x86", "fbgemm")  # quantized engines with per-row int8 weights for dynamic linear products


def int8_available() -> bool:
    """Whether this PyTorch build runs int8 dynamic products on this CPU (x86's fbgemm kernels)."""
    return torch.backends.quantized.engine in INT8_ENGINES


def stepper(model: HeadlineModel, dtype: torch.dtype = torch.float32) -> StepFn:
    """The generation step with its products in ``dtype`` (float32, bfloat16, or torch.qint8 for int8), bound
    to the weights as they are now: call it once a request, then every step (the packed weights and the
    compiled step are built once, not at every step). The tutorial's model, and a model in training mode, step
    with ``model.step``."""
    net = model.net
    if not isinstance(net, LSTMNet) or model.training:
        return model.step
    if dtype == torch.qint8 and (model.device.type != "cpu" or not int8_available()):
        raise ValueError("int8 products run on x86 CPUs only (fbgemm); use float32 or bfloat16 here")
    return _cached_step(net, dtype, model.step_cache)


class _Product(nn.Module):
    """x [B, in] times a packed float32 or bfloat16 weight [in, out] plus its bias, in float32 out."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.w.dtype == torch.float32:
            return torch.addmm(self.b, x, self.w)
        return torch.mm(x.to(self.w.dtype), self.w).float().add_(self.b)


class _Int8Product(nn.Module):
    """x [B, in] times an int8 weight with its bias, packed by fbgemm (:func:`_pack_int8`), in float32 out."""

    def __init__(self, packed: Any) -> None:
        super().__init__()
        self.packed = packed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 7-bit inputs (reduce_range): safe on CPUs without VNNI; the bias is packed in
        return torch.ops.quantized.linear_dynamic(x, self.packed, True)


class _Step(nn.Module):
    """:meth:`LSTMNet.step` with one product a layer (both of its matrices at once, from :func:`_cached_step`; the
    first layer's over its state only, its input's share looked up in ``table``) and float32 everywhere else,
    written for TorchScript (:func:`_script`)."""

    def __init__(self, net: LSTMNet, table: torch.Tensor, layers: list[nn.Module], decoder: list[nn.Module]) -> None:
        super().__init__()
        self.table = table
        self.layers, self.decoder = nn.ModuleList(layers), nn.ModuleList(decoder)
        self.hidden, self.residual = net.cfg.hidden_dim, net.cfg.residual

    def forward(self, tokens: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        x = tokens  # the first layer reads its input from the table; x is each later layer's input
        new_state: LSTMState = []
        for i, layer in enumerate(self.layers):
            h, c = state[i][0][0], state[i][1][0]
            gates = layer(h).add_(F.embedding(tokens, self.table)) if i == 0 else layer(torch.cat([x, h], dim=1))
            # one sigmoid for all four gates: the g rows are stored doubled, and tanh(g) = 2 sigmoid(2g) - 1
            gates = gates.sigmoid_()  # [B, 4H], gates i f o g
            in_, forget, out, g2 = gates.view(-1, 4, self.hidden).unbind(1)
            c = torch.addcmul(forget * c, in_, g2, value=2).sub_(in_)  # f c + i (2 sigmoid(2g) - 1)
            h = out * torch.tanh(c)
            x = h + x if self.residual and i > 0 else h
            new_state.append((h.unsqueeze(0), c.unsqueeze(0)))
        for product in self.decoder:  # the projection (if any), then the vocabulary
            x = product(x)
        return x, new_state


def _script(step: _Step) -> StepFn:
    """``step`` compiled by TorchScript, or itself where this PyTorch cannot.

    A step is some 60 small operations on [10, 1024] or smaller: their Python overhead is a large share of
    its time, and TorchScript's interpreter runs them without it (bench/results/speed.md). It is deprecated
    in favour of ``torch.compile``, which took 31 s to compile the step and then ran it slower.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated; the pinned PyTorch has it
            return torch.jit.script(step)
    except Exception:  # a PyTorch without TorchScript: the same module, eagerly
        return step


def _pack_int8(rows: torch.Tensor, b: torch.Tensor) -> Any:
    """A weight as rows [out, in] and its bias b, packed for fbgemm: int8, one scale an output."""
    rows = rows.float().contiguous()
    scale = (rows.abs().amax(dim=1) / 127).clamp_(min=1e-12).double()
    zero = torch.zeros(rows.size(0), dtype=torch.long)
    with warnings.catch_warnings():  # torch 2.13 marks quantized tensors deprecated; the pinned version has them
        warnings.simplefilter("ignore", UserWarning)
        qrows = torch.quantize_per_channel(rows, scale, zero, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(qrows, b.float())


def _cached_step(net: LSTMNet, dtype: torch.dtype, cache: dict[str, Any]) -> StepFn:
    """The compiled step over the weights as it reads them: each later layer's two matrices as one [in + H, 4H]
    matrix in ``dtype`` (gates reordered to i f o g, the g rows doubled) and its two biases summed; the first
    layer's state matrix alone, and its input's share (input matrix and both biases) for every word in a float32
    table [V, 4H]; the decoder's transposed. For int8, each (matrix, bias) is fbgemm's packed form instead.

    Kept in ``cache`` (the model's ``step_cache``) until a parameter changes: the key holds each one's storage
    and in-place version counter, so training, ``load_state_dict`` or ``.to()`` rebuild it. The table is the
    same for every precision, so the steps share it."""
    key = tuple((t.data_ptr(), t._version) for t in net.parameters())
    cached = cache.get(str(dtype))
    if cached is not None and cached[0] == key:  # every request: only this check, nothing rebuilt
        return cached[1]
    lstm = [(layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0) for layer in net.layers]
    if net.cfg.tie_weights:
        linears = [] if net.proj is None else [(net.proj.weight, net.proj.bias)]
        linears.append((net.embedding.weight, net.decoder_bias))
    else:
        linears = [(net.decoder.weight, net.decoder.bias)]
    hid = net.cfg.hidden_dim
    order = torch.cat([torch.arange(0, 2 * hid), torch.arange(3 * hid, 4 * hid), torch.arange(2 * hid, 3 * hid)])
    scale = lstm[0][0].new_ones(4 * hid, 1)
    scale[3 * hid :] = 2  # exact in every dtype: int8 keeps its levels, with a doubled scale a row
    with torch.no_grad():  # as rows [out, in] first: fbgemm packs rows, the other products read columns
        first_ih, first_hh, first_b_ih, first_b_hh = lstm[0]
        table = cache.get("table")
        if table is None or table[0] != key:
            rows = F.linear(net.embedding.weight.float(), first_ih.float(), (first_b_ih + first_b_hh).float())
            table = (key, (rows[:, order] * scale[:, 0].float()).contiguous())  # [V, 4H]
            cache["table"] = table
        layers = [(first_hh[order] * scale, torch.zeros(4 * hid, device=first_hh.device))]  # its bias is in the table
        layers += [
            (torch.cat([w_ih, w_hh], dim=1)[order] * scale, ((b_ih + b_hh)[order] * scale[:, 0]).float())
            for w_ih, w_hh, b_ih, b_hh in lstm[1:]
        ]
        decoder = [(w, b.float()) for w, b in linears]
        if dtype == torch.qint8:
            products = [[_Int8Product(_pack_int8(w, b)) for w, b in group] for group in (layers, decoder)]
        else:
            products = [[_Product(w.t().contiguous().to(dtype), b) for w, b in group] for group in (layers, decoder)]
        step = _script(_Step(net, table[1], *products))
    cache[str(dtype)] = (key, step)
    return step
