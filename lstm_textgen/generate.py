"""Sampling headlines: all of a request's headlines in one batch, the LSTM state carried from step
to step (the prefix is never re-run), finished rows dropped, ids looked up in O(1).

Every call owns its ``torch.Generator``: the same seed and options give the same headlines,
whatever else the process is doing.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from . import kernels
from .mixed import int8_available, native_bfloat16, stepper
from .model import HeadlineModel, StepFn
from .sampling import sample
from .text import clean, headline_words
from .vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

MAX_NUM = 100  # headlines a call
MAX_WORDS = 100  # new words a headline
# The words of a seed phrase that start the headlines: its last 12. NYT headlines run 7 words on average and 12
# or fewer 95% of the time; after a longer start the model has only ever seen a headline end, and ends at once.
MAX_PROMPT_WORDS = 12
MAX_TOP_K = 1_000_000
NEVER_EMITTED = (PAD_ID, BOS_ID, UNK_ID)
GREEDY_BELOW = 1e-6  # a temperature this small picks the likeliest word, as 0 does (and avoids 1/T overflow)
PRECISIONS = ("auto", "float32", "bfloat16", "int8")
SAMPLERS = ("auto", "torch")
STEP_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "int8": torch.qint8}


@dataclass
class Headline:
    """One generated headline: the seed words, the new words with their probabilities, how it ended."""

    prompt_words: list[str]
    words: list[str] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    ended: bool = False  # reached <eos> before the length cap
    alternatives: list[list[tuple[str, float]]] = field(default_factory=list)
    forms: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)  # the model's Vocab.forms

    @property
    def printed(self) -> list[str]:
        """Each word (seed words first) as the headline prints it: "gop" -> "G.O.P."."""
        return headline_words(self.prompt_words + self.words, self.forms)

    @property
    def text(self) -> str:
        """Display string in headline case, with the model's printed forms ("What’s Next for the G.O.P.")."""
        return " ".join(self.printed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_words": list(self.prompt_words),
            "words": list(self.words),
            "probs": list(self.probs),
            "ended": self.ended,
            "alternatives": [[[w, p] for w, p in alts] for alts in self.alternatives],
            "text": self.text,
        }


@dataclass
class Generation:
    """A request's result: its headlines plus what the user should know about their seed phrase."""

    headlines: list[Headline]
    prompt_words: list[str]
    unknown_words: list[str]  # seed words missing from the vocabulary (fed to the model as <unk>)
    truncated: bool  # the seed phrase was longer than MAX_PROMPT_WORDS; its last words were kept
    seed: int  # the seed used: pass it back to get the same headlines
    done: bool = False  # False while streaming

    def to_dict(self) -> dict[str, Any]:
        return {
            "headlines": [h.to_dict() for h in self.headlines],
            "prompt_words": self.prompt_words,
            "unknown_words": self.unknown_words,
            "truncated": self.truncated,
            "seed": self.seed,
        }


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and (not math.isfinite(value) or value != int(value)))
    ):
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be from {lo} to {hi}, got {value}")
    return value


