"""lstm_textgen: a word-level 5-layer LSTM that writes news headlines.

The public API, used by the CLI (``python -m lstm_textgen``) and the Gradio app alike::

    from lstm_textgen import load_model, generate
    model = load_model("checkpoints/nyt-headlines")
    for h in generate(model, "trump says", num=3, seed=0).headlines:
        print(h.text)
"""

from .checkpoint import (
    default_checkpoint,
    describe,
    load_model,
    push,
    save_checkpoint,
    suggested_prompts,
    torch_device,
)
from .data import Headlines, load_headlines, split
from .errors import CheckpointError, DataError, LstmTextgenError
from .evaluate import Evaluation, evaluate
from .generate import Generation, Headline, Options, generate, make_options, stream
from .model import HeadlineModel, ModelConfig
from .products import bound_kernel_caches
from .recipe import Recipe, fit, quick_data, quick_fit, quick_fit_stream, quick_plan
from .shelf import ModelShelf, UnknownModel
from .text import clean, headline_case
from .train import StopTraining, TrainConfig, train
from .vocab import Vocab, build_vocab

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "Evaluation",
    "Generation",
    "Headline",
    "HeadlineModel",
    "Headlines",
    "LstmTextgenError",
    "ModelConfig",
    "ModelShelf",
    "Options",
    "Recipe",
    "StopTraining",
    "TrainConfig",
    "UnknownModel",
    "Vocab",
    "bound_kernel_caches",
    "build_vocab",
    "clean",
    "default_checkpoint",
    "describe",
    "evaluate",
    "fit",
    "generate",
    "headline_case",
    "load_headlines",
    "load_model",
    "make_options",
    "push",
    "quick_data",
    "quick_fit",
    "quick_fit_stream",
    "quick_plan",
    "save_checkpoint",
    "split",
    "stream",
    "suggested_prompts",
    "torch_device",
    "train",
]
