"""The measurements behind the explanations in bench/results/speed.md, in one run.

    python bench/speed_probes.py [--checkpoint checkpoints/nyt-headlines]

1. Memory-bound steps: ten [10, 256] x [256, 1024] products on one weight matrix vs ten different ones;
   a whole generation step vs its parts timed alone.
2. The generation step with bfloat16 products (the default where the CPU has them) vs float32.
3. The sampler: the nucleus by rejection (``_sample``) vs sorting every row (``_nucleus_mask``).
4. The app's default request in-process (``app.api_generate``), and the latency floor of gradio_client:
   a bare endpoint that only sleeps 0-60 ms, through the same client and queue as the app.
5. Training's loss: the decoder and cross-entropy forward and backward on a batch's worth of positions,
   through [T, B, V] logits (``next_token_nll``) vs fused without them (``decoder_nll``), in turns.
6. Training's floor: one training step of ours (160 headlines x 9 positions) and one of the reference loop
   (32 x 35) against the matrix products alone that a step must make (forward and backward, the same for
   both), in turns, per predicted token: how much any faster loop could still gain at equal arithmetic.
7. Float32 products, MKL (PyTorch's default) against oneDNN, at training's shapes: GFLOP/s (products.py).
8. With ``--epoch-rounds N`` (minutes): one training epoch of the real data with training's products all through
   oneDNN, the decoder's only, and none (MKL), in turns, then the reference loop on as many tokens; N rounds.
9. With ``--precision-rounds N`` (minutes): one training epoch in float32 and one under bfloat16 autocast, in
   turns, after a first round of each (every batch shape new) kept apart: does bfloat16 pay here? Measured
   wherever the CPU has bfloat16 instructions, whatever ``mixed.bfloat16_training`` (which decides it by the
   CPU's instructions and vendor) chose. ``--epochs-only`` skips parts 1-7.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch
import torch.nn.functional as F
from speed import ReferenceModel, free_port, interleaved_medians, median_time, reference_step

import lstm_textgen as lt
from lstm_textgen import sampling
from lstm_textgen.mixed import stepper


def ms(fn, repeats: int = 200) -> float:
    """Median milliseconds a call, after a warm-up call."""
    return median_time(fn, repeats) * 1e3


def memory_bound(model: lt.HeadlineModel) -> None:
    x = torch.randn(10, 256)
    weights = [torch.randn(1024, 256) for _ in range(10)]
    same = ms(lambda: [x @ weights[0].t() for _ in range(10)])
    different = ms(lambda: [x @ w.t() for w in weights])
    print(
        f"ten [10,256]x[256,1024] products: one weight {same:.2f} ms, ten weights {different:.2f} ms "
        f"({different / same:.1f}x)"
    )
    net, tok = model.net, torch.zeros(10, dtype=torch.long)
    state = model.initial_state(10)
    layer = net.layers[1]
    with torch.inference_mode():
        step = ms(lambda: net.step(tok, state))
        cell = ms(
            lambda: torch.lstm_cell(
                x, (x, x), layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
            )
        )
        decode = ms(lambda: F.linear(*net._decoder_input(x)))
    mb = sum(p.numel() for p in net.parameters() if p.dim() == 2) * 4 / 1e6
    print(
        f"a step (batch 10): {step:.2f} ms; its parts alone: {len(net.layers)} x lstm_cell {cell:.2f} ms + decoder "
        f"{decode:.2f} ms = {len(net.layers) * cell + decode:.2f} ms; float32 weight matrices {mb:.1f} MB"
    )


def bfloat16_step(model: lt.HeadlineModel) -> None:
    """The generation step with float32 products vs the bfloat16 ones "auto" uses on CPUs that have them."""
    tok = torch.zeros(10, dtype=torch.long)
    with torch.inference_mode():
        state = model.initial_state(10)
        exact, mixed = stepper(model, torch.float32), stepper(model, torch.bfloat16)
        f32 = ms(lambda: exact(tok, state))
        b16 = ms(lambda: mixed(tok, state))
        p, q = (torch.softmax(step(tok, state)[0], -1) for step in (exact, mixed))
    rel = ((q - p).abs() / p)[p > 1e-3].max().item()
    print(
        f"generation step: float32 {f32:.2f} ms, bfloat16 products {b16:.2f} ms ({f32 / b16:.2f}x); largest relative "
        f"change of a probability > 0.001: {rel:.1%}"
    )
    try:
        torch.mm(
            torch.ones(2, 2, dtype=torch.bfloat16), torch.ones(2, 2, dtype=torch.bfloat16), out_dtype=torch.float32
        )
        print("bfloat16 x bfloat16 -> float32 products are available on this CPU")
    except (NotImplementedError, RuntimeError, TypeError):
        print(
            "bfloat16 x bfloat16 -> float32 products (aten::mm.dtype) are not implemented on this CPU: "
            "the step's products return bfloat16, rounded before they are turned back into float32"
        )


def sampler(model: lt.HeadlineModel) -> None:
    scores = torch.randn(10, len(model.vocab)) * 3
    gen = torch.Generator().manual_seed(0)

    def sorted_nucleus():
        p = torch.softmax(scores, -1)
        return sampling._inverse_cdf(p * sampling._nucleus_mask(p, 0.95), gen)

    rejection = ms(lambda: sampling.sample(scores, 0, 0.95, gen), 1000)
    sort = ms(sorted_nucleus, 1000)
    reference = ms(lambda: sampling.sample_reference(scores, 0, 0.95, gen), 1000)
    print(
        f"sampler [10, {scores.size(1)}], top-p 0.95: rejection {rejection:.2f} ms, sorting {sort:.2f} ms, "
        f"the plain reference (sort + multinomial) {reference:.2f} ms"
    )


def api(model: lt.HeadlineModel) -> None:
    import gradio as gr
    from gradio_client import Client

    import app

    d = app.DEFAULTS  # in /generate's order: prompt, words, temperature, headlines, top-k, top-p, seed
    values = (d["max_words"], d["temperature"], d["num"], 0, d["top_p"])
    lat = sorted(ms(lambda i=i: list(app.api_generate(model, "new york", *values, i)), 1) for i in range(40))
    print(f"app.api_generate, defaults (5 x <= 15 words), in-process: p50 {lat[20]:.0f} ms, p95 {lat[37]:.0f} ms")

    def sleep(milliseconds: float) -> str:
        time.sleep(milliseconds / 1000)
        return "x"

    with gr.Blocks() as demo:
        gr.api(sleep, api_name="sleep")
    demo.queue()
    _, url, _ = demo.launch(server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        row = []
        for milliseconds in (0, 10, 20, 30, 40, 60):
            lat = sorted(ms(lambda m=milliseconds: client.predict(m, api_name="/sleep"), 1) for _ in range(15))
            row.append(f"{milliseconds} ms -> {lat[7]:.0f}")
        print("gradio_client p50 for a bare endpoint sleeping: " + ", ".join(row))
    finally:
        with contextlib.redirect_stdout(sys.stderr):
            demo.close()


def training_loss(model: lt.HeadlineModel, repeats: int = 15) -> None:
    """The decoder and the loss at one training step's size (160 headlines x 9 positions, a few padded),
    forward and backward: the logits and their cross-entropy vs ``decoder_nll``, timed in turns."""
    from lstm_textgen.model import decoder_nll, next_token_nll

    torch.manual_seed(0)
    v, d = model.config.vocab_size, model.config.emb_dim
    weight = torch.nn.Parameter(model.net.embedding.weight.detach().clone())
    bias = torch.nn.Parameter(torch.zeros(v))
    x0 = torch.randn(9, 160, d)
    targets = torch.randint(4, v, (160, 9))
    targets[:7, 5:] = 0  # padding

    def run(fused: bool) -> None:
        x = x0.clone().requires_grad_()
        weight.grad = bias.grad = None
        if fused:
            decoder_nll(x, weight, bias, targets).backward()
        else:
            next_token_nll(F.linear(x, weight, bias), targets).backward()

    t = interleaved_medians({"logits": lambda: run(False), "fused": lambda: run(True)}, repeats)
    print(
        f"training loss, [9 x 160 x {d}] -> {v} words, forward + backward: through the logits "
        f"{t['logits'] * 1e3:.1f} ms, fused {t['fused'] * 1e3:.1f} ms ({t['logits'] / t['fused']:.2f}x)"
    )


def step_products(t: int, b: int, layers: int, d: int, v: int) -> Callable[[], None]:
    """The matrix products of one training step of a ``layers`` x ``d`` LSTM (inputs as wide as its state)
    with a ``v``-word decoder over [t, b] positions, forward and backward, into buffers made once: the
    arithmetic every loop on this model must do (22.7 MFLOP a position at 5 x 256 and 4,535 words)."""
    n, g = t * b, 4 * d
    x, gates, w = torch.randn(n, d), torch.randn(n, g), torch.randn(g, d)
    h, hg = torch.randn(b, d), torch.randn(b, g)
    dec, logits = torch.randn(v, d), torch.randn(n, v)
    out_g, out_d, out_w = torch.empty(n, g), torch.empty(n, d), torch.empty(g, d)
    out_hg, out_h, out_l, out_dec = torch.empty(b, g), torch.empty(b, d), torch.empty(n, v), torch.empty(v, d)

    def run() -> None:
        for _ in range(layers):
            torch.mm(x, w.t(), out=out_g)  # forward: the inputs' share of the gates, all positions at once
            torch.mm(gates.t(), x, out=out_w)  # backward: the input weights' gradient
            torch.mm(gates.t(), x, out=out_w)  # and the recurrent weights'
            torch.mm(gates, w, out=out_d)  # and the inputs' gradient
            for _ in range(t):
                torch.mm(h, w.t(), out=out_hg)  # forward: the state's share, a step at a time
                torch.mm(hg, w, out=out_h)  # backward: the state's gradient
        torch.mm(x, dec.t(), out=out_l)  # the decoder forward,
        torch.mm(logits, dec, out=out_d)  # its inputs' gradient
        torch.mm(logits.t(), x, out=out_dec)  # and its weight's

    return run


def training_floor(model: lt.HeadlineModel, repeats: int = 15) -> None:
    """A training step of ours and of the reference loop, each against its own shape's products alone, in
    turns; microseconds a predicted token. What a loop costs over its products is all that any change to
    the loop (rather than to the arithmetic) can still win."""
    from lstm_textgen.train import TrainConfig, _clip_gradients, _make_optimizer

    torch.manual_seed(0)
    cfg = model.config
    layers, d, v = cfg.num_layers, cfg.hidden_dim, cfg.vocab_size
    net = lt.HeadlineModel(cfg).net.train()
    opt = _make_optimizer(net, TrainConfig())
    params = list(net.parameters())
    tokens = torch.randint(4, v, (160, 10))  # 160 headlines of 9 predicted positions, the default batch

    def ours() -> None:
        loss, _ = net(tokens[:, :-1], targets=tokens[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _clip_gradients(params, 0.5)
        opt.step()

    ref = ReferenceModel(v, cfg.emb_dim, d, layers, 0.2).train()
    stream = torch.randint(4, v, (36, 32))  # the example's 35-step chunks of 32 columns

    def reference() -> None:
        reference_step(ref, torch.nn.CrossEntropyLoss(), stream[:-1], stream[1:], None, 20.0, autocast=False)

    fns = {"ours": ours, "ours_products": step_products(9, 160, layers, d, v)}
    fns |= {"reference": reference, "reference_products": step_products(35, 32, layers, d, v)}
    t = interleaved_medians(fns, repeats)
    us = {k: s * 1e6 / (9 * 160 if k.startswith("ours") else 35 * 32) for k, s in t.items()}
    flop = 2 * 3 * (layers * 4 * d * 2 * d + d * v)  # multiply-adds x 2, forward and two backward products
    print(
        f"training step, float32, us a predicted token ({flop / 1e6:.1f} MFLOP each): ours (160 x 9) "
        f"{us['ours']:.0f} against its products alone {us['ours_products']:.0f} "
        f"({us['ours'] / us['ours_products']:.2f}x, {flop / us['ours_products'] / 1e3:.0f} GFLOP/s); the reference "
        f"(32 x 35) {us['reference']:.0f} against {us['reference_products']:.0f} "
        f"({us['reference'] / us['reference_products']:.2f}x); ours vs the reference "
        f"{us['reference'] / us['ours']:.2f}x, at most {us['reference'] / us['ours_products']:.2f}x with nothing "
        "but the products left"
    )


def _kernel_pairs(x: torch.Tensor, w: torch.Tensor, g: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    from lstm_textgen.products import _onednn_linear

    return {
        "x W^T mkl": lambda: F.linear(x, w),
        "x W^T onednn": lambda: _onednn_linear(x, w, None),
        "g W mkl": lambda: torch.mm(g, w),
        "g W onednn": lambda: _onednn_linear(g, w.t(), None),
        "g^T x mkl": lambda: torch.mm(g.t(), x),
        "g^T x onednn": lambda: _onednn_linear(g.t(), x.t(), None),
    }


def product_kernels(repeats: int = 200) -> None:
    """x [m, k] times W [n, k] transposed, and the backward's g @ W and g^T x, through MKL (F.linear, torch.mm)
    and through oneDNN (products.linear), in turns: GFLOP/s."""
    from lstm_textgen import products

    if not products.onednn():
        print("float32 products through oneDNN: not available in this PyTorch")
        return
    torch.manual_seed(0)
    rows = []
    for m, k, n, what in (
        (160, 256, 1024, "a recurrent step"),
        (1440, 256, 1024, "a layer's inputs"),
        (512, 256, 4535, "a chunk of the decoder"),
        (32, 256, 1024, "the reference's step"),
    ):
        t = interleaved_medians(_kernel_pairs(torch.randn(m, k), torch.randn(n, k), torch.randn(m, n)), repeats)
        gflops = {name: 2 * m * k * n / s / 1e9 for name, s in t.items()}
        kinds = ("x W^T", "g W", "g^T x")
        pairs = ", ".join(f"{p} {gflops[f'{p} mkl']:.0f} / {gflops[f'{p} onednn']:.0f}" for p in kinds)
        rows.append(f"  {m} x {k} x {n} ({what}): {pairs}")
    print("float32 products, GFLOP/s, MKL / oneDNN:\n" + "\n".join(rows))


def training_products(data: str, rounds: int) -> None:
    """One epoch of ours (the default recipe, the bundled model's shape) with training's float32 products all
    through oneDNN, the decoder's only, and all through MKL, in turns; then the reference loop on as many tokens.
    Tokens a second, median of the rounds, and each variant's ratio to the reference."""
    import statistics
    import tempfile

    from speed import one_epoch, reference_tokens_per_s, training_split

    from lstm_textgen import products
    from lstm_textgen.data import encode_all

    tr, va = training_split(data)
    model = lt.load_model(str(ROOT / "checkpoints" / "nyt-headlines"))
    seqs = encode_all(tr, model.vocab)
    if not products.onednn():
        print("training epochs by product kernel: this PyTorch has no oneDNN products")
        return
    # (the LSTM layers', the decoder's) through oneDNN? on any CPU, whatever products.measured_faster() says
    variants = {"oneDNN": (True, True), "decoder oneDNN": (False, True), "MKL": (False, False)}
    avx512, measured = products.onednn_avx512, products.measured_faster
    speeds: dict[str, list[float]] = {name: [] for name in [*variants, "reference"]}
    try:
        with tempfile.TemporaryDirectory() as work:
            for r in range(rounds):
                for name, (lstm, decoder) in variants.items():
                    products.onednn_avx512, products.measured_faster = (lambda v=lstm: v), (lambda v=decoder: v)
                    tcfg = lt.TrainConfig(epochs=1, seed=r, amp=False)
                    row = one_epoch(tr, va, model, tcfg, f"{work}/{r}").metrics["history"][0]
                    speeds[name].append(row["tokens_per_s"])
                tokens = row["tokens_per_s"] * row["seconds"]
                speeds["reference"].append(reference_tokens_per_s(seqs, model.config, 32, max_tokens=tokens, bptt=35))
    finally:
        products.onednn_avx512, products.measured_faster = avx512, measured
    ref = speeds["reference"]
    print(f"training epochs, float32, tok/s, median of {rounds} (ratio to the reference: median, range):")
    for name, v in speeds.items():
        ratios = [a / b for a, b in zip(v, ref)]
        versus = f" ({statistics.median(ratios):.2f}x, {min(ratios):.2f}-{max(ratios):.2f})"
        print(f"  {name}: {statistics.median(v):,.0f}{versus if name != 'reference' else ''}")


def training_precisions(data: str, rounds: int) -> None:
    """One epoch of ours in float32 and one under bfloat16 autocast, in turns, after a first round of each kept
    apart (oneDNN prepares its bfloat16 LSTM for every new batch shape: speed.md, "eighth session"). Tokens a
    second, median of the rounds, and bfloat16's ratio to float32 by round."""
    import importlib
    import statistics
    import tempfile

    from speed import one_epoch, training_split

    from lstm_textgen.mixed import BF16_ISAS, bfloat16_training, native_bfloat16
    from lstm_textgen.products import onednn_may_use

    cpu = torch.device("cpu")
    if not (native_bfloat16(cpu) and onednn_may_use(*BF16_ISAS)):
        print("training epochs by precision: no bfloat16 instructions here (it would be emulated)")
        return
    chosen = bfloat16_training(cpu)
    train_module = importlib.import_module("lstm_textgen.train")
    tr, va = training_split(data)
    model = lt.load_model(str(ROOT / "checkpoints" / "nyt-headlines"))
    speeds: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    train_module.bfloat16_training = lambda device: True  # autocast under amp=True, whatever the rule says
    try:
        with tempfile.TemporaryDirectory() as work:
            for r in range(rounds + 1):
                for name in speeds:
                    tcfg = lt.TrainConfig(epochs=1, seed=r, amp=name == "bfloat16")
                    m = one_epoch(tr, va, model, tcfg, f"{work}/{r}")
                    assert m.metrics["autocast"] == ("bfloat16" if name == "bfloat16" else None), m.metrics
                    speeds[name].append(m.metrics["history"][0]["tokens_per_s"])
    finally:
        train_module.bfloat16_training = bfloat16_training
    first = {name: v.pop(0) for name, v in speeds.items()}
    ratios = [b / f for f, b in zip(speeds["float32"], speeds["bfloat16"])]
    print(
        f"training epochs by precision (training autocasts here by default: {chosen}),"
        f" tok/s, median of {rounds}: float32 {statistics.median(speeds['float32']):,.0f}, bfloat16 "
        f"{statistics.median(speeds['bfloat16']):,.0f}; bfloat16 / float32 {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f}); first round {first['bfloat16'] / first['float32']:.2f}x "
        f"({first['float32']:,.0f} / {first['bfloat16']:,.0f})"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "nyt-headlines"), help="model to time")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nyt"), help="training data for part 8")
    p.add_argument("--epoch-rounds", type=int, default=0, help="rounds of part 8, about a minute each (0: skip it)")
    p.add_argument("--precision-rounds", type=int, default=0, help="rounds of part 9, about 20 s each (0: skip it)")
    p.add_argument("--epochs-only", action="store_true", help="skip parts 1-7 (run only those asked for by rounds)")
    args = p.parse_args(argv)
    if not args.epochs_only:
        model = lt.load_model(args.checkpoint)
        memory_bound(model)
        bfloat16_step(model)
        sampler(model)
        api(model)
        training_loss(model)
        training_floor(model)
        product_kernels()
    if args.epoch_rounds:
        training_products(args.data, args.epoch_rounds)
    if args.precision_rounds:
        training_precisions(args.data, args.precision_rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
