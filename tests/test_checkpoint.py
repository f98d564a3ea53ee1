import json
import os
import pickle
import shutil

import pytest
import torch

from lstm_textgen import CheckpointError, HeadlineModel, load_model, save_checkpoint
from lstm_textgen.checkpoint import CONFIG_FILE, METRICS_FILE, VOCAB_FILE, WEIGHTS_FILE
from lstm_textgen.model import ModelConfig


def _outputs(model):
    torch.manual_seed(0)
    x = torch.randint(4, model.config.vocab_size, (3, 9))
    with torch.no_grad():
        return model(x)[0]


def test_checkpoint_folder_has_every_file(tiny_checkpoint):
    names = {p.name for p in tiny_checkpoint.iterdir()}
    assert {CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE, METRICS_FILE, "README.md", "training_state.safetensors"} <= names
    card = (tiny_checkpoint / "README.md").read_text()
    assert "5-layer LSTM" in card and "Training curve" in card
    metrics = json.loads((tiny_checkpoint / METRICS_FILE).read_text())
    assert len(metrics["history"]) == 6 and metrics["best"]["epoch"] >= 1
    assert set(metrics["history"][0]) >= {"train_loss", "val_loss", "val_ppl", "tokens_per_s", "seconds"}


def test_save_load_round_trip_is_exact(tiny_model, tmp_path):
    save_checkpoint(tiny_model, tmp_path / "copy")
    again = load_model(tmp_path / "copy")
    assert again.config == tiny_model.config
    assert again.vocab == tiny_model.vocab
    assert again.metrics["history"] == tiny_model.metrics["history"]
    assert torch.equal(_outputs(again), _outputs(tiny_model))
    assert not again.training


