"""A template generator of SYNTHETIC customer feedback with ORG/PRODUCT spans.

Everything here is made up by this module (no external text): templates are
filled with names from a small built-in product/company list plus invented
brand and model names, so that the NER learns the *shape* of product mentions
("<Brand> <Line> <model number> <suffix>") rather than a fixed list.  Sentiment
templates cover what hand-written feedback does and tweets do not: questions
and requests (neutral), negated praise ("not worth it"), negated complaints
("can't complain"), and sarcasm ("love waiting on hold").

Measured on dev (never trained on): a larger template set (slang praise, "not a single
problem", mixed messages, questions about problems, lower-cased variants) raised the
validation score but lowered dev sentiment accuracy by ~3 points and NER F1 by ~1, so
it was not kept: templates teach their own phrasing as much as the phenomenon.

Over 400 lines because most of it is data (names, phrases, templates); the generator is
the last ~80 lines.
"""

from __future__ import annotations

import random
import re

from .schema import Record

# (brand, product line) pairs; the brand may be written before the line ("Dyson V15").
PRODUCTS = [
    ("Apple", "iPhone 15 Pro"),
    ("Apple", "iPhone 14"),
    ("Apple", "MacBook Air"),
    ("Apple", "MacBook Pro"),
    ("Apple", "AirPods Pro"),
    ("Apple", "iPad mini"),
    ("Apple", "Apple Watch Series 9"),
    ("Samsung", "Galaxy S24 Ultra"),
    ("Samsung", "Galaxy A54"),
    ("Samsung", "Galaxy Buds2 Pro"),
    ("Samsung", "Galaxy Tab S9"),
    ("Google", "Pixel 8 Pro"),
    ("Google", "Pixel 7a"),
    ("Google", "Nest Hub"),
    ("Amazon", "Kindle Paperwhite"),
    ("Amazon", "Echo Dot"),
    ("Amazon", "Fire TV Stick 4K"),
    ("Sony", "WH-1000XM5"),
    ("Sony", "PlayStation 5"),
    ("Sony", "Bravia XR"),
    ("Microsoft", "Surface Pro 9"),
    ("Microsoft", "Xbox Series X"),
    ("Nintendo", "Switch OLED"),
    ("Dell", "XPS 13"),
    ("Lenovo", "ThinkPad X1 Carbon"),
    ("HP", "Envy x360"),
    ("Asus", "ROG Zephyrus G14"),
    ("Bose", "QuietComfort Ultra"),
    ("Dyson", "V15 Detect"),
    ("Dyson", "Airwrap"),
    ("iRobot", "Roomba j7"),
    ("Garmin", "Forerunner 265"),
    ("Fitbit", "Charge 6"),
    ("GoPro", "Hero 12"),
    ("Canon", "EOS R50"),
    ("Nikon", "Z50"),
    ("Philips", "Sonicare 9900"),
    ("Nespresso", "Vertuo Next"),
    ("Instant Pot", "Duo Crisp"),
    ("KitchenAid", "Artisan mixer"),
    ("Tesla", "Model 3"),
    ("Toyota", "RAV4 Hybrid"),
    ("Ford", "F-150 Lightning"),
    ("OnePlus", "Nord 3"),
    ("Xiaomi", "Redmi Note 13"),
    ("Anker", "PowerCore 10000"),
    ("Logitech", "MX Master 3S"),
    ("Razer", "BlackWidow V4"),
    ("JBL", "Flip 6"),
    ("Sonos", "Era 100"),
    ("Ring", "Video Doorbell 4"),
    ("Oral-B", "iO Series 9"),
    ("Shark", "Navigator NV360"),
    ("Breville", "Barista Express"),
    ("Vitamix", "E310"),
    ("Peloton", "Bike+"),
    ("Oura", "Ring Gen3"),
    ("Meta", "Quest 3"),
    ("DJI", "Mini 4 Pro"),
]
ORGS = [
    "Comcast",
    "Verizon",
    "AT&T",
    "T-Mobile",
    "Vodafone",
    "BT",
    "Sky",
    "Xfinity",
    "Spectrum",
    "Ryanair",
    "easyJet",
    "Delta",
    "United Airlines",
    "American Airlines",
    "Lufthansa",
    "British Airways",
    "Southwest",
    "KLM",
    "Emirates",
    "Amazon",
    "Walmart",
    "Target",
    "Best Buy",
    "IKEA",
    "Wayfair",
    "Costco",
    "Argos",
    "Currys",
    "Home Depot",
    "eBay",
    "Etsy",
    "Zalando",
    "DoorDash",
    "Uber Eats",
    "Deliveroo",
    "Instacart",
    "FedEx",
    "UPS",
    "DHL",
    "Royal Mail",
    "USPS",
    "Chase",
    "Barclays",
    "HSBC",
    "Monzo",
    "Revolut",
    "Wells Fargo",
    "PayPal",
    "Hilton",
    "Marriott",
    "Airbnb",
    "Expedia",
    "Booking.com",
    "Hertz",
    "Avis",
    "Uber",
    "Lyft",
    "Samsung",
    "Apple",
    "Google",
    "Microsoft",
    "Sony",
    "Dell",
    "HP",
    "Lenovo",
    "Dyson",
    "Bosch",
    "Whirlpool",
    "Tesco",
    "Sainsbury's",
    "Aldi",
    "Lidl",
    "Kroger",
    "Starbucks",
    "McDonald's",
    "Chipotle",
    "Nike",
    "Adidas",
    "Zara",
    "H&M",
    "Netgear",
    "Geico",
    "Allstate",
]
_SYLLABLES = [
    "zen",
    "tro",
    "lu",
    "mo",
    "ra",
    "vi",
    "ka",
    "nex",
    "por",
    "tel",
    "qua",
    "sol",
    "ve",
    "ri",
    "on",
    "ax",
    "ion",
    "fy",
    "dy",
    "no",
    "sa",
    "mi",
    "kor",
]
_LINES = [
    "Aero",
    "Nova",
    "Pulse",
    "Vibe",
    "Spark",
    "Flex",
    "Edge",
    "Core",
    "Volt",
    "Echo",
    "Orbit",
    "Zen",
    "Halo",
    "Swift",
    "Prime",
]
_SUFFIXES = ["Pro", "Max", "Plus", "Ultra", "Mini", "Lite", "SE", "X", "S", "Air", "Neo"]

