"""On the real Kaggle NYT headlines in ../shared/data (present in CI and on dev machines only)."""

from conftest import SHARED_NYT, needs_nyt

from lstm_textgen import (
    ModelConfig,
    TrainConfig,
    build_vocab,
    evaluate,
    generate,
    load_headlines,
    load_model,
    split,
    train,
)


@needs_nyt
def test_nyt_files_load_with_their_junk_rows_dropped():
    hl = load_headlines(SHARED_NYT / "ArticlesApril2017.csv")
    rep = hl.files[0]
    assert rep.column == "headline" and rep.rows == 886 and rep.unknown == 55
    assert rep.kept + rep.duplicates + rep.empty == 831  # SOURCES.md: 831 headlines other than Unknown
    everything = load_headlines(SHARED_NYT)
    assert len(everything.files) == 8 and everything.totals()["unknown"] == 8011 - 7389


@needs_nyt
def test_train_a_few_steps_on_april_2017_then_generate(tmp_path):
    hl = load_headlines(SHARED_NYT / "ArticlesApril2017.csv")
    tr, va = split(hl.texts, 10)
    vocab = build_vocab((t.split() for t in tr), min_count=2, form_counts=hl.form_counts)
    assert vocab.forms["trumps"] == "Trump’s" and vocab.forms["us"] == "U.S."  # printed as the Times prints them
    cfg = ModelConfig(vocab_size=len(vocab), emb_dim=32, hidden_dim=64)
    train(
        tr,
        va,
        vocab,
        cfg,
        TrainConfig(epochs=2, batch_size=32, lr=5e-3, warmup_steps=5),
        tmp_path / "m",
        progress=False,
    )
    model = load_model(tmp_path / "m")
    assert model.config.num_layers == 5
    result = generate(model, "Trump’s new", num=3, seed=0, max_words=12)
    assert len(result.headlines) == 3
    assert all(h.text.startswith("Trump’s New") for h in result.headlines)
    ev = evaluate(model, va)
    assert ev.perplexity < len(vocab)  # better than uniform guessing after a few steps