def _check_float(name: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number from {lo} to {hi}, got {value!r}")
    value = float(value)
    if value > hi or value < lo or (lo_open and value == lo):
        bound = f"above {lo}" if lo_open else f"from {lo}"
        raise ValueError(f"{name} must be {bound} to {hi}, got {value}")
    return value


@dataclass(frozen=True)
class Options:
    """Validated sampling options. Temperature 0 (or below 1e-6) is greedy; top_k 0 and top_p 1 switch those
    filters off. ``precision`` is that of the LSTM's matrix products while sampling: "auto" is int8 on an x86
    CPU, bfloat16 on a GPU that has it, else float32: faster steps, probabilities within a few percent and
    the same perplexity to 0.1% (mixed.py; bench/results/speed.md). ``sampler`` "auto" chooses each word with
    the compiled sampler (kernels.py) where this machine can build it and top_k is 0, else with PyTorch's
    operations, as "torch" always does: the same rule and random numbers, so the same words for a seed (but
    where float rounding puts a draw on the edge between two words: 1 draw in 30,000, speed.md)."""

    # defaults: the most varied setting whose samples a judge model finds as fluent as real headlines
    # (bench/results/quality.md, "Sampling defaults")
    num: int = 5
    max_words: int = 15
    temperature: float = 0.6
    top_k: int = 0
    top_p: float = 0.9
    seed: int | None = None
    alternatives: int = 5
    min_words: int = 0  # no <eos> before this many new words
    precision: str = "auto"
    sampler: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "num", _check_int("num", self.num, 1, MAX_NUM))
        object.__setattr__(self, "max_words", _check_int("max_words", self.max_words, 1, MAX_WORDS))
        object.__setattr__(self, "min_words", _check_int("min_words", self.min_words, 0, self.max_words))
        object.__setattr__(self, "temperature", _check_float("temperature", self.temperature, 0.0, 10.0))
        object.__setattr__(self, "top_k", _check_int("top_k", self.top_k, 0, MAX_TOP_K))
        object.__setattr__(self, "top_p", _check_float("top_p", self.top_p, 0.0, 1.0, lo_open=True))
        object.__setattr__(self, "alternatives", _check_int("alternatives", self.alternatives, 0, 20))
        if self.seed is not None:
            object.__setattr__(self, "seed", _check_int("seed", self.seed, 0, 2**63 - 1))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")

    def compiled_sampler(self, vocab_size: int) -> bool:
        """Whether the words are chosen by the compiled sampler (kernels.py), which covers top_k 0 only."""
        return self.sampler == "auto" and (self.top_k == 0 or self.top_k >= vocab_size) and kernels.available()

    def step_dtype(self, device: torch.device) -> torch.dtype:
        """The dtype of the generation step's matrix products on ``device`` (torch.qint8: int8)."""
        if self.precision != "auto":
            return STEP_DTYPES[self.precision]
        if device.type == "cpu" and int8_available():  # the fastest on every x86 CPU measured (speed.md)
            return torch.qint8
        if native_bfloat16(device):
            return torch.bfloat16
        return torch.float32


def make_options(**options: Any) -> Options:
    """Options from keyword arguments; an unknown name is a ValueError like a bad value."""
    names = set(Options.__dataclass_fields__)
    unknown = sorted(set(options) - names)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; known: {sorted(names)}")
    return Options(**options)


def prepare_prompt(model: HeadlineModel, prompt: str) -> tuple[list[str], list[str], bool]:
    """(words kept, words not in the vocabulary, truncated?) for a raw seed phrase."""
    if prompt is None:
        prompt = ""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be text, got {type(prompt).__name__}")
    ws = clean(prompt).split()
    truncated = len(ws) > MAX_PROMPT_WORDS
    ws = ws[-MAX_PROMPT_WORDS:]
    assert model.vocab is not None
    unknown = list(dict.fromkeys(w for w in ws if w not in model.vocab))
    return ws, unknown, truncated


STEPPED_PROMPT = 4  # words; a prompt up to this long is fed a step at a time when the step is int8 or bfloat16


@torch.inference_mode()
def _read(
    model: HeadlineModel, tokens: torch.Tensor, step: StepFn, dtype: torch.dtype, state: Any = None
) -> tuple[torch.Tensor, Any]:
    """Tokens [1, T] read from ``state`` (None: the start): logits after the last one, and the state after it.

    All at once through the sequence kernels; but a short prompt goes through the int8 or bfloat16 ``step``,
    token by token, when generation uses it: for a few tokens that is quicker (bench/results/speed.md).
    """
    if dtype == torch.float32 or tokens.size(1) > STEPPED_PROMPT or model.config.arch != "lstm":
        logits, state = model(tokens, state)
        return logits[:, -1].float().cpu(), state
    state = model.initial_state(1) if state is None else state
    for t in range(tokens.size(1)):
        logits, state = step(tokens[:, t], state)
    return logits.float().cpu(), state


