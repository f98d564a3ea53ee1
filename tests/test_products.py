"""Training's float32 products through oneDNN (lstm_textgen/products.py): F.linear's values, and the same training
step as with PyTorch's own products."""

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from lstm_textgen import HeadlineModel, ModelConfig, products


@pytest.mark.parametrize("rows, inputs, outputs", [(1, 3, 5), (160, 256, 1024), (7, 33, 4535)])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_it_gives_f_linears_values(rows, inputs, outputs, transposed, bias):
    torch.manual_seed(0)
    x = torch.randn(rows, inputs)
    w = torch.randn(inputs, outputs).t() if transposed else torch.randn(outputs, inputs)  # a view, or rows
    b = torch.randn(outputs) if bias else None
    got, want = products.linear(x, w, b), F.linear(x, w, b)
    assert got.shape == want.shape and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_other_dtypes_and_a_torch_without_onednn_get_f_linear(monkeypatch):
    x, w = torch.randn(4, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    assert torch.equal(products.linear(x, w), F.linear(x, w))
    monkeypatch.setattr(products, "measured_faster", lambda: False)
    monkeypatch.setattr(products, "onednn_avx512", lambda: False)
    x, w = x.float(), w.float()
    assert torch.equal(products.linear(x, w), F.linear(x, w))
    assert torch.equal(products.lstm_linear(x, w), F.linear(x, w))


@pytest.mark.parametrize(
    "info, processor, routed",
    [
        ({"model name": "AMD EPYC", "vendor_id": "AuthenticAMD"}, "", True),
        ({}, "AMD64 Family 25 Model 17 Stepping 1, AuthenticAMD", True),  # Windows: no /proc/cpuinfo
        ({"model name": "Intel(R) Xeon(R)", "vendor_id": "GenuineIntel"}, "", False),
        ({}, "Intel64 Family 6 Model 143 Stepping 8, GenuineIntel", False),
    ],
)
def test_only_an_amd_cpu_takes_onednn_where_it_was_measured_faster(monkeypatch, info, processor, routed):
    """oneDNN beat MKL on an AMD EPYC and lost to it on an Intel Xeon (speed.md): only an AMD CPU takes it."""
    from lstm_textgen import kernels

    monkeypatch.setattr(kernels, "cpu_info", lambda: info)
    monkeypatch.setattr(kernels.platform, "processor", lambda: processor)
    products.measured_faster.cache_clear()
    try:
        assert kernels.amd_cpu() is routed
        assert products.measured_faster() == (routed and products.onednn())
    finally:
        products.measured_faster.cache_clear()


@pytest.mark.skipif(not products.onednn(), reason="this PyTorch has no oneDNN products")
def test_a_training_step_has_the_loss_and_gradients_of_pytorchs_own_products(monkeypatch):
    """The model's training forward and backward (the compiled LSTM layer where it is built, the fused loss) with
    oneDNN's products and with MKL's: the same loss and gradients, to float32 rounding, on any CPU."""
    torch.manual_seed(0)
    net = HeadlineModel(ModelConfig(vocab_size=300, num_layers=3, emb_dim=32, hidden_dim=32)).net.train()
    tokens = torch.randint(4, 300, (24, 10))

    def step():
        net.zero_grad()
        torch.manual_seed(1)
        loss, _ = net(tokens[:, :-1], targets=tokens[:, 1:])
        loss.backward()
        return loss.item(), [p.grad.clone() for p in net.parameters()]

    for routed in ("measured_faster", "onednn_avx512"):  # oneDNN for every product it takes
        monkeypatch.setattr(products, routed, lambda: True)
    loss_d, grads_d = step()
    for routed in ("measured_faster", "onednn_avx512"):  # MKL for all
        monkeypatch.setattr(products, routed, lambda: False)
    loss_m, grads_m = step()
    assert loss_d == pytest.approx(loss_m, rel=1e-6)
    for got, want in zip(grads_d, grads_m):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "capability, cap, wide",
    [("AVX512", None, True), ("AVX512", "AVX512_CORE_BF16", True), ("AVX512", "AVX2", False), ("AVX2", None, False)],
)
def test_the_lstms_products_go_through_onednn_only_with_avx512_kernels(monkeypatch, capability, cap, wide):
    """With AVX2 kernels MKL ran the LSTM's shapes faster (speed.md): a CPU without AVX-512, or oneDNN held below
    it, keeps MKL there; the decoder's products take oneDNN either way."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    products.onednn_avx512.cache_clear()
    try:
        assert products.onednn_avx512() == (wide and products.measured_faster())
    finally:
        products.onednn_avx512.cache_clear()


def test_padded_row_counts_are_few_and_cost_at_most_a_sixteenth():
    """oneDNN keeps state for every new shape: row counts rounded up leave 16 of them per power of two (at least 8
    rows a step), never more than 1/16 extra rows (beyond 8), and keep the counts that are already round."""
    counts = [products.padded_rows(n) for n in range(1, 4097)]
    assert all(n <= p <= max(n + 7, n * 17 // 16) for n, p in zip(range(1, 4097), counts))
    assert all(products.padded_rows(p) == p for p in counts)
    assert len(set(counts)) <= 16 * 8 + 8 and products.padded_rows(512) == 512 and products.padded_rows(160) == 160


GROWTH = """
import sys
from pathlib import Path
import torch
from lstm_textgen import products
if sys.argv[1] != "default":
    products.bound_kernel_caches(int(sys.argv[1]))
def rss_mb():
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
w = torch.randn(4535, 256)
before = rss_mb()
for rows in range(1, 301):  # 300 shapes, as a server training many files meets them
    products._onednn_linear(torch.randn(rows, 256), w, None)
print(rss_mb() - before)
"""


@pytest.mark.skipif(not products.onednn() or not os.path.exists("/proc/self/status"), reason="needs oneDNN and /proc")
def test_bounded_kernel_caches_keep_a_servers_memory_from_growing_with_every_new_shape(monkeypatch):
    """oneDNN keeps compiled code for every new product shape, up to 1,024 of them: a server training visitors'
    files grew by hundreds of MB. With its caches bounded (app.py's --kernel-cache), 300 shapes leave a third of
    the growth at most."""
    for name in products.KERNEL_CACHES:
        monkeypatch.delenv(name, raising=False)
    growth = {}
    for shapes in ("default", "16"):
        run = subprocess.run([sys.executable, "-c", GROWTH, shapes], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        growth[shapes] = float(run.stdout)
    assert growth["16"] < max(20.0, growth["default"] / 3), growth


@pytest.mark.parametrize("routed", [True, False])
def test_products_that_keep_a_kernel_a_shape_are_those_routed_through_onednn(monkeypatch, routed):
    """bfloat16 on a CPU always goes through oneDNN, float32 where linear() routes it there: those products get the
    padded rows (model.py), and no others do."""
    monkeypatch.setattr(products, "measured_faster", lambda: routed)
    assert products.keeps_shapes(torch.ones(3, 4, dtype=torch.bfloat16))
    assert products.keeps_shapes(torch.ones(3, 4)) is routed
    assert not products.keeps_shapes(torch.ones(3, 4, dtype=torch.float64))
    assert not products.keeps_shapes(torch.ones(3, 4, device="meta"))
