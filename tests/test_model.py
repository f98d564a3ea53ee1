import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from lstm_textgen.mixed import stepper
from lstm_textgen.model import HeadlineModel, ModelConfig


def test_default_is_a_five_layer_lstm_with_tied_embeddings():
    cfg = ModelConfig(vocab_size=100)
    assert cfg.num_layers == 5
    m = HeadlineModel(cfg)
    lstms = [mod for mod in m.modules() if isinstance(mod, nn.LSTM)]
    assert len(lstms) == 5 and all(isinstance(x, nn.LSTM) for x in m.net.layers)
    assert not any(isinstance(mod, nn.Linear) and mod.out_features == 100 for mod in m.modules())  # tied
    wide = HeadlineModel(ModelConfig(vocab_size=100, emb_dim=64, hidden_dim=96))
    assert wide.net.proj is not None and wide.net.proj.out_features == 64  # projection before the tied decoder


def test_forward_shapes_and_state_carry():
    m = HeadlineModel(ModelConfig(vocab_size=50, emb_dim=8, hidden_dim=12, num_layers=3)).eval()
    x = torch.randint(4, 50, (2, 7))
    logits, state = m(x)
    assert logits.shape == (2, 7, 50)
    assert len(state) == 3 and state[0][0].shape == (1, 2, 12)
    # running in two halves with the state carried equals one full run
    a, s = m(x[:, :4])
    b, _ = m(x[:, 4:], s)
    assert torch.allclose(torch.cat([a, b], 1), logits, atol=1e-6)


def test_residual_connections_between_layers_can_be_switched_off():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50, emb_dim=8, hidden_dim=8, num_layers=3)
    assert cfg.residual
    res = HeadlineModel(cfg).eval()
    plain = HeadlineModel(ModelConfig(**{**cfg.to_dict(), "residual": False})).eval()
    plain.load_state_dict(res.state_dict())  # same weights, only the wiring differs
    x = torch.randint(4, 50, (2, 5))
    assert not torch.allclose(res(x)[0], plain(x)[0])


def test_untied_and_equal_sizes():
    m = HeadlineModel(ModelConfig(vocab_size=30, emb_dim=16, hidden_dim=16, tie_weights=False, num_layers=2))
    assert m.net.decoder.out_features == 30
    m2 = HeadlineModel(ModelConfig(vocab_size=30, emb_dim=16, hidden_dim=16, num_layers=2))
    assert m2.net.proj is None


def test_tutorial_architecture_matches_the_tutorial():
    m = HeadlineModel(ModelConfig.tutorial(200)).eval()
    net = m.net
    assert (net.embedding.num_embeddings, net.embedding.embedding_dim) == (200, 16)
    assert (net.lstm.input_size, net.lstm.hidden_size, net.lstm.num_layers) == (16, 64, 5)
    assert (net.fc1.in_features, net.fc1.out_features) == (128, 200)
    assert (net.fc2.in_features, net.fc2.out_features) == (200, 200)
    windows = torch.randint(4, 200, (3, 2))
    assert net.window_logits(windows).shape == (3, 200)
    seq = torch.randint(4, 200, (2, 6))
    logits, _state = m(seq)
    assert logits.shape == (2, 6, 200)
    # position t sees exactly the window (t-1, t)
    assert torch.allclose(logits[:, 3], net.window_logits(seq[:, 2:4]), atol=1e-5)
    step, _ = m(seq[:, 4:5], state=seq[:, 3])
    assert torch.allclose(step[:, 0], logits[:, 4], atol=1e-5)


