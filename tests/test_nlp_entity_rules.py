"""The rule components after the statistical NER (entity_bounds, brand_cues, entity_filter),
each on hand-made docs: a distractor dropped or trimmed, a real name kept."""

from __future__ import annotations

import pytest
from spacy.language import Language
from spacy.tokens import Doc, Span

from nlp.config import load_config
from nlp.entity_words import is_role_noun, load_lexicon, one_edit_apart, opens_clause
from nlp.pipeline import add_catalogue, catalogue_patterns, load_base

BASE = load_config().ner.base


@pytest.fixture(scope="module")
def nlp() -> Language:
    """The base pipeline's tokenizer and vocabulary, with the rule components (no NER run)."""
    nlp = load_base(BASE)
    for name in ("entity_bounds", "brand_cues", "entity_filter"):
        nlp.add_pipe(name)
    names = ("Amazon", "Next", "Walmart")
    add_catalogue(nlp, [{"name": name, "label": "ORG"} for name in names])
    return nlp


def _doc(nlp: Language, text: str, ents: list[tuple[str, str]]) -> Doc:
    """`text` tokenised, with each (substring, label) of `ents` set as an entity."""
    doc = nlp.make_doc(text)
    spans = []
    for surface, label in ents:
        start = text.index(surface)
        spans.append(doc.char_span(start, start + len(surface), label=label))
    doc.ents = spans
    return doc


def _run(nlp: Language, pipe: str, text: str, ents: list[tuple[str, str]]) -> list[tuple]:
    doc = nlp.get_pipe(pipe)(_doc(nlp, text, ents))
    return [(e.text, e.label_) for e in doc.ents]


# --- entity_bounds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        (
            "Bought Baldur's Gate 3 on sale",
            "Bought Baldur's Gate 3",
            ("Baldur's Gate 3", "PRODUCT"),
        ),
        ("Flew Wizz Air to Faro", "Flew Wizz Air", ("Wizz Air", "PRODUCT")),
        ("Deliveroo 🤡 cancelled again", "Deliveroo 🤡", ("Deliveroo", "PRODUCT")),
        ("18:40 Vueling flight delayed", "18:40 Vueling", ("Vueling", "PRODUCT")),
        ("the uber eats drivr left it outside", "uber eats drivr", ("uber eats", "PRODUCT")),
        ("my new zanussi leaks", "new zanussi", ("zanussi", "PRODUCT")),
        ("Costco on Elm Street opens at 8", "Costco on Elm Street", ("Costco", "PRODUCT")),
        ("Got my Oura Ring yesterday", "Oura Ring yesterday", ("Oura Ring", "PRODUCT")),
        ("FYI the Currys desk closes at 6", "FYI the Currys", ("Currys", "PRODUCT")),
        ("I sent Acme 40 days ago", "Acme 40", ("Acme", "PRODUCT")),
        ("Love paying Ticketmaster $22 in fees", "Ticketmaster $22", ("Ticketmaster", "PRODUCT")),
        ("a house in Swindon I've never seen", "Swindon I", ("Swindon", "PRODUCT")),
        # a product cut down to its maker's name is the company
        ("My Ring doorbell is offline", "Ring doorbell", ("Ring", "ORG")),
        ("the deliveroo rider ate my fries", "deliveroo rider ate", ("deliveroo", "ORG")),
    ],
)
def test_bounds_trim_words_that_are_not_the_name(nlp, text, span, expected) -> None:
    assert _run(nlp, "entity_bounds", text, [(span, "PRODUCT")]) == [expected]


@pytest.mark.parametrize(
    "name",
    [
        "Ben & Jerry's",
        "Dr. Martens",
        "Bank of America",
        "Mac mini",
        "Audi Q4 e-tron",
        "Hulu + Live TV",
        "Nothing Ear (a)",
        "iPhone 15 Pro",
        "Apple Music",
        "Love Island",
        "7-Eleven",
    ],
)
def test_bounds_keep_whole_names(nlp, name) -> None:
    text = f"{name} is what I meant"
    assert _run(nlp, "entity_bounds", text, [(name, "PRODUCT")]) == [(name, "PRODUCT")]


def test_bounds_leave_other_labels_alone(nlp) -> None:
    text = "Bought tickets with Jamal yesterday"
    assert _run(nlp, "entity_bounds", text, [("Jamal yesterday", "PERSON")]) == [
        ("Jamal yesterday", "PERSON")
    ]


