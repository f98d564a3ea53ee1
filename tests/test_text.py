import pytest

from lstm_textgen.text import clean, headline_case


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Venezuela’s Descent Into Dictatorship", "venezuelas descent into dictatorship"),
        ("Venezuela's Descent", "venezuelas descent"),  # ASCII and curly apostrophes agree
        ("“Fire and Fury” — Trump’s Warning", "fire and fury trumps warning"),
        ("Divide in G.O.P. Now", "divide in gop now"),
        ("An Ever-Unfolding Story", "an ever unfolding story"),
        ("Fire—and Fury", "fire and fury"),  # an em dash separates words, never glues them
        ("They Can Hit a Ball 400 Feet. But Play Catch?", "they can hit a ball 400 feet but play catch"),
        ("  Trump  Needs \t a   Brain\n", "trump needs a brain"),
        ("Rates up 3.5% to $1,000", "rates up 35 to 1000"),
        ("Storm 🌀 hits 🔥🔥 coast", "storm hits coast"),
        ("东京 Olympics 開幕", "东京 olympics 開幕"),
        ("<b>Bold</b> <script>alert(1)</script>", "b bold b script alert 1 script"),
        ("مرحبا World", "مرحبا world"),
        ("Café Société", "café société"),
        ("ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ", "fullwidth text"),
        ("tab\x00nul\x07bell", "tab nul bell"),
        ("!!! ??? ...", ""),
        ("", ""),
    ],
)
def test_clean(raw, expected):
    assert clean(raw) == expected


def test_clean_is_idempotent():
    for raw in ["“Fire and Fury” — Trump’s Warning", "東京 2020!", "a.b.c-d"]:
        assert clean(clean(raw)) == clean(raw)


def test_clean_rejects_non_text():
    with pytest.raises(TypeError):
        clean(None)  # type: ignore[arg-type]


def test_headline_case():
    assert headline_case("divide in the gop over a tax plan".split()) == "Divide in the Gop Over a Tax Plan"
    assert headline_case(["the"]) == "The"
    assert headline_case("what are you up to".split()) == "What Are You up To"
    assert headline_case([]) == ""