def test_dropout_only_in_training():
    m = HeadlineModel(ModelConfig(vocab_size=40, emb_dim=8, hidden_dim=8, num_layers=2, weight_drop=0.5))
    x = torch.randint(4, 40, (2, 5))
    m.eval()
    assert torch.equal(m(x)[0], m(x)[0])
    m.train()
    torch.manual_seed(0)
    assert not torch.equal(m(x)[0], m(x)[0])
    m(x)[0].sum().backward()
    assert m.net.layers[0].weight_hh_l0.grad is not None  # weight drop still trains the real weights


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"vocab_size": 0}, "vocab_size must be a positive integer, got 0"),
        ({"vocab_size": 4}, "vocab_size must be at least 5"),
        ({"arch": "gpt"}, r"arch must be one of \('lstm', 'tutorial'\), got 'gpt'"),
        ({"num_layers": 0}, "num_layers must be a positive integer, got 0"),
        ({"emb_dropout": 1.0}, r"emb_dropout must be in \[0, 1\), got 1\.0"),
        ({"hidden_dim": 2.5}, "hidden_dim must be a positive integer, got 2.5"),
        ({"weight_drop": -0.1}, r"weight_drop must be in \[0, 1\), got -0\.1"),
        ({"tie_weights": "yes"}, "tie_weights must be true or false, got 'yes'"),
        ({"weights_dtype": "int8"}, "weights_dtype must be one of"),
    ],
)
def test_config_validation(bad, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{"vocab_size": 50, **bad})


def test_config_from_dict_is_strict():
    d = ModelConfig(vocab_size=50).to_dict()
    assert ModelConfig.from_dict(d) == ModelConfig(vocab_size=50)
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({**d, "extra": 1})
    with pytest.raises(ValueError, match="missing keys"):
        ModelConfig.from_dict({k: v for k, v in d.items() if k != "hidden_dim"})


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_weight_drop_zeroes_the_configured_share_and_keeps_the_mean(p):
    from lstm_textgen.model import _dropconnect

    torch.manual_seed(0)
    w = torch.ones(1024, 256)
    dropped = _dropconnect(w, p)
    assert (dropped == 0).float().mean().item() == pytest.approx(p, abs=1 / 256 + 0.005)
    assert dropped.mean().item() == pytest.approx(1.0, abs=0.01)  # unbiased: the kept weights are scaled up
    assert _dropconnect(w, 0.0) is w


def test_time_major_logits_are_the_batch_first_ones_transposed():
    torch.manual_seed(0)
    model = HeadlineModel(ModelConfig(vocab_size=40, emb_dim=8, hidden_dim=8)).eval()
    tokens = torch.randint(4, 40, (3, 5))
    batch_first, _ = model(tokens)
    time_major, _ = model(tokens, time_major=True)
    assert time_major.shape == (5, 3, 40) and time_major.is_contiguous()
    assert torch.equal(time_major.transpose(0, 1), batch_first)


@pytest.mark.parametrize("changes", [{}, {"hidden_dim": 24}, {"tie_weights": False}, {"arch": "tutorial"}])
@pytest.mark.parametrize("amp", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_the_training_loss_is_the_cross_entropy_of_the_logits_with_the_same_gradients(
    changes, amp, padded, monkeypatch
):
    """The loss training uses (``targets=``: decoder and softmax fused, a chunk of rows at a time) against the
    plain cross-entropy of the logits: the same value and gradients, padding ignored; under bfloat16 autocast
    to bfloat16's rounding. ``padded``: the short chunk padded with zero rows, as where oneDNN computes."""
    import lstm_textgen.model as model_module
    from lstm_textgen.model import next_token_nll

    monkeypatch.setattr(model_module, "LOSS_CHUNK", 16)  # several chunks, the last one short (5 of 53 rows)
    monkeypatch.setattr(model_module, "keeps_shapes", lambda x: padded)
    torch.manual_seed(0)
    if changes.get("arch") == "tutorial":
        cfg = ModelConfig.tutorial(vocab_size=300)
    else:
        cfg = ModelConfig(**{"vocab_size": 300, "emb_dim": 16, "hidden_dim": 16, "num_layers": 2, **changes})
    model = HeadlineModel(cfg)  # dropout off, so both passes see the same network
    model.eval()
    tokens = torch.randint(4, 300, (7, 9))
    tokens[:3, 6:] = 0  # padding
    inp, tgt = tokens[:, :-1], tokens[:, 1:]
    grads = []
    for fused in (False, True):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = model(inp, targets=tgt)[0] if fused else next_token_nll(model(inp, time_major=True)[0], tgt)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    (plain, plain_grads), (fused, fused_grads) = grads
    assert fused == pytest.approx(plain, rel=1e-4 if amp else 1e-6)
    for a, b in zip(plain_grads, fused_grads):
        assert torch.allclose(a, b, rtol=0, atol=(2e-2 if amp else 1e-5) * a.abs().max().item() + 1e-8)


def test_the_training_loss_scales_its_gradients_and_refuses_a_second_backward():
    """A scaled loss (as a loss scaler makes it) scales the fused loss's gradients; a second backward through
    the same graph is a clear error, not gradients that were already handed out."""
    torch.manual_seed(0)
    model = HeadlineModel(ModelConfig(vocab_size=300, emb_dim=16, hidden_dim=16, num_layers=2)).eval()
    tokens = torch.randint(4, 300, (5, 7))
    grads = []
    for scale in (1.0, 3.0):
        model.zero_grad()
        (model(tokens[:, :-1], targets=tokens[:, 1:])[0] * scale).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.allclose(b, 3 * a, rtol=1e-5, atol=1e-7) for a, b in zip(*grads))
    loss = model(tokens[:, :-1], targets=tokens[:, 1:])[0]
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward"):
        loss.backward()