# --- entity_filter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Ticket # 4411 is still open", "Ticket #"),
        ("TKT-20931 has had no reply", "TKT-20931"),
        ("Order 55812 arrived broken", "Order 55812"),
        ("Reference 55-1029: please update my number", "Reference 55-1029"),
        ("Update 7.3 broke the widgets", "Update 7.3"),
        ("Since v2.14 it drains the battery", "v2.14"),
        ("Subject: refund", "Subject"),
        ("Re: your complaint", "Re"),
        ("FYI the desk closes at 6", "FYI"),
        ("The GDPR request went unanswered", "GDPR"),
        ("Can I move my ISA to another bank?", "ISA"),
        ("Charged VAT twice", "VAT"),
        ("4G keeps dropping", "4G"),
        ("Paying for 920 Mbps and getting 85", "Mbps"),
        ("Collected 40,000 Avios and no seats", "Avios"),
        ("My Bosch dishwasher throws an E24 error", "E24"),
        ("Kudos to the driver", "Kudos"),
        ("Perfect fit, fast shipping", "Perfect"),
        ("Hotel was spotless", "Hotel"),
        ("Black Friday prices were the same", "Black Friday"),
    ],
)
def test_filter_drops_what_is_not_a_name(nlp, text, span) -> None:
    assert _run(nlp, "entity_filter", text, [(span, "PRODUCT")]) == []


def test_filter_drops_a_reference_code_whatever_its_label_but_keeps_numbers(nlp) -> None:
    text = "TKT-20931 is open, 3 weeks now"
    assert _run(nlp, "entity_filter", text, [("TKT-20931", "NORP"), ("3 weeks", "DATE")]) == [
        ("3 weeks", "DATE")
    ]


def test_filter_drops_an_interjection_whatever_its_label(nlp) -> None:
    assert _run(nlp, "entity_filter", "Meh. The screen is nice", [("Meh", "PERSON")]) == []
    assert _run(nlp, "entity_filter", "Ask Priya about it", [("Priya", "PERSON")]) == [
        ("Priya", "PERSON")
    ]


@pytest.mark.parametrize(
    ("text", "span", "label"),
    [
        ("The Model 3 is the best car I've owned", "Model 3", "PRODUCT"),
        ("Dropped my iPhone 15 once", "iPhone 15", "PRODUCT"),
        ("Dr. Martens used to last a decade", "Dr. Martens", "ORG"),
        ("Ben & Jerry's cookie dough is great", "Ben & Jerry's", "ORG"),
        ("since the Three outage yesterday", "Three", "ORG"),
        ("Spirit cancelled our flight at the gate", "Spirit", "ORG"),
        ("EA put a battle pass in a single-player game", "EA", "ORG"),
        ("Linear is great. We moved to Linear last year", "Linear", "PRODUCT"),
        ("Paid 40,000 for the Volvo EX30", "Volvo EX30", "PRODUCT"),
        ("Ordered from Carhartt twice", "Carhartt", "ORG"),
    ],
)
def test_filter_keeps_real_names(nlp, text, span, label) -> None:
    assert (span, label) in _run(nlp, "entity_filter", text, [(span, label)])


def test_filter_keeps_catalogue_matches_even_when_they_are_words(nlp) -> None:
    doc = _doc(nlp, "Next cancelled my order", [])
    doc.ents = [Span(doc, 0, 1, label="ORG", span_id="Next")]
    assert [(e.text, e.label_) for e in nlp.get_pipe("entity_filter")(doc).ents] == [
        ("Next", "ORG")
    ]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("What's the bag limit on flights to Budapest?", "Budapest"),
        ("Our week in Cornwall was ruined", "Cornwall"),
        ("The dealer in Stuttgart washed my car", "Stuttgart"),
        ("Flew Wizz Air to Budapest, fine for £29", "Budapest"),
    ],
)
def test_filter_relabels_places_after_a_preposition_of_place(nlp, text, span) -> None:
    assert _run(nlp, "entity_filter", text, [(span, "ORG")]) == [(span, "GPE")]


