"""The language models: our regularised 5-layer LSTM, and the tutorial's 2-word-window LSTM for comparison.

Both read a headline as ``<bos> w1 .. wn <eos>`` and give, at every position, logits for the
next token, so one training loop, one evaluation and one sampler serve both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import cells
from .products import keeps_shapes, linear, padded_rows
from .vocab import BOS_ID, EOS_ID, PAD_ID, Vocab

ARCHS = ("lstm", "tutorial")
WEIGHT_DTYPES = ("float32", "float16", "bfloat16")


def config_field(default: Any, help: str, **cli: Any) -> Any:
    """A config field with its command-line help: the CLI builds its flags from these (``flag``: another
    name than the field's; ``flag=None``: none; a ``no-`` flag turns a true default off)."""
    return dataclasses.field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's layers (and how its weights are stored); saved as config.json."""

    vocab_size: int
    arch: str = config_field(
        "lstm",
        "lstm: our regularised LSTM; tutorial: the tutorial's 2-word-window model, to reproduce and compare",
        choices=ARCHS,
    )
    num_layers: int = config_field(5, "LSTM layers", flag="layers")
    emb_dim: int = config_field(256, "word embedding size (the tutorial's: 16)")
    hidden_dim: int = config_field(256, "LSTM hidden size (the tutorial's: 64)")
    # AWD-LSTM regularisation (Merity et al. 2017); all ignored by the tutorial arch.
    emb_dropout: float = config_field(0.1, "share of words dropped from the embedding")
    input_dropout: float = config_field(0.3, "locked dropout (one mask a headline) on the LSTM input")
    hidden_dropout: float = config_field(0.25, "locked dropout between LSTM layers")
    output_dropout: float = config_field(0.3, "locked dropout before the decoder")
    weight_drop: float = config_field(0.3, "DropConnect on hidden-to-hidden weights (applied rounded to 1/256)")
    tie_weights: bool = config_field(
        True,
        "separate output layer instead of tied embeddings (with a projection if hidden_dim != emb_dim)",
        flag="no-tie",
    )
    residual: bool = config_field(
        True,
        "no residual connections between LSTM layers (the plain stack barely trains at 5 layers)",
        flag="no-residual",
    )
    weights_dtype: str = config_field(
        "float32",
        "how model.safetensors stores weights; float16 halves the file (e.g. to stay under a "
        "Space's 10 MB per file); computation stays float32",
        choices=WEIGHT_DTYPES,
    )

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        for name in ("vocab_size", "num_layers", "emb_dim", "hidden_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.vocab_size < 5:
            raise ValueError("vocab_size must be at least 5 (4 special tokens and a word)")
        for name in ("emb_dropout", "input_dropout", "hidden_dropout", "output_dropout", "weight_drop"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        for name in ("tie_weights", "residual"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

        if self.weights_dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights_dtype must be one of {WEIGHT_DTYPES}, got {self.weights_dtype!r}")

    @classmethod
    def tutorial(cls, vocab_size: int, weights_dtype: str = "float32") -> ModelConfig:
        """The tutorial's sizes: Embedding(V, 16) -> LSTM(16, 64, 5 layers) -> Linear(128, V) -> ReLU ->
        Linear(V, V)."""
        return cls(
            vocab_size=vocab_size,
            arch="tutorial",
            num_layers=5,
            emb_dim=16,
            hidden_dim=64,
            emb_dropout=0.0,
            input_dropout=0.0,
            hidden_dropout=0.0,
            output_dropout=0.0,
            weight_drop=0.0,
            tie_weights=False,
            residual=False,
            weights_dtype=weights_dtype,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Strict: unknown or missing keys are errors, never silently defaulted."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown keys {unknown}")
        missing = sorted(n for n in names if n not in data)
        if missing:
            raise ValueError(f"missing keys {missing}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """One dropout mask per sequence, reused at every time step (variational dropout); x is [T, B, D]."""
    if not training or p == 0:
        return x
    mask = (torch.rand(1, x.size(1), x.size(2), device=x.device) < 1 - p).to(x.dtype) / (1 - p)
    return x * mask


def _dropconnect(weight: torch.Tensor, p: float) -> torch.Tensor:
    """``weight`` with each entry zeroed with probability p (rounded to 1/256), the rest scaled up to keep the mean.

    The mask comes from random bytes, four a 32-bit draw: cheaper than ``torch.rand``, whose masks were a
    noticeable share of a training step (bench/results/speed.md).
    """
    threshold = round((1 - p) * 256)
    if threshold >= 256:
        return weight
    n = weight.numel()
    draws = torch.randint(-(2**31), 2**31 - 1, ((n + 3) // 4,), dtype=torch.int32, device=weight.device)
    keep = draws.view(torch.uint8)[:n].view(weight.shape) < threshold
    # the mask made float and scaled once: a bool mask costs a conversion and a second product forward and back
    return weight * keep.to(weight.dtype).mul_(256 / threshold)


# oneDNN's bfloat16 LSTM on a CPU ran 1.6-4.5x slower a token at batch sizes with no small factors (primes such
# as 131, 149, 163, and 129, 166, 202, ...) than at their neighbours; multiples of 8 were never slow
# (bench/results/speed.md, "seventh session"). Training's batches end at length changes, so any size comes up.
ROW_MULTIPLE = 8


LSTMState = list[tuple[torch.Tensor, torch.Tensor]]
StepFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]  # (tokens [B], state) -> (logits [B, V], state)


def next_token_nll(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of time-major logits [T, B, V] (``forward(..., time_major=True)``) against targets
    [B, T], padding ignored; ``reduction="none"`` gives [B, T]. Training and evaluation both use it."""
    t, b, v = logits.shape
    nll = F.cross_entropy(
        logits.float().reshape(t * b, v), targets.t().reshape(t * b), ignore_index=PAD_ID, reduction=reduction
    )
    return nll.view(t, b).t() if reduction == "none" else nll


LOSS_CHUNK = 512  # rows of logits a chunk of :class:`_DecoderNLL` holds at once ([512, V] float32)


class _DecoderNLL(torch.autograd.Function):
    """Mean cross-entropy of features x [N, D] through a decoder (weight [V, D], bias [V]) against targets [N],
    with the gradients computed in the same pass, a chunk of rows at a time, and only they kept for backward.

    The separate decoder and loss write [N, V] logits, their log-softmax, a zeroed gradient of that and two
    more [N, V] arrays in backward: at a batch of 160 headlines each is some 25 MB, and those passes were
    about 30% of a training step's time outside the LSTM (bench/results/speed.md). Here one [chunk, V] array
    holds each chunk's logits, then its softmax, then its gradient, in place; fresh memory costs page faults
    at every step (oneDNN's products, products.py, return their own). The same arithmetic as
    ``F.cross_entropy(F.linear(x, weight, bias))``, summed in another order; products in x's dtype (bfloat16 under
    autocast; float32 ones through oneDNN on an AMD CPU, products.py), the softmax in float32.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor):
        grads = any(ctx.needs_input_grad[:3])
        n, w = x.size(0), weight.to(x.dtype)
        # a short chunk padded with zero rows where oneDNN would keep state for each new row count (products.py)
        pad = padded_rows if keeps_shapes(x) else (lambda rows: rows)
        buffer = torch.empty(pad(min(n, LOSS_CHUNK)), w.size(0), dtype=torch.float32, device=x.device)
        gx = torch.empty_like(x) if grads else None
        gw = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if grads else None
        gb = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if grads else None
        total = torch.zeros((), dtype=torch.float32, device=x.device)
        with torch.autocast(x.device.type, enabled=False):
            for i in range(0, n, LOSS_CHUNK):
                xc, tc = x[i : i + LOSS_CHUNK], targets[i : i + LOSS_CHUNK, None]
                r = xc.size(0)
                if pad(r) > r:  # zero rows: products of nothing, and gradients of nothing below
                    xc = torch.cat([xc, xc.new_zeros(pad(r) - r, xc.size(1))])
                padded = buffer[: xc.size(0)]
                if w.dtype == torch.float32:
                    padded = linear(xc, w, bias, out=padded)
                else:
                    padded.copy_(torch.mm(xc, w.t())).add_(bias)
                logits = padded[:r]
                picked = logits.gather(1, tc)
                top = logits.amax(dim=1, keepdim=True)
                e = logits.sub_(top).exp_()
                z = e.sum(dim=1, keepdim=True)
                total += (z.log() + top - picked).sum()  # -log softmax at the targets
                if grads:  # dLoss/dlogits: the softmax minus the one-hot target, over n
                    g = e.mul_(z.reciprocal_().mul_(1 / n))
                    g.scatter_add_(1, tc, g.new_full(tc.shape, -1 / n))
                    # the padding rows keep their logits: they meet zero inputs in gw's product, and their
                    # share of the inputs' gradient is dropped
                    gd, rows = padded.to(x.dtype), gx[i : i + r]
                    own = rows if len(gd) == r else None  # a buffer for the inputs' gradient, where it fits
                    if gd.dtype == torch.float32:
                        rows.copy_(linear(gd, w.t(), out=own)[:r])  # a no-op copy where MKL wrote rows itself
                        gw.addmm_(gd.t(), xc)
                    else:  # bfloat16 products, summed in float32
                        if own is None:
                            rows.copy_(torch.mm(gd, w)[:r])
                        else:
                            torch.mm(gd, w, out=own)
                        gw.add_(torch.mm(gd.t(), xc))
                    gb.add_(g.sum(0))
        # made here, neither input nor output: kept on ctx, so that backward may hand them out (below)
        ctx.grads = (gx, gw.to(weight.dtype), gb.to(bias.dtype)) if grads else None
        return total / max(n, 1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        if ctx.grads is None:
            raise RuntimeError("decoder_nll: a second backward through the same loss (retain_graph) is not supported")
        if grad.device.type == "cpu" and float(grad) == 1.0:  # a plain loss.backward(): the gradients as they are,
            grads, ctx.grads = ctx.grads, None  # not copies; handed out once, since autograd may add into them
            return (*grads, None)
        return (*(g * grad.to(g.dtype) for g in ctx.grads), None)


def decoder_nll(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of time-major features x [T, B, D] decoded by (weight [V, D], bias [V]) against targets
    [B, T], padding ignored: ``next_token_nll`` of the decoder's logits without ever holding them all
    (:class:`_DecoderNLL`). Padded positions are left out before the decoder, not after it."""
    t, b, d = x.shape
    flat = targets.t().reshape(t * b)
    real = (flat != PAD_ID).nonzero().squeeze(1)
    if torch.is_autocast_enabled(x.device.type):
        x = x.to(torch.get_autocast_dtype(x.device.type))
    rows = x.reshape(t * b, d).index_select(0, real)
    return _DecoderNLL.apply(rows, weight, bias, flat.index_select(0, real))


def tutorial_pairs(targets: torch.Tensor) -> torch.Tensor:
    """[B, T] bool: the targets that the tutorial's own (word, word) -> next word pairs predict. It has no
    ``<bos>``/``<eos>``: only words from a headline's third on, each after two words of the same headline."""
    mask = (targets != PAD_ID) & (targets != EOS_ID)
    mask[:, :2] = False
    return mask


def pair_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each of the tutorial's pairs (:func:`tutorial_pairs`), flat: what its ~3.79 averages."""
    with torch.no_grad():
        return next_token_nll(logits.detach(), targets, reduction="none")[tutorial_pairs(targets)]


class LSTMNet(nn.Module):
    """Embedding -> ``num_layers`` stacked LSTMs (one ``nn.LSTM`` a layer, so dropout can sit between) ->
    tied decoder."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb_dim, padding_idx=PAD_ID)
        self.layers = nn.ModuleList(
            nn.LSTM(cfg.emb_dim if i == 0 else cfg.hidden_dim, cfg.hidden_dim)  # time-major: no transposes
            for i in range(cfg.num_layers)
        )
        if cfg.tie_weights:
            self.proj = nn.Linear(cfg.hidden_dim, cfg.emb_dim) if cfg.hidden_dim != cfg.emb_dim else None
            self.decoder_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        else:
            self.decoder = nn.Linear(cfg.hidden_dim, cfg.vocab_size)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        # training on a CPU in float32 runs each layer through cells.lstm_layer where it applies; False: nn.LSTM
        self.compiled_cells = True

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embedding dropout drops whole words: a word's row is zeroed for the batch. Applied to the looked-up
        vectors: the values of masking the [V, D] matrix (its gradients up to rounding), for a fraction of the work."""
        weight = self.embedding.weight
        x = F.embedding(tokens, weight, PAD_ID)
        p = self.cfg.emb_dropout
        if self.training and p > 0:
            keep = weight.new_empty(weight.size(0), 1).bernoulli_(1 - p) / (1 - p)
            x = x * F.embedding(tokens, keep)
        return x

    def _run_layer(self, i: int, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        layer = self.layers[i]
        w_hh = layer.weight_hh_l0
        if self.training and self.cfg.weight_drop > 0:
            w_hh = _dropconnect(w_hh, self.cfg.weight_drop)  # on the recurrent weights
        if self.training and self.compiled_cells and cells.usable(x, state):
            return cells.lstm_layer(x, layer.weight_ih_l0, w_hh, layer.bias_ih_l0, layer.bias_hh_l0)
        rows, extra = x.size(1), 0
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            extra = -rows % ROW_MULTIPLE
        if extra:  # zero rows in, cut off after: the same values and gradients, since an LSTM's rows never mix
            x = F.pad(x, (0, 0, 0, extra))
            state = None if state is None else (F.pad(state[0], (0, 0, 0, extra)), F.pad(state[1], (0, 0, 0, extra)))
        if w_hh is not layer.weight_hh_l0:
            out, (h, c) = torch.func.functional_call(layer, {"weight_hh_l0": w_hh}, (x, state))
        else:
            out, (h, c) = layer(x, state)
        return (out[:, :rows], (h[:, :rows], c[:, :rows])) if extra else (out, (h, c))

    def forward(
        self,
        tokens: torch.Tensor,
        state: LSTMState | None = None,
        time_major: bool = False,
        targets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, LSTMState]:
        """tokens [B, T] -> next-token logits [B, T, V] (``time_major``: a contiguous [T, B, V]) and the state
        after the last step. With ``targets`` [B, T]: their mean cross-entropy (padding ignored) instead of the
        logits, computed without them (:func:`decoder_nll`): what training wants.

        Inside, time comes first ([T, B, D]), nn.LSTM's native layout: batch_first would copy at every layer.
        The loss wants time-major logits: a softmax over a transposed view is much slower (speed.md).
        """
        x = _locked_dropout(self._embed(tokens.t()), self.cfg.input_dropout, self.training)
        new_state: LSTMState = []
        for i in range(len(self.layers)):
            out, s = self._run_layer(i, x, None if state is None else state[i])
            x = out + x if self.cfg.residual and i > 0 else out
            new_state.append(s)
            last = i == len(self.layers) - 1
            x = _locked_dropout(x, self.cfg.output_dropout if last else self.cfg.hidden_dropout, self.training)
        if targets is not None:
            return decoder_nll(*self._decoder_input(x), targets), new_state
        logits = F.linear(*self._decoder_input(x))
        return (logits if time_major else logits.transpose(0, 1)), new_state

    def _decoder_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features, weight, bias) of the decoder's product over the vocabulary."""
        if self.cfg.tie_weights:
            if self.proj is not None:
                x = self.proj(x)
            return x, self.embedding.weight, self.decoder_bias
        return x, self.decoder.weight, self.decoder.bias

    def step(self, tokens: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """One generation step (no dropout): tokens [B] -> logits [B, V].

        Fused LSTM cells instead of nn.LSTM's sequence machinery: the same arithmetic, with much less overhead
        a layer when the sequence is one token long. The same step with bfloat16 products is in :mod:`mixed`.
        """
        x = F.embedding(tokens, self.embedding.weight)
        new_state: LSTMState = []
        for i, layer in enumerate(self.layers):
            h, c = state[i]
            h, c = torch.lstm_cell(
                x, (h[0], c[0]), layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
            )
            x = h + x if self.cfg.residual and i > 0 else h
            new_state.append((h.unsqueeze(0), c.unsqueeze(0)))
        return F.linear(*self._decoder_input(x)), new_state

    def initial_state(self, batch: int) -> LSTMState:
        """The state before the first token: zeros, ([1, B, H], [1, B, H]) a layer."""
        zeros = self.embedding.weight.new_zeros(1, batch, self.cfg.hidden_dim)
        return [(zeros, zeros)] * len(self.layers)


class TutorialNet(nn.Module):
    """The tutorial's model: the last 2 tokens -> Embedding -> 5-layer LSTM -> flatten -> Linear -> ReLU -> Linear.

    As a sequence model, position t sees the window (t-1, t); before the start it sees ``<bos>``.
    """

    WINDOW = 2

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.lstm = nn.LSTM(cfg.emb_dim, cfg.hidden_dim, num_layers=cfg.num_layers, batch_first=True)
        self.fc1 = nn.Linear(cfg.hidden_dim * self.WINDOW, cfg.vocab_size)
        self.fc2 = nn.Linear(cfg.vocab_size, cfg.vocab_size)

    def initial_state(self, batch: int) -> torch.Tensor:
        """The state before the first token: the token before it, ``<bos>``, a row."""
        return torch.full((batch,), BOS_ID, dtype=torch.long, device=self.embedding.weight.device)

    def window_logits(self, windows: torch.Tensor) -> torch.Tensor:
        """windows [N, 2] -> logits [N, V] (the tutorial's forward)."""
        x, _ = self.lstm(self.embedding(windows))
        return self.fc2(F.relu(self.fc1(x.reshape(x.size(0), -1))))

    def forward(
        self, tokens: torch.Tensor, state: torch.Tensor | None = None, time_major: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens [B, T] -> logits [B, T, V] (``time_major``: [T, B, V]); the state is the token before ``tokens``
        (``<bos>`` at the start)."""
        b, t = tokens.shape
        prev = (self.initial_state(b) if state is None else state).view(b, 1)
        padded = torch.cat([prev, tokens], dim=1)
        windows = padded.unfold(1, self.WINDOW, 1)  # [B, T, 2]
        logits = self.window_logits(windows.reshape(b * t, self.WINDOW)).view(b, t, -1)
        return (logits.transpose(0, 1) if time_major else logits), tokens[:, -1].clone()


class HeadlineModel(nn.Module):
    """A headline model: config + network + vocabulary (+ the metrics of its training).

    Saving and loading (a local folder or a Hugging Face Hub repo) are in :mod:`lstm_textgen.checkpoint`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if isinstance(config, dict):  # tolerate a plain dict, e.g. from user code
            config = ModelConfig.from_dict(config)
        self.config = config
        self.net: LSTMNet | TutorialNet = LSTMNet(config) if config.arch == "lstm" else TutorialNet(config)
        self.vocab: Vocab | None = None
        self.metrics: dict[str, Any] = {}  # metrics.json: see checkpoint.Metrics
        self.source: str | None = None  # where it was loaded from, for display
        self.step_cache: dict[str, Any] = {}  # generation's: compiled steps and their table (mixed.py), the start

    def forward(
        self, tokens: torch.Tensor, state: Any = None, time_major: bool = False, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Any]:
        """tokens [B, T] -> (logits [B, T, V], or [T, B, V] with ``time_major``; the state after the last token).
        With ``targets`` [B, T]: (their mean cross-entropy, padding ignored; the state), as training wants it."""
        if targets is None:
            return self.net(tokens, state, time_major)
        if isinstance(self.net, TutorialNet):
            logits, state = self.net(tokens, state, time_major=True)
            return next_token_nll(logits, targets), state
        return self.net(tokens, state, targets=targets)

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Next-token logits [B, V] after one more token a row (tokens [B]), for generation."""
        if isinstance(self.net, LSTMNet) and not self.training:
            return self.net.step(tokens, state)
        logits, state = self.net(tokens[:, None], state)
        return logits[:, -1], state

    def initial_state(self, batch: int) -> Any:
        """The state before the first token of ``batch`` rows, as :meth:`step` takes it."""
        return self.net.initial_state(batch)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @staticmethod
    def select_state(state: Any, rows: torch.Tensor) -> Any:
        """The state of a subset (or repetition) of the batch rows."""
        if isinstance(state, torch.Tensor):
            return state.index_select(0, rows)
        return [(h.index_select(1, rows), c.index_select(1, rows)) for h, c in state]