@pytest.mark.parametrize("changes", [{}, {"hidden_dim": 24}, {"tie_weights": False}, {"residual": False}])
def test_generation_step_reads_like_the_sequence_forward(changes):
    """Token by token through step() gives the forward's next-token distribution: exactly in float32, and
    within the rounding of the bfloat16 or int8 products generation uses on CPUs that have them."""
    torch.manual_seed(0)
    m = HeadlineModel(
        ModelConfig(**{"vocab_size": 60, "emb_dim": 16, "hidden_dim": 16, "num_layers": 3, **changes})
    ).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(4)  # beyond the small initial weights, so the layers are not all near-linear
    x = torch.randint(4, 60, (3, 6))
    with torch.inference_mode():
        want = torch.softmax(m(x)[0], dim=-1)
        for dtype, tol in ((torch.float32, 1e-5), (torch.qint8, 5e-2), (torch.bfloat16, 2e-2)):
            state, got = m.initial_state(3), []
            for t in range(x.size(1)):
                logits, state = stepper(m, dtype)(x[:, t], state)
                assert logits.dtype == torch.float32 and state[0][1].dtype == torch.float32
                got.append(torch.softmax(logits, dim=-1))
            assert torch.allclose(torch.stack(got, 1), want, atol=tol), dtype
        assert (torch.stack(got, 1) - want).abs().max() > 0  # bfloat16 really rounded something


def test_the_generation_step_is_compiled_once_a_precision_and_reused():
    """TorchScript runs the step's small operations without Python's overhead; a request reuses the compiled step
    instead of compiling it again."""
    m = HeadlineModel(ModelConfig(vocab_size=40, emb_dim=8, hidden_dim=8, num_layers=2)).eval()
    for dtype in (torch.float32, torch.bfloat16, torch.qint8):
        step = stepper(m, dtype)
        assert isinstance(step, torch.jit.ScriptModule), dtype
        assert stepper(m, dtype) is step


def test_no_bfloat16_where_the_kernels_are_held_to_avx2():
    """ATEN_CPU_CAPABILITY=avx2 stands in for a CPU without AVX-512: generation and training then take the
    float32/int8 path, whatever this CPU has."""
    probe = (
        "import torch; from lstm_textgen.mixed import bfloat16_training, native_bfloat16; cpu = torch.device('cpu'); "
        "print(native_bfloat16(cpu) or bfloat16_training(cpu))"
    )
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("cap", "native", "amx", "amd", "expected"),
    [
        (None, True, True, False, True),  # Intel Xeon with AMX
        (None, True, False, True, True),  # AMD EPYC Zen 4: AVX512-BF16 alone
        (None, True, False, False, False),  # Intel without AMX (Cooper Lake, or AMX hidden by a hypervisor)
        ("AVX512_CORE_BF16", True, True, False, False),  # oneDNN held below AMX on an Intel Xeon
        ("AVX512_CORE_BF16", True, False, True, True),
        ("AVX512_CORE_AMX", True, True, False, True),
        ("AVX10_1_512_AMX_FP16", True, True, False, True),
        ("AVX512_CORE", True, True, True, False),
        ("AVX2", True, True, True, False),
        (None, False, True, True, False),
    ],
)
def test_training_autocasts_on_a_cpu_where_bfloat16_was_measured_faster(monkeypatch, cap, native, amx, amd, expected):
    """bfloat16 training was the faster with AMX (Intel Xeon) and with AVX512-BF16 on an AMD EPYC, the slower with
    AVX512-BF16 alone on an Intel Xeon (speed.md); without bfloat16 instructions, or with oneDNN held below them,
    it would be emulated. Everywhere else training runs in float32."""
    from lstm_textgen import mixed

    monkeypatch.setattr(mixed, "native_bfloat16", lambda device: native)
    monkeypatch.setattr(mixed, "_torch_cpu_has", lambda probe: amx and probe == "_is_amx_tile_supported")
    monkeypatch.setattr(mixed, "amd_cpu", lambda: amd)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert mixed.bfloat16_training(torch.device("cpu")) is expected
    assert mixed.bfloat16_training(torch.device("meta")) is False