def test_filter_chains_places_and_spares_brands_after_a_switch(nlp) -> None:
    text = "A weekend in Lisbon and Porto"
    assert _run(nlp, "entity_filter", text, [("Lisbon", "ORG"), ("Porto", "PRODUCT")]) == [
        ("Lisbon", "GPE"),
        ("Porto", "GPE"),
    ]
    assert _run(nlp, "entity_filter", "I switched to Octopus", [("Octopus", "ORG")]) == [
        ("Octopus", "ORG")
    ]
    assert _run(nlp, "entity_filter", "Issues in Octopus support", [("Octopus", "ORG")]) == [
        ("Octopus", "ORG")
    ]


def test_filter_names_the_maker_before_an_appliance(nlp) -> None:
    text = "Why does my Vaillant boiler show F28?"
    assert _run(nlp, "entity_filter", text, [("Vaillant", "PRODUCT"), ("F28", "PRODUCT")]) == [
        ("Vaillant", "ORG")
    ]


# --- brand_cues ---------------------------------------------------------------------------------


def _cues(nlp: Language, text: str, ents: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    doc = nlp.get_pipe("catalogue_words")(_doc(nlp, text, list(ents)))
    return [(e.text, e.label_) for e in nlp.get_pipe("brand_cues")(doc).ents]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Ordered a jacket from Carhartt and the zip broke", "Carhartt"),
        ("booked a package holiday with tui and it was awful", "tui"),
        ("sending money home with M-Pesa is easy", "M-Pesa"),
        ("Stuck on hold with Zanussi for an hour", "Zanussi"),
        ("The Zanussi customer service line is closed", "Zanussi"),
        ("Called Hiscox customer service twice", "Hiscox"),
        ("My Tado account logs me out", "Tado"),
        ("Loving Obsidian's app, it finally syncs", "Obsidian"),
        ("it was all arranged on the Hopper app", "Hopper"),
        ("ordered from amazon on monday", "amazon"),
    ],
)
def test_cues_find_brands_the_catalogue_lacks(nlp, text, name) -> None:
    assert _cues(nlp, text) == [(name, "ORG")]


def test_cues_find_both_sides_of_a_switch(nlp) -> None:
    text = "Switched from Evernote to Obsidian last month"
    assert _cues(nlp, text) == [("Evernote", "ORG"), ("Obsidian", "ORG")]


@pytest.mark.parametrize(
    "text",
    [
        "Flew to Budapest for the weekend",
        "ordered from the shop down the road",
        "the delivry driver left it in the rain",
        "my bank account was charged twice",
        "my Mum's account was locked",
        "went with my sister to the cinema",
        "the amazon rainforest documentary app",  # a catalogue word without a brand's cue
        "Thanks for the app update",
        "the Friday delivery never came",
    ],
)
def test_cues_leave_ordinary_words(nlp, text) -> None:
    assert _cues(nlp, text) == []


def test_cues_leave_what_is_already_an_entity(nlp) -> None:
    text = "Perfect fit, the Uniqlo heattech top is warm"
    assert _cues(nlp, text, [("Uniqlo", "ORG")]) == [("Uniqlo", "ORG")]
    text = "Ordered from Argos yesterday"
    assert _cues(nlp, text, [("Argos", "PRODUCT")]) == [("Argos", "PRODUCT")]


# --- words and the catalogue -------------------------------------------------------------------


def test_lexicon_knows_words_and_verb_forms() -> None:
    lexicon = load_lexicon(BASE)
    assert lexicon.is_word("hotel") and lexicon.is_word("Kudos")
    assert not lexicon.is_word("Carhartt") and not lexicon.is_word("tui")
    assert lexicon.is_verb_form("Bought") and lexicon.is_verb_form("installed")
    assert not lexicon.is_verb_form("Love") and not lexicon.is_verb_form("Apple")
    assert lexicon.is_finite_verb("cancelled") and lexicon.is_finite_verb("keeps")
    assert not lexicon.is_finite_verb("was") and not lexicon.is_finite_verb("waiting")


def test_role_nouns_accept_one_typo_in_long_words() -> None:
    lexicon = load_lexicon(BASE)
    assert is_role_noun("drivr", lexicon) and is_role_noun("app", lexicon)
    assert is_role_noun("Courier", lexicon)
    assert not is_role_noun("apple", lexicon) and not is_role_noun("eats", lexicon)
    assert not is_role_noun("washed", lexicon)  # a word of its own, not a misspelt "washer"
    assert one_edit_apart("drivr", "driver") and not one_edit_apart("drvr", "driver")


