"""A seeded, deterministic summarization corpus for offline use and tests.

    from asymprune.synthetic import make_examples
    rows = make_examples(n=1000, seed=0)   # [{"document": ..., "summary": ...}, ...]

Each document has 8-15 sentences. 3-4 of them are key facts (entities, numbers,
events) at random positions, never the first sentence. The others are distractors:
most restate the same fact templates with other entities behind a hedge ("It was
rumoured that ...", "Last year, ..."), the rest are filler. The summary restates the
key facts, in document order, in a short form. A model therefore has to read the
document and tell plain statements from hedged ones: no fixed position can be copied.
"""

from __future__ import annotations

import random

PEOPLE = [
    "Alice Moreau", "Bram Jansen", "Chen Wei", "Dara Okafor", "Elena Petrova", "Farid Haddad",
    "Greta Lind", "Hugo Ferreira", "Ines Duarte", "Jonas Berg", "Kofi Mensah", "Lena Novak",
    "Marco Rossi", "Nadia Karim", "Oscar Vidal", "Priya Nair", "Quentin Blanc", "Rosa Ortiz",
    "Samir Aziz", "Tara Quinn", "Umar Shah", "Vera Sokol", "Wim de Vries", "Yara Haddad",
]
CITIES = [
    "Lisbon", "Oslo", "Nairobi", "Lima", "Hanoi", "Krakow", "Porto", "Dublin", "Quito", "Accra",
    "Tallinn", "Seville", "Osaka", "Perth", "Bergen", "Valencia", "Cork", "Tunis", "Leeds", "Graz",
]
ORGS = [
    "Northwind Bank", "Atlas Rail", "Blue Harbor Foods", "Crestline Energy", "Delta Textiles",
    "Evergreen Labs", "Falcon Airways", "Granite Media", "Horizon Telecom", "Ivory Steel",
    "Juniper Motors", "Keystone Pharma", "Lumen Software", "Meridian Shipping",
]
EVENTS = [
    "marathon", "chess final", "film festival", "science fair", "jazz contest", "cycling race",
    "book award", "robot league", "rowing regatta", "cooking cup", "poetry prize", "debate cup",
]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ITEMS = ["bridges", "schools", "roads", "clinics", "parks", "stations", "libraries", "markets"]

# (full sentence in the document, short form in the summary)
FACTS = [
    ("{person} of {city} won the {event} with a score of {num}.", "{person} won the {event} with {num}."),
    ("{org} reported a profit of {num} million dollars in {month}.", "{org} made {num} million in {month}."),
    ("{num} thousand people attended the {event} in {city} on {day}.", "{num} thousand attended the {event} in {city}."),
    ("{person} was appointed chief executive of {org} in {month}.", "{person} leads {org} from {month}."),
    ("Heavy storms closed {num} {items} near {city} on {day}.", "storms closed {num} {items} near {city}."),
    ("{org} will open {num} new offices in {city} next year.", "{org} opens {num} offices in {city}."),
    ("The council of {city} approved {num} new {items} in {month}.", "{city} approved {num} {items}."),
    ("{person} finished the {event} in {city} in {num} minutes.", "{person} ran the {event} in {num} minutes."),
]
HEDGES = [
    "It was rumoured that {fact}",
    "Last year, {fact}",
    "Critics wrongly claimed that {fact}",
    "Some analysts had predicted that {fact}",
    "An early draft suggested that {fact}",
]
FILLER = [
    "The weather was mild for the season.",
    "Officials declined to comment further.",
    "Local cafes reported a busy afternoon.",
    "Traffic was heavier than usual in the morning.",
    "A spokesperson said more details would follow.",
    "Residents shared photos on social media.",
    "The report was published late in the evening.",
    "Several questions remain unanswered.",
    "Observers called it an unusual week.",
    "The statement was read out at a press briefing.",
]


def _fill(rng: random.Random, template: str, values: dict | None = None) -> dict:
    values = dict(values or {})
    pools = {"person": PEOPLE, "city": CITIES, "org": ORGS, "event": EVENTS, "month": MONTHS,
             "day": DAYS, "items": ITEMS}
    for key, pool in pools.items():
        if "{" + key + "}" in template and key not in values:
            values[key] = rng.choice(pool)
    if "{num}" in template and "num" not in values:
        values["num"] = str(rng.randint(2, 99))
    return values


def _lower_first(s: str) -> str:
    # Keep proper nouns capitalised: only lower a leading article.
    return "the" + s[3:] if s.startswith("The ") else s


def make_example(rng: random.Random) -> dict:
    """One document/summary pair drawn from `rng`."""
    n_sent = rng.randint(8, 15)
    n_key = rng.randint(3, 4)
    key_positions = sorted(rng.sample(range(1, n_sent), n_key))  # never the first sentence
    sentences, summary = [], []
    for i in range(n_sent):
        if i in key_positions:
            full, short = rng.choice(FACTS)
            values = _fill(rng, full)
            sentences.append(full.format(**values))
            summary.append(short.format(**values))
        elif rng.random() < 0.6:
            full, _ = rng.choice(FACTS)
            fact = full.format(**_fill(rng, full))
            sentences.append(rng.choice(HEDGES).format(fact=_lower_first(fact)))
        else:
            sentences.append(rng.choice(FILLER))
    summary_text = " ".join(s[0].upper() + s[1:] for s in summary)
    return {"document": " ".join(sentences), "summary": summary_text}


def make_examples(n: int, seed: int | str = 0) -> list[dict]:
    """`n` deterministic examples for `seed` (an int, or a string such as "0:test")."""
    rng = random.Random(seed)
    return [make_example(rng) for _ in range(n)]


def tokenizer_training_text(seed: int = 0) -> list[str]:
    """Text to train preset tokenizers on: every word the corpus can produce, plus a sample."""
    words = " ".join(PEOPLE + CITIES + ORGS + EVENTS + MONTHS + DAYS + ITEMS + [str(i) for i in range(100)])
    templates = [t for pair in FACTS for t in pair] + HEDGES + FILLER
    sample = ["summarize: " + r["document"] + " " + r["summary"] for r in make_examples(2000, seed)]
    return [words, " ".join(templates)] + sample