def test_a_saved_folder_is_a_hub_model_repo(tiny_model, tmp_path):
    """What the Hub shows and loads: the listed files, a model card with its metadata, config.json as JSON."""
    from huggingface_hub import ModelCard

    from lstm_textgen.checkpoint import HUB_FILES

    save_checkpoint(tiny_model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(HUB_FILES)
    card = ModelCard.load(tmp_path / "m" / "README.md")
    assert card.data.library_name == "lstm_textgen" and card.data.pipeline_tag == "text-generation"
    assert "best validation perplexity" in card.text
    assert json.loads((tmp_path / "m" / "config.json").read_text()) == tiny_model.config.to_dict()
    assert torch.equal(_outputs(load_model(tmp_path / "m")), _outputs(tiny_model))


def test_loads_from_a_hub_repo_id_through_the_hub_cache(tiny_checkpoint, tmp_path):
    """The real huggingface_hub code path, offline: a repo id resolved from a local Hub cache."""
    commit = "0" * 40
    repo = tmp_path / "hub" / "models--someone--headlines"
    shutil.copytree(tiny_checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    model = load_model("someone/headlines", cache_dir=tmp_path / "hub")
    assert torch.equal(_outputs(model), _outputs(load_model(tiny_checkpoint)))
    with pytest.raises(CheckpointError, match="could not be fetched from the Hugging Face Hub"):
        load_model("someone/not-there", cache_dir=tmp_path / "hub")


def _copy(src, tmp_path, name="c"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def test_truncated_weights(tiny_checkpoint, tmp_path):
    c = _copy(tiny_checkpoint, tmp_path)
    data = (c / WEIGHTS_FILE).read_bytes()
    (c / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a valid safetensors file"):
        load_model(c)


def test_corrupt_weights(tiny_checkpoint, tmp_path):
    c = _copy(tiny_checkpoint, tmp_path)
    (c / WEIGHTS_FILE).write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        load_model(c)


def test_nan_weights_are_refused(tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file, save_file

    c = _copy(tiny_checkpoint, tmp_path)
    t = load_file(c / WEIGHTS_FILE)
    t["net.decoder_bias"][0] = float("nan")
    save_file(t, c / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="NaN"):
        load_model(c)


def test_mismatched_config_and_weights(tiny_checkpoint, tmp_path):
    c = _copy(tiny_checkpoint, tmp_path)
    cfg = json.loads((c / CONFIG_FILE).read_text())
    cfg["hidden_dim"] += 1
    (c / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: does not match .*config\.json.*has shape"):
        load_model(c)
    cfg["hidden_dim"] -= 1
    cfg["num_layers"] = 4
    (c / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"unexpected net\.layers\.4"):
        load_model(c)


def test_vocabulary_from_another_model(tiny_checkpoint, tmp_path):
    c = _copy(tiny_checkpoint, tmp_path)
    tokens = json.loads((c / VOCAB_FILE).read_text())
    tokens["tokens"].append("extra")
    (c / VOCAB_FILE).write_text(json.dumps(tokens))
    with pytest.raises(CheckpointError, match=r"vocab\.json: has \d+ tokens but .* says vocab_size"):
        load_model(c)


@pytest.mark.parametrize("missing", [CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE])
def test_missing_files_are_named(tiny_checkpoint, tmp_path, missing):
    c = _copy(tiny_checkpoint, tmp_path)
    (c / missing).unlink()
    with pytest.raises(CheckpointError, match=missing.replace(".", r"\.") + ": missing"):
        load_model(c)


def test_bad_config_json(tiny_checkpoint, tmp_path):
    c = _copy(tiny_checkpoint, tmp_path)
    (c / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json: unreadable or not JSON"):
        load_model(c)
    (c / CONFIG_FILE).write_text(json.dumps({"vocab_size": 10, "arch": "transformer"}))
    with pytest.raises(CheckpointError, match=r"config\.json: not a valid lstm_textgen model config"):
        load_model(c)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/lstm_textgen_pwned",))


def test_pickle_is_never_executed(tiny_checkpoint, tmp_path):
    marker = "/tmp/lstm_textgen_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(CheckpointError, match="pickle files are refused"):
        load_model(evil)
    c = _copy(tiny_checkpoint, tmp_path)
    (c / WEIGHTS_FILE).unlink()
    (c / "pytorch_model.bin").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(CheckpointError, match="only pickle weights, which are refused"):
        load_model(c)
    (c / WEIGHTS_FILE).write_bytes(pickle.dumps(_Boom()))  # a pickle under the safetensors name
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model(c)
    assert not os.path.exists(marker)


def test_missing_local_folder_says_how_to_train(tmp_path):
    with pytest.raises(CheckpointError, match=r"no such checkpoint folder\. Train one with"):
        load_model(tmp_path / "nothing")


def test_loads_on_the_device_asked_for(tiny_checkpoint):
    assert load_model(tiny_checkpoint, device="cpu").device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_model(tiny_checkpoint, device="cuda")


def test_save_refuses_to_overwrite_a_folder_that_is_not_a_checkpoint(tiny_model, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(CheckpointError, match="not an lstm_textgen checkpoint"):
        save_checkpoint(tiny_model, tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_interrupted_swap_is_recovered(tiny_model, tmp_path):
    """A kill between the two renames of a save leaves the old copy beside the path; loading puts it back."""
    target = tmp_path / "ck"
    save_checkpoint(tiny_model, target)
    os.rename(target, tmp_path / ".ck.old-deadbeef")
    model = load_model(target)
    assert target.is_dir() and torch.equal(_outputs(model), _outputs(tiny_model))


def test_untrained_model_without_vocab_cannot_be_saved(tmp_path):
    with pytest.raises(CheckpointError, match="vocabulary"):
        save_checkpoint(HeadlineModel(ModelConfig(vocab_size=10)), tmp_path / "x")


def test_half_precision_weights_halve_the_file_and_load_as_float32(tiny_model, tmp_path):
    import dataclasses

    half = HeadlineModel(dataclasses.replace(tiny_model.config, weights_dtype="float16"))
    half.load_state_dict(tiny_model.state_dict())
    half.vocab, half.metrics = tiny_model.vocab, tiny_model.metrics
    save_checkpoint(tiny_model, tmp_path / "full")
    save_checkpoint(half, tmp_path / "half")
    size = lambda d: (tmp_path / d / WEIGHTS_FILE).stat().st_size
    assert size("half") < 0.55 * size("full")
    loaded = load_model(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert torch.allclose(_outputs(loaded), _outputs(tiny_model), atol=1e-2)
    # the config says how the file stores weights; a file that disagrees is refused
    cfg = json.loads((tmp_path / "half" / CONFIG_FILE).read_text())
    cfg["weights_dtype"] = "float32"
    (tmp_path / "half" / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="is float16, config says weights_dtype float32"):
        load_model(tmp_path / "half")


def test_the_model_cards_example_runs(tiny_checkpoint, capsys):
    card = (tiny_checkpoint / "README.md").read_text()
    code = card.split("```python\n", 1)[1].split("```", 1)[0].replace("PATH_OR_REPO_ID", str(tiny_checkpoint))
    exec(compile(code, "model card", "exec"), {})
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_describe_names_the_folder_not_its_location(tiny_model):
    from lstm_textgen import describe

    info = describe(tiny_model)
    assert info["source"] == "tiny" and info["layers"] == 5 and info["vocab_size"] == len(tiny_model.vocab)
    assert info["pretraining"] is None and len(info["history"]) == 6