def test_a_capital_after_a_full_stop_or_colon_opens_a_clause(nlp) -> None:
    doc = nlp.make_doc("Meh. The app: Great, but M-Pesa works")
    opened = [t.text for t in doc if opens_clause(t)]
    assert opened == ["Meh", "The", "Great"]


def test_catalogue_matches_names_that_are_not_words_in_any_case() -> None:
    lexicon = load_lexicon(BASE)
    entries = [
        {"name": "Walmart", "label": "ORG"},
        {"name": "Amazon", "label": "ORG"},
        {"name": "iPhone", "label": "PRODUCT"},
        {"name": "Three", "label": "ORG"},
        {"name": "Trader Joe's", "label": "ORG"},
    ]
    exact, lower, words = catalogue_patterns(entries, lexicon.is_word)
    assert len(exact) == 5
    assert {p["pattern"] for p in lower} == {"Walmart", "iPhone", "Trader Joe's"}
    assert {p["pattern"] for p in words} == {"Amazon", "Three"}


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Asked Zendesk support a simple question", "Zendesk"),
        ("Cupra told me the fix would take weeks", "Cupra"),
        ("Sky still haven't fixed the box", "Sky"),
        ("the Wolt courier app shows the wrong address", "Wolt"),
    ],
)
def test_filter_makes_a_name_that_acts_as_a_company_an_org(nlp, text, span) -> None:
    assert _run(nlp, "entity_filter", text, [(span, "PRODUCT")]) == [(span, "ORG")]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Spotify keeps logging me out", "Spotify"),
        ("Can I pause my Whoop membership?", "Whoop"),
        ("Does it run Linux apps?", "Linux"),
    ],
)
def test_filter_leaves_a_product_in_use_a_product(nlp, text, span) -> None:
    assert _run(nlp, "entity_filter", text, [(span, "PRODUCT")]) == [(span, "PRODUCT")]


def test_filter_makes_a_person_after_a_verb_of_buying_a_product(nlp) -> None:
    text = "Bought Starfield at launch"
    assert _run(nlp, "entity_filter", text, [("Starfield", "PERSON")]) == [("Starfield", "PRODUCT")]
    text = "Called Jamal at the office"
    assert _run(nlp, "entity_filter", text, [("Jamal", "PERSON")]) == [("Jamal", "PERSON")]


def test_filter_drops_a_generic_noun_opening_a_sentence_even_when_it_acts(nlp) -> None:
    text = "Courier left a card while I was home"
    assert _run(nlp, "entity_filter", text, [("Courier", "ORG")]) == []


@pytest.mark.parametrize(
    ("text", "span", "label"),
    [
        ("Stayed near Sea Point for a week", "Sea Point", "GPE"),
        ("Our office in Milton Keynes is closed", "Milton Keynes", "GPE"),
        ("Deciding between Wix and Squarespace", "Wix", "PRODUCT"),
        ("Is the AI included in Notion Plus?", "Notion Plus", "PRODUCT"),
        ("Found it in the Kagi app", "Kagi", "ORG"),
    ],
)
def test_filter_relabels_names_after_in_and_near_but_not_products(nlp, text, span, label):
    got = _run(nlp, "entity_filter", text, [(span, "PRODUCT")])
    assert got == [(span, label)]


@pytest.mark.parametrize(
    "text",
    [
        "Flying to Lisbon with the kids",  # a verb of travel before "to" names a place
        "waited ages for zorblat booking",  # a lower-case word needs "the", "my"... first
        "we had to pre-book the seats",
    ],
)
def test_cues_leave_places_and_odd_words(nlp, text) -> None:
    assert _cues(nlp, text) == []


def test_cues_find_an_airline_after_a_verb_of_travel_and_with(nlp) -> None:
    assert _cues(nlp, "Flew with Loganair last week") == [("Loganair", "ORG")]


def test_cues_relabel_a_brand_the_ner_took_for_a_nationality(nlp) -> None:
    text = "Ordered a jacket from Carhartt and the zip broke"
    assert _cues(nlp, text, [("Carhartt", "NORP")]) == [("Carhartt", "ORG")]
    text = "Sent the form to Marcus yesterday"
    assert _cues(nlp, text, [("Marcus", "PERSON")]) == [("Marcus", "PERSON")]