CATEGORIES = [
    "phone",
    "laptop",
    "headphones",
    "earbuds",
    "vacuum",
    "blender",
    "router",
    "tablet",
    "smartwatch",
    "speaker",
    "TV",
    "camera",
    "coffee machine",
    "e-reader",
    "keyboard",
    "mouse",
]
ISSUES = [
    "the battery dies after two hours",
    "it keeps disconnecting from wifi",
    "the screen cracked after a week",
    "it won't turn on anymore",
    "the app crashes on login",
    "it overheats when charging",
    "the left earbud stopped working",
    "it makes a grinding noise",
    "the update bricked it",
    "the charger stopped working",
    "it randomly reboots",
    "the touchscreen is unresponsive",
    "the bluetooth keeps dropping",
]
PRAISES = [
    "the battery lasts for days",
    "setup took five minutes",
    "the sound is incredible",
    "the camera is fantastic",
    "it is super quiet",
    "it just works",
    "the build quality is excellent",
    "it charges really fast",
    "the screen is gorgeous",
    "customer support replaced it without any fuss",
    "it is so easy to use",
]
SERVICE_BAD = [
    "cancelled my flight with no explanation",
    "charged me twice",
    "lost my package",
    "kept me on hold for two hours",
    "still hasn't refunded me",
    "sent the wrong item",
    "delivered it three days late",
    "closed my ticket without fixing anything",
    "hung up on me twice",
    "raised my bill again without telling me",
]
SERVICE_GOOD = [
    "refunded me within a day",
    "sorted out my issue in ten minutes",
    "delivered a day early",
    "upgraded us for free",
    "replaced it no questions asked",
    "had the friendliest staff",
    "fixed my connection the same afternoon",
    "went above and beyond to help",
]
TEMPLATES = {
    "positive": [
        "Love my new {P}, {praise}.",
        "The {P} is brilliant, {praise}.",
        "Really happy with the {P}. {Praise}!",
        "{O} {good}. Great service!",
        "Huge thanks to {O}, they {good}.",
        "Honestly the best {cat} I've owned, the {P}.",
        "Can't complain, {O} {good}.",
        "not bad at all, the {P} is worth every penny",
        "Wasn't expecting much but the {P} impressed me. {Praise}.",
        "five stars for {O}, they {good}",
        "{P} is amazing!! {praise} 😍",
        "Switched to {O} last year and never looked back.",
        "my {P} is still going strong after two years",
        "Credit where it's due: {O} {good}.",
        "So glad I bought the {P}, {praise}.",
        "{O} customer service was excellent today.",
        "No complaints at all about the {P}.",
        "Been using the {P} for a month and {praise}. Highly recommend.",
        "the {P} exceeded my expectations tbh",
        "Impressed with {O}, they {good}. Thank you!",
    ],
    "negative": [
        "My {P} is useless, {issue}.",
        "{O} {bad}. Never again.",
        "Avoid {O}. They {bad}.",
        "Terrible experience with {O}, they {bad}.",
        "Not worth the money. The {P}: {issue}.",
        "The {P} was great for a month, then {issue}.",
        "Love waiting on hold with {O}. Really.",
        "Thanks {O} for losing my order again. Brilliant.",
        "worst {cat} ever, the {P}. {Issue}",
        "Really disappointed with the {P}. {Issue}.",
        "{O} {bad} and nobody will help.",
        "Hi, {O} {bad}. Can someone please sort this out?",
        "I want a refund for my {P}, {issue}.",
        "Why does my {P} keep failing? {Issue}. So frustrating.",
        "{P} stopped working. {Issue}. Unacceptable.",
        "Wow, great job {O}, you {bad}. Classy.",
        "Do not buy the {P}. {Issue}.",
        "Three weeks later and {O} still hasn't replied.",
        "{O} support is a joke, they {bad}.",
        "never again {O}",
        "the {P} is overpriced junk, {issue}",
    ],
    "neutral": [
        "Does the {P} support USB-C charging?",
        "How do I reset my {P}?",
        "Is the {P} compatible with the {P2}?",
        "What's the difference between the {P} and the {P2}?",
        "Please add dark mode to the {O} app.",
        "Can {O} deliver on Sundays?",
        "I ordered the {P} on Tuesday, it should arrive Friday.",
        "My {P} arrived today.",
        "Hi, I'd like to change the billing date on my {O} account.",
        "Does {O} ship to Canada?",
        "Where can I find the serial number on the {P}?",
        "Switching from the {P} to the {P2} next month.",
        "Is there a student discount at {O}?",
        "What time does {O} customer service open?",
        "I have the {P} and I'm thinking about a case.",
        "Any news on when the {P} firmware update comes out?",
        "Could you add the {P} to the trade-in list?",
        "Just picked up a {P} from {O}.",
        "How long is the warranty on the {P}?",
        "Does anyone know if {O} price matches?",
        "We use the {P} in our office.",
        "Can I return the {P} to {O} without a receipt?",
        "Please send me the manual for the {P}.",
    ],
}
_SLOT = re.compile(r"\{(\w+)\}")