@torch.inference_mode()
def _run(model: HeadlineModel, tokens: torch.Tensor, step: StepFn, dtype: torch.dtype) -> tuple[torch.Tensor, Any]:
    """The prompt [1, T], <bos> first: logits after its last token (a new tensor), and the state to carry on from.

    Every request starts with <bos> from the zero state, so what that gives is read once a precision and kept in
    the model's ``step_cache`` beside the compiled ``step`` it was read with: :func:`mixed.stepper` builds a new
    step whenever a weight changes, and then the start is read again. A request reads only its seed words.
    """
    if model.config.arch != "lstm" or model.training:  # a window of words, not a state; or dropout at each read
        return _read(model, tokens, step, dtype)
    name = f"after <bos>, {dtype}"
    kept = model.step_cache.get(name)
    if kept is None or kept[0] is not step:
        kept = (step, _read(model, tokens[:, :1], step, dtype))
        model.step_cache[name] = kept
    logits, state = kept[1]
    if tokens.size(1) == 1:
        return logits.clone(), state  # the caller may write over its logits
    return _read(model, tokens[:, 1:], step, dtype, state)


@torch.inference_mode()
def _step(step: StepFn, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
    logits, state = step(tokens, state)
    return logits.float().cpu(), state


def _emit_mask(vocab_size: int, allow_eos: bool) -> torch.Tensor:
    """Added to the logits: -inf for the tokens that may not be emitted (and for <eos> when not allowed yet)."""
    mask = torch.zeros(vocab_size)
    mask[list(NEVER_EMITTED)] = float("-inf")
    if not allow_eos:
        mask[EOS_ID] = float("-inf")
    return mask


@torch.inference_mode()
def _choose(logits: torch.Tensor, opts: Options, gen: torch.Generator, mask: torch.Tensor) -> torch.Tensor:
    """The chosen ids [B] for a batch of logits [B, V], ``mask`` (from :func:`_emit_mask`) added to them in place.

    Drawn from softmax(logits / T) directly (the same as from the log-probabilities over T); what is shown of the
    choice (its probability, the alternatives) is worked out later, by :func:`_shown`.
    """
    logits.add_(mask)
    if opts.temperature < GREEDY_BELOW:
        return logits.argmax(dim=-1)
    # the logits are finite (-inf where masked) and 1/T is at most 1e6, so the scores stay finite and the softmax,
    # which subtracts their maximum, never meets inf - inf
    return sample(torch.mul(logits, 1.0 / opts.temperature), opts.top_k, opts.top_p, gen)


@torch.inference_mode()
def _shown(
    logits: torch.Tensor, chosen: torch.Tensor, alternatives: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(the chosen words' model probabilities, the top alternatives' probabilities and ids) for a step's masked
    logits, which are overwritten with the log-probabilities."""
    logp = torch.log_softmax(logits, dim=-1, out=logits)  # the model's own distribution
    alt_lp, alt_i = torch.topk(logp, min(alternatives, logp.size(-1)), dim=-1)
    return logp.gather(1, chosen[:, None]).squeeze(1).exp(), alt_lp.exp(), alt_i


PENDING_FLOATS = 2_000_000  # 8 MB: the most logits that wait for their words to be shown


def stream(model: HeadlineModel, prompt: str = "", *, every: float = 0.0, **options: Any) -> Iterator[Generation]:
    """Yield the growing headlines: the first words at once, then after every word (``every`` 0) or at most once
    per ``every`` seconds; the last item, finished, has ``done=True``.

    Every item is whole: its words, their probabilities and the alternatives. The compiled sampler works out
    what is shown of a word as it chooses it; with PyTorch's operations that (the log-softmax, the top
    alternatives) waits until an item is yielded, for all the words since the last one, so that the steps in
    between run back to back: each step's arrays then meet the next step's weights in the cache less often
    (bench/results/speed.md, "fifth session"). The lists are built when an item is yielded, either way.

    Raises ValueError (before any work) for an option out of range or a prompt that is not text.
    """
    opts = options.pop("options", None) or make_options(**options)
    if model.vocab is None:
        raise ValueError("the model has no vocabulary; load it with load_model()")
    if not every >= 0:
        raise ValueError(f"every must be 0 or more seconds, got {every!r}")
    itos = model.vocab.itos
    prompt_words, unknown, truncated = prepare_prompt(model, prompt)
    seed = opts.seed if opts.seed is not None else secrets.randbits(63)
    gen = torch.Generator().manual_seed(seed)
    headlines = [Headline(prompt_words=list(prompt_words), forms=model.vocab.forms) for _ in range(opts.num)]
    result = Generation(headlines, list(prompt_words), unknown, truncated, seed)
    # a step's (headlines, chosen ids, what is shown: its logits to work it out from, or (p, alt_p, alt_i))
    pending: list[tuple[list[int], torch.Tensor, Any]] = []

    def show() -> None:
        for members, chosen, what in pending:
            p, alt_p, alt_i = _shown(what, chosen, opts.alternatives) if torch.is_tensor(what) else what
            shown = zip(members, chosen.tolist(), p.tolist(), alt_i.tolist(), alt_p.tolist())
            for idx, tok, prob, alt_ids, alt_probs in shown:
                h = headlines[idx]
                if tok == EOS_ID:
                    h.ended = True
                    continue
                h.words.append(itos[tok])
                h.probs.append(prob)
                h.alternatives.append([(itos[j], q) for j, q in zip(alt_ids, alt_probs) if q > 0])
        pending.clear()

    prefix = torch.tensor([[BOS_ID, *model.vocab.encode(prompt_words)]], dtype=torch.long)
    device = model.device
    dtype = opts.step_dtype(device)
    step_fn = stepper(model, dtype)  # bound to the weights once a request
    logits, state = _run(model, prefix.to(device), step_fn, dtype)
    rows = torch.zeros(opts.num, dtype=torch.long)
    logits, state = logits.index_select(0, rows), model.select_state(state, rows.to(device))
    active = list(range(opts.num))  # which headlines the batch rows belong to
    masks = {allow: _emit_mask(logits.size(-1), allow) for allow in (False, True)}  # built once a request
    compiled = opts.compiled_sampler(logits.size(-1))
    temperature = None if opts.temperature < GREEDY_BELOW else opts.temperature
    shown_at, waiting = None, 0  # when an item was last yielded; the logits not shown yet
    for step in range(opts.max_words):
        allow_eos = step >= max(opts.min_words, 1)  # every headline gets a new word, whatever its seed
        if compiled:
            chosen, *shown = kernels.pick(logits, masks[allow_eos], temperature, opts.top_p, opts.alternatives, gen)
            pending.append((active, chosen, tuple(shown)))
        else:
            chosen = _choose(logits, opts, gen, masks[allow_eos])
            pending.append((active, chosen, logits))
            waiting += logits.numel()
        keep = [row for row, tok in enumerate(chosen.tolist()) if tok != EOS_ID]
        if not keep or step == opts.max_words - 1:
            break
        now = time.perf_counter()
        if shown_at is None or now - shown_at >= every:
            show()
            shown_at, waiting = now, 0
            yield result
        elif waiting >= PENDING_FLOATS:
            show()
            waiting = 0
        if len(keep) < len(active):  # finished headlines leave the batch
            sel = torch.tensor(keep, dtype=torch.long)
            active, chosen = [active[row] for row in keep], chosen.index_select(0, sel)
            state = model.select_state(state, sel.to(device))
        logits, state = _step(step_fn, chosen.to(device), state)
    show()
    result.done = True
    yield result


def generate(model: HeadlineModel, prompt: str = "", **options: Any) -> Generation:
    """All headlines of a request, at once. Options as in :class:`Options`."""
    *_, last = stream(model, prompt, every=math.inf, **options)
    return last


__all__ = ["Generation", "Headline", "Options", "generate", "make_options", "prepare_prompt", "stream"]
