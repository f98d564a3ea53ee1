"""Training's LSTM layer with compiled gates (lstm_textgen/cells.py): nn.LSTM's values and gradients, used where
it applies and nowhere else."""

import pytest
import torch
from torch import nn

from lstm_textgen import HeadlineModel, ModelConfig, cells, kernels

needs_compiler = pytest.mark.skipif(kernels._compiler() is None, reason="no C compiler: training runs nn.LSTM")


def _loss(out, state, grads):
    return (out * grads[0]).sum() + (state[0] * grads[1]).sum() + (state[1] * grads[2]).sum()


@needs_compiler
@pytest.mark.parametrize("t, b, d, h", [(9, 40, 32, 48), (1, 3, 5, 4), (6, 1, 7, 3), (25, 8, 16, 16)])
def test_the_layer_gives_nn_lstms_outputs_state_and_gradients(t, b, d, h):
    torch.manual_seed(0)
    layer = nn.LSTM(d, h)
    with torch.no_grad():  # gates far into saturation too
        layer.weight_ih_l0.mul_(4)
    x = torch.randn(t, b, d, requires_grad=True)
    grads = (torch.randn(t, b, h), torch.randn(1, b, h), torch.randn(1, b, h))

    results = []
    for run in (lambda: layer(x), lambda: cells.lstm_layer(x, *layer.parameters())):
        x.grad = None
        layer.zero_grad()
        out, state = run()
        _loss(out, state, grads).backward()
        results.append([out, *state, x.grad, *(p.grad for p in layer.parameters())])
    for want, got in zip(*results):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(want.detach().abs().max())))


@needs_compiler
def test_a_training_step_takes_it_with_the_same_loss_and_gradients_as_nn_lstm():
    """The model's own training forward (dropout, DropConnect, residuals, the fused loss) with and without the
    compiled layer, from the same random state: the same loss and gradients, and only the first runs it."""
    torch.manual_seed(0)
    net = HeadlineModel(ModelConfig(vocab_size=50, num_layers=3, emb_dim=16, hidden_dim=16)).net.train()
    tokens = torch.randint(4, 50, (12, 8))

    def step(compiled: bool):
        net.compiled_cells = compiled
        net.zero_grad()
        torch.manual_seed(1)
        loss, _ = net(tokens[:, :-1], targets=tokens[:, 1:])
        nodes, seen = [loss.grad_fn], set()
        while nodes:  # the autograd graph's node names
            node = nodes.pop()
            if node is not None and node not in seen:
                seen.add(node)
                nodes.extend(n for n, _ in node.next_functions)
        loss.backward()
        names = {type(n).__name__ for n in seen}
        return loss.item(), [p.grad.clone() for p in net.parameters()], any("_Layer" in n for n in names)

    loss_c, grads_c, used_c = step(True)
    loss_t, grads_t, used_t = step(False)
    assert used_c and not used_t
    assert loss_c == pytest.approx(loss_t, rel=1e-6)
    for got, want in zip(grads_c, grads_t):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_it_applies_only_to_float32_cpu_training_from_a_zero_state():
    x = torch.randn(4, 2, 8)
    assert cells.usable(x, None) == kernels.available()
    assert not cells.usable(x, (torch.zeros(1, 2, 8), torch.zeros(1, 2, 8)))  # a given state
    assert not cells.usable(x.double(), None)
    with torch.no_grad():  # evaluation
        assert not cells.usable(x, None)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision: oneDNN's bfloat16 LSTM
        assert not cells.usable(x, None)


@needs_compiler
def test_a_second_backward_through_the_layer_is_a_clear_error():
    layer = nn.LSTM(4, 4)
    out, _ = cells.lstm_layer(torch.randn(3, 2, 4, requires_grad=True), *layer.parameters())
    loss = out.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward"):
        loss.backward()