def test_the_bfloat16_step_follows_the_weights_when_they_change():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=40, emb_dim=8, hidden_dim=8, num_layers=2)
    m, other = HeadlineModel(cfg).eval(), HeadlineModel(cfg).eval()
    tok = torch.tensor([5, 6])

    def probs(model, dtype=torch.bfloat16):
        with torch.inference_mode():
            return torch.softmax(stepper(model, dtype)(tok, model.initial_state(2))[0], dim=-1)

    before = probs(m)
    with torch.no_grad():
        m.net.layers[0].bias_ih_l0.add_(1.0)  # an in-place update, as an optimizer step makes
    changed = probs(m)
    assert not torch.allclose(changed, before)
    assert torch.allclose(changed, probs(m, torch.float32), atol=1e-2)
    m.load_state_dict(other.state_dict())
    assert torch.allclose(probs(m), probs(other), atol=1e-6)


def test_embedding_dropout_drops_whole_words():
    """A dropped word is zero wherever it occurs in the batch; a kept one is scaled by 1/(1-p) everywhere."""
    torch.manual_seed(0)
    m = HeadlineModel(ModelConfig(vocab_size=40, emb_dim=8, hidden_dim=8, num_layers=2, emb_dropout=0.5)).train()
    words = torch.arange(4, 40)
    tokens = torch.stack([words[torch.randperm(len(words))] for _ in range(5)], dim=1)  # [T, B], each word 5 times
    x = m.net._embed(tokens)
    dropped = 0
    for word in words.tolist():
        rows = x[tokens == word]
        if bool((rows == 0).all()):
            dropped += 1
        else:
            assert torch.allclose(rows, m.net.embedding.weight[word].expand_as(rows) * 2)
    assert 0.25 * len(words) < dropped < 0.75 * len(words)


def test_under_cpu_autocast_odd_batches_run_padded_to_a_multiple_of_8_with_the_same_loss_and_gradients(monkeypatch):
    """oneDNN's bfloat16 LSTM is several times slower at batch sizes such as 149 (bench/results/speed.md): under
    autocast the layers get zero rows up to a multiple of 8, cut off after, which changes nothing computed."""
    from lstm_textgen import model as M

    torch.manual_seed(0)
    net = HeadlineModel(ModelConfig(vocab_size=60, num_layers=2, emb_dim=16, hidden_dim=16)).net.train()
    tokens = torch.randint(4, 60, (13, 7))
    rows = []
    net.layers[0].register_forward_pre_hook(lambda module, args: rows.append(args[0].size(1)))

    def run(multiple: int):
        monkeypatch.setattr(M, "ROW_MULTIPLE", multiple)
        rows.clear()
        net.zero_grad()
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, state = net(tokens[:, :-1], targets=tokens[:, 1:])
        loss.backward()
        return loss.item(), state, [p.grad.clone() for p in net.parameters()], list(rows)

    padded, plain = run(8), run(1)
    assert padded[3] == [16] and plain[3] == [13]
    assert all(h.shape[1] == 13 and c.shape[1] == 13 for h, c in padded[1])
    assert padded[0] == pytest.approx(plain[0], rel=1e-3)
    for got, want in zip(padded[2], plain[2]):
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-3)
