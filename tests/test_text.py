import pytest
from conftest import DATA

from lstm_textgen.text import choose_forms, clean, count_forms, headline_case, printed_words


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
    with pytest.raises(TypeError, match="clean\\(\\) expects a string, got NoneType"):
        clean(None)  # type: ignore[arg-type]


def test_headline_case_is_the_times_style():
    assert (
        headline_case(["divide", "in", "the", "gop", "over", "a", "tax", "plan"]) == "Divide in the Gop Over a Tax Plan"
    )
    assert headline_case(["the"]) == "The"
    # the Times lowercases articles, short conjunctions and prepositions of 2-3 letters, not "with" or "up"
    assert headline_case(["what", "are", "you", "up", "to"]) == "What Are You Up To"
    assert headline_case(["a", "fight", "with", "china", "from", "the", "start"]) == "A Fight With China From the Start"
    assert headline_case([]) == ""


def test_printed_words_keep_what_cleaning_removes():
    assert printed_words("“Fire and Fury” — Trump’s Warning to the G.O.P. on 1,000 iPhones") == [
        ("fire", "Fire"),
        ("and", "and"),
        ("fury", "Fury"),
        ("trumps", "Trump’s"),
        ("warning", "Warning"),
        ("to", "to"),
        ("the", "the"),
        ("gop", "G.O.P."),
        ("on", "on"),
        ("1000", "1,000"),
        ("iphones", "iPhones"),
    ]
    assert printed_words("They're 'Here'") == [("theyre", "They’re"), ("here", "Here")]  # straight quotes curled
    assert [t for t, _ in printed_words("Café—Société 🌀 ｔｅｘｔ!")] == clean("Café—Société 🌀 ｔｅｘｔ!").split()


def _learned(*lines: str) -> dict[str, str]:
    counts = count_forms(lines)
    return choose_forms(counts, {t for line in lines for t in clean(line).split()})


def test_forms_are_learned_from_the_middle_of_title_case_headlines():
    forms = _learned(*(DATA / "cased.txt").read_text(encoding="utf-8").splitlines())
    assert forms["gop"] == "G.O.P." and forms["mr"] == "Mr." and forms["tv"] == "TV" and forms["iphone"] == "iPhone"
    assert forms["whats"] == "What’s" and forms["theyre"] == "They’re" and forms["us"] == "U.S."
    assert forms["going on"] == "On"  # "What’s Going On in ...": after "going", "on" is printed "On"
    assert "in" not in forms and "the" not in forms and "picture" not in forms  # the defaults already print them
    assert headline_case(["whats", "going", "on", "in", "the", "gop"], forms) == "What’s Going On in the G.O.P."
    assert headline_case(["mr", "trump", "takes", "on", "the", "epa"], forms) == "Mr. Trump Takes on the E.P.A."
    assert headline_case(["iphone", "sales", "in", "the", "us"], forms) == "iPhone Sales in the U.S."


def test_forms_ignore_one_offs_plain_capitals_of_first_and_last_words_and_lowercase_text():
    assert _learned("They Can Hit a Ball 400 Feet. But Play Catch?") == {}  # "Feet." once is not a form
    assert _learned("the gop and the epa meet", "the gop and the epa meet") == {}  # no case: nothing to learn
    assert _learned("If Rain Comes Early", "If Rain Falls Early") == {}  # "If" first says nothing of "if"
    assert _learned("GOP Wins Big", "Big Win for the GOP") == {"gop": "GOP"}  # but "GOP" says something anywhere


def test_sentence_case_and_words_after_a_hyphen_teach_only_spellings():
    # "wins" is lowercase in sentence case, "election" after a hyphen: neither says how the Times prints them
    assert _learned("Nadal wins French Open Title", "Federer wins Wimbledon Again Today") == {}
    assert _learned("The Re-election of a Senator Looms", "Why a Re-election Bid Failed Again") == {}
    # but a spelling is a spelling anywhere: "iPhone" and "what’s" (capitalised, as a headline prints it)
    assert _learned(
        "Apple says the new iPhone is late",
        "why the iPhone costs more and what’s next",
        "Markets: what’s wrong with them",
    ) == {"iphone": "iPhone", "whats": "What’s"}


def test_a_full_stop_or_colon_is_not_part_of_the_next_words_form():
    assert printed_words("The Party Is Over. Now What? Mr. Trump and Gov. Brown")[3:7] == [
        ("over", "Over"),
        ("now", "Now"),
        ("what", "What"),
        ("mr", "Mr."),
    ]
    # after "Recap:" the Times capitalises whatever comes: that says nothing of "the" after "recap"
    assert (
        _learned(
            "Girls Season 6 Recap: The End of the Affair",
            "Girls Season 6 Recap: The Last Dance Begins",
            "Girls Season 6 Recap: The Bitter End of It",
        )
        == {}
    )


def test_the_opening_of_a_headline_keeps_its_small_words_small():
    assert headline_case(["how", "to"]) == "How To"  # a whole headline ends on a capital
    assert headline_case(["how", "to"], complete=False) == "How to"
    assert headline_case(["whats", "going", "on"], {"whats": "What’s"}, complete=False) == "What’s Going on"
