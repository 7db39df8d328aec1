"""The benchmark's own feedback: realistic messages of 5 to 60 words, made up here.

Each message is a few sentences drawn from a grammar of openings, product and company
mentions, complaints, praise, questions and sign-offs, in the registers of app reviews,
support tickets, surveys and tweets. Length follows a target drawn per message (many
short ones, a long tail), so the batch shapes the model sees are those of real traffic.
Deterministic for a seed.
"""

from __future__ import annotations

import random

import orjson

MIN_WORDS = 5
MAX_WORDS = 60

BRANDS = {
    "Apple": ["iPhone 15", "iPhone 13 mini", "MacBook Air", "AirPods Pro", "iPad Air"],
    "Samsung": ["Galaxy S24", "Galaxy A15", "Galaxy Watch 6", "Galaxy Buds FE"],
    "Google": ["Pixel 8", "Pixel 7a", "Pixel Buds Pro", "Nest Thermostat"],
    "Sony": ["WH-1000XM4", "PlayStation 5", "Xperia 10"],
    "Lenovo": ["ThinkPad T14", "Yoga 7", "Legion 5"],
    "Bose": ["QuietComfort 45", "SoundLink Flex"],
    "Philips": ["Hue Bridge", "Airfryer XXL"],
    "Garmin": ["Venu 3", "Edge 540"],
    "Nintendo": ["Switch Lite"],
    "Roborock": ["S8 Pro", "Q7 Max"],
    "Kobo": ["Clara 2E", "Libra Colour"],
    "Fairphone": ["Fairphone 5"],
}
SERVICES = [
    "Netflix", "Spotify", "Uber", "Airbnb", "Deliveroo", "Zalando", "Vodafone", "Comcast",
    "Verizon", "Orange", "Telekom", "Ryanair", "KLM", "Lufthansa", "Amazon", "eBay", "IKEA",
    "Decathlon", "MediaMarkt", "DHL", "UPS", "PostNL", "Revolut", "N26", "PayPal", "Booking.com",
    "Tesco", "Lidl", "Starbucks", "Hertz",
]  # fmt: skip
ASPECTS = [
    "battery life", "screen", "camera", "sound quality", "delivery", "packaging", "price",
    "customer service", "refund", "app", "login", "latest update", "checkout", "invoice",
    "wifi connection", "charging cable", "setup", "subscription", "warranty claim", "tracking",
    "seat", "boarding", "booking", "fingerprint sensor", "keyboard", "fan noise", "size chart",
]  # fmt: skip
CHANNELS = ("app-store", "support", "survey", "tweet", "email", "review", "chat")

_POSITIVE = [
    "I love the {aspect} on my {product}.",
    "The {aspect} of the {product} is excellent, way better than I expected.",
    "{service} sorted it out in ten minutes, really impressed.",
    "Great job {service}, the {aspect} was quick and painless.",
    "Five stars, the {product} just works.",
    "Really love my new {product}!",
    "Honestly the best {aspect} I have had from {service} in years.",
    "The {aspect} is fantastic and the staff were friendly and helpful.",
    "Can't complain, {service} delivered everything on time and well packed.",
    "My {product} arrived a day early and the {aspect} is great.",
    "Thank you {service}, the agent was patient and fixed my {aspect} issue.",
]
_NEGATIVE = [
    "The {aspect} on my {product} stopped working after two weeks.",
    "{service} charged me twice and nobody answers the phone.",
    "Terrible {aspect}, I waited forty minutes on hold with {service}.",
    "My {product} keeps restarting since the {aspect} changed.",
    "Still waiting for my {aspect} from {service}, third email this week.",
    "The {aspect} is a joke, the {product} is going back.",
    "Worst {aspect} ever, seriously {service}.",
    "Really disappointed with {service}, the {aspect} was broken again.",
    "Not worth the money, the {product} overheats and the {aspect} is awful.",
    "{service} cancelled my order without telling me and kept the money.",
    "Love waiting three days for {service} to reply, really great service.",
]
_NEUTRAL = [
    "How do I change the {aspect} settings on the {product}?",
    "Is there a way to move my {service} account to a new email address?",
    "Does the {product} support fast charging with a third party charger?",
    "Please add an option to export the {aspect} history in the {service} app.",
    "My order from {service} ships on Tuesday according to the tracking page.",
    "Can someone from {service} tell me when the {aspect} will be available again?",
    "I bought the {product} last month for my daughter.",
    "Which {product} model has the bigger {aspect}?",
    "Order {order} is listed as delivered but I am not home until Friday.",
]
_DETAILS = [
    "I have been a customer for {years} years.",
    "Order number is {order}.",
    "This happened on the {day} flight as well.",
    "I already tried turning it off and on again.",
    "My partner has the same problem with hers.",
    "The chat bot kept sending me in circles.",
    "It was the {ordinal} time this month.",
    "The box was crushed but everything inside was fine.",
    "I reinstalled the app and cleared the cache twice.",
    "The price went up by {pct} percent since last year.",
    "Shipping took {days} days instead of two.",
    "The manual does not mention this at all.",
    "Support gave me ticket {order} and then closed it.",
]
_CLOSERS = {
    "positive": ["Thanks!", "Would buy again.", "Highly recommended.", "Keep it up!", "Cheers."],
    "negative": ["Please fix this.", "Never again.", "Refund please.", "So annoying.", "Meh."],
    "neutral": ["Any ideas?", "Thanks in advance.", "Waiting for an answer.", "Cheers."],
}
_TWEET_TAGS = ["#fail", "#customerservice", "#happy", "#help", "#unboxing", "🙄", "👍", "😡"]
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def generate(n: int, *, seed: int = 1) -> list[dict]:
    """`n` feedback records `{"id", "text", "channel", "rating"}`, ids `bench-<seed>-<i>`."""
    rng = random.Random(seed)
    return [_record(rng, f"bench-{seed}-{i}") for i in range(n)]