def _invented_brand(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()


def _invented_product(rng: random.Random) -> str:
    parts = [_invented_brand(rng)] if rng.random() < 0.6 else []
    parts.append(rng.choice(_LINES))
    number = rng.choice([str(rng.randint(2, 15)), f"{rng.choice('XSAZ')}{rng.randint(1, 99)}", ""])
    if number:
        parts.append(number)
    if rng.random() < 0.4:
        parts.append(rng.choice(_SUFFIXES))
    return " ".join(parts)


def _product(rng: random.Random) -> str:
    if rng.random() < 0.3:
        name = _invented_product(rng)
    else:
        brand, line = rng.choice(PRODUCTS)
        name = f"{brand} {line}" if rng.random() < 0.5 and not line.startswith(brand) else line
    return name.lower() if rng.random() < 0.1 else name


def _org(rng: random.Random) -> str:
    name = _invented_brand(rng) if rng.random() < 0.2 else rng.choice(ORGS)
    return name.lower() if rng.random() < 0.08 else name


def render(template: str, rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """Fill a template's slots; returns the text and its ORG/PRODUCT spans."""
    text, spans, pos = "", [], 0
    for m in _SLOT.finditer(template):
        text += template[pos : m.start()]
        slot = m.group(1)
        label = {"P": "PRODUCT", "P2": "PRODUCT", "O": "ORG"}.get(slot)
        if label == "PRODUCT":
            value = _product(rng)
        elif label == "ORG":
            value = _org(rng)
        else:
            pool = {
                "praise": PRAISES,
                "issue": ISSUES,
                "good": SERVICE_GOOD,
                "bad": SERVICE_BAD,
                "cat": CATEGORIES,
            }[slot.lower()]
            value = rng.choice(pool)
            if slot[0].isupper():
                value = value[0].upper() + value[1:]
        if label:
            spans.append((len(text), len(text) + len(value), label))
        text += value
        pos = m.end()
    text += template[pos:]
    return text, spans


def generate(n: int, seed: int = 0) -> list[Record]:
    """`n` distinct synthetic records, balanced over the three sentiments."""
    rng = random.Random(seed)
    labels = list(TEMPLATES)
    seen: set[str] = set()
    out: list[Record] = []
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        sentiment = labels[len(out) % len(labels)]
        text, spans = render(rng.choice(TEMPLATES[sentiment]), rng)
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append(Record(text, sentiment, spans, "synthetic-templates"))
    return out