def encode(records: list[dict]) -> list[bytes]:
    """The records as the JSON bytes a producer sends."""
    return [orjson.dumps(record) for record in records]


def word_count(text: str) -> int:
    return len(text.split())


def _record(rng: random.Random, record_id: str) -> dict:
    channel = rng.choice(CHANNELS)
    mood = rng.choices(("positive", "negative", "neutral"), weights=(4, 4, 3))[0]
    text = _text(rng, mood, _target_words(rng), channel)
    rating = {"positive": rng.randint(4, 5), "negative": rng.randint(1, 2)}.get(mood, 3)
    return {"id": record_id, "text": text, "channel": channel, "rating": rating}


def _target_words(rng: random.Random) -> int:
    """Most feedback is short; a long tail writes a paragraph (clipped to 5..60 words)."""
    return max(MIN_WORDS, min(MAX_WORDS, round(rng.lognormvariate(3.0, 0.55))))


def _text(rng: random.Random, mood: str, target: int, channel: str) -> str:
    pools = {"positive": _POSITIVE, "negative": _NEGATIVE, "neutral": _NEUTRAL}
    sentences = [_fill(rng, rng.choice(pools[mood]))]
    while True:  # more sentences, as long as they fit in the target
        sentence = _fill(rng, rng.choice(rng.choice((pools[mood], _DETAILS))))
        if word_count(" ".join([*sentences, sentence])) > target:
            break
        if sentence not in sentences:
            sentences.append(sentence)
    if rng.random() < 0.4:
        sentences.append(rng.choice(_CLOSERS[mood]))
    if channel == "tweet":
        sentences.append(rng.choice(_TWEET_TAGS))
    while len(sentences) > 1 and word_count(" ".join(sentences)) > MAX_WORDS:
        sentences.pop()
    if word_count(" ".join(sentences)) < MIN_WORDS:  # no template is this short; a safety net
        sentences.append("Please get back to me.")
    text = " ".join(sentences)
    if channel in ("tweet", "chat") and rng.random() < 0.3:
        text = text.lower()
    return text


def _fill(rng: random.Random, template: str) -> str:
    brand = rng.choice(list(BRANDS))
    product = rng.choice(BRANDS[brand])
    return template.format(
        product=product if rng.random() < 0.6 else f"{brand} {product}",
        service=rng.choice(SERVICES),
        aspect=rng.choice(ASPECTS),
        order=f"{rng.choice('ABCDEFGH')}{rng.randint(100000, 999999)}",
        years=rng.randint(2, 15),
        day=rng.choice(_DAYS),
        ordinal=rng.choice(("second", "third", "fourth")),
        pct=rng.randint(5, 40),
        days=rng.randint(4, 12),
    )
