"""Seeded English sentences of 6 to 20 words, for the synthetic speech corpus.

    sentences(3, seed="0:test")
    # ['Our neighbour painted the old fence near the harbour on Sunday.', 'Did Emma order 14 ...?', ...]

Statements, questions and requests are built from a few hundred words: people and places,
everyday objects, times, prices, counts and years written as digits (espeak-ng reads them out,
and Whisper's normaliser compares "forty two" and "42" as equal). The mix of short and long
sentences, numbers and names is what an ASR test set looks like; no template repeats word for word.
"""

from __future__ import annotations

import random

MIN_WORDS, MAX_WORDS = 6, 20
GENERATOR = 1  # bump whenever the sentences for a seed change: cached corpora are keyed by it

FIRST_NAMES = [
    "Emma", "Oliver", "Sophie", "James", "Grace", "Daniel", "Hannah", "Thomas", "Lucy", "Samuel", "Chloe",
    "Henry", "Alice", "Jack", "Ruth", "David", "Laura", "Peter", "Sarah", "Michael", "Anna", "George",
    "Helen", "Robert", "Megan", "Simon", "Julia", "Martin", "Rachel", "Adam",
]
SURNAMES = [
    "Taylor", "Brown", "Wilson", "Walker", "Wright", "Green", "Hall", "Wood", "Clarke", "Turner", "Hill",
    "Cooper", "Ward", "Morris", "Baker", "Carter", "Murray", "Fisher", "Palmer", "Hughes",
]
RELATIVES = ["mother", "father", "sister", "brother", "uncle", "aunt", "cousin", "neighbour", "friend", "teacher",
             "doctor", "manager", "landlord", "colleague"]
PLACES = ["London", "Boston", "Chicago", "Dublin", "Toronto", "Seattle", "Denver", "Glasgow", "Sydney", "Madrid",
          "Houston", "Phoenix", "Oxford", "Leeds", "Portland", "Austin", "Vienna", "Lisbon", "Cairo", "Berlin"]
SITES = ["station", "library", "harbour", "market", "hospital", "airport", "museum", "bakery", "garden", "bridge",
         "school", "office", "church", "theatre", "river", "stadium", "post office", "car park", "hotel", "farm"]
NOUNS = [
    "letter", "ticket", "bicycle", "window", "kettle", "ladder", "parcel", "report", "camera", "blanket",
    "lamp", "table", "engine", "basket", "jacket", "map", "radio", "carpet", "fence", "bottle", "painting",
    "key", "umbrella", "notebook", "guitar", "battery", "wallet", "chair", "boat", "clock", "suitcase",
    "sandwich", "shelf", "printer", "garden hose", "phone", "recipe", "invoice", "mirror", "tent",
]
ADJECTIVES = ["old", "new", "small", "heavy", "broken", "red", "blue", "quiet", "clean", "empty", "wooden",
              "green", "expensive", "cheap", "strange", "yellow", "bright", "narrow", "famous", "spare",
              "missing", "second", "large", "warm", "wet"]
VERBS = [  # (past, base) of transitive verbs
    ("bought", "buy"), ("painted", "paint"), ("found", "find"), ("repaired", "repair"), ("sold", "sell"),
    ("carried", "carry"), ("ordered", "order"), ("moved", "move"), ("checked", "check"), ("cleaned", "clean"),
    ("opened", "open"), ("delivered", "deliver"), ("borrowed", "borrow"), ("returned", "return"),
    ("washed", "wash"), ("packed", "pack"), ("lost", "lose"), ("described", "describe"), ("hid", "hide"),
    ("dropped", "drop"), ("measured", "measure"), ("photographed", "photograph"), ("signed", "sign"),
    ("collected", "collect"), ("replaced", "replace"), ("kept", "keep"), ("sent", "send"), ("fixed", "fix"),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
UNITS = ["minutes", "hours", "days", "weeks", "miles", "kilometres", "people", "boxes", "pages", "pounds"]
REASONS = ["the {adj} {noun} was too {state}", "it started to rain", "the {site} was closed",
           "{person} asked for it", "the bus was late", "nobody else could do it", "the price went up"]
STATES = ["small", "heavy", "old", "expensive", "noisy", "cold", "late", "short", "dirty", "full"]
OPENERS = ["Yesterday", "Last week", "This morning", "On {day}", "In {month}", "After lunch", "Later that evening",
           "Early on {day}", "In {year}"]
MODIFIERS = [
    "in {place}", "near the {site}", "at the {site}", "on {day}", "in {month}", "at {time}", "with {person}",
    "for {price}", "after {count} {unit}", "because {reason}", "before the {site} closed", "for {person}",
    "on the way to {place}", "behind the {site}", "in {year}", "by {day}", "every {day}",
]


class _Draw:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def person(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.choice(FIRST_NAMES)
        if r < 0.7:
            return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(SURNAMES)}"
        return f"{self.rng.choice(['my', 'our', 'your', 'her', 'his'])} {self.rng.choice(RELATIVES)}"

    def thing(self) -> str:
        noun = self.rng.choice(NOUNS)
        r = self.rng.random()
        if r < 0.2:
            return f"{self.rng.randint(2, 60)} {noun}{'es' if noun.endswith(('ch', 'sh', 's', 'x')) else 's'}"
        words = f"{self.rng.choice(ADJECTIVES)} {noun}" if r < 0.65 else noun
        det = self.rng.choice(["the", "a", "the", "her", "their"])
        if det == "a" and words[0] in "aeiou":
            det = "an"
        return f"{det} {words}"

    def time(self) -> str:
        hour, minute = self.rng.randint(1, 12), self.rng.choice([0, 5, 10, 15, 20, 30, 40, 45, 50])
        return f"{hour}:{minute:02d}" if minute else f"{hour} o'clock"

    def price(self) -> str:
        if self.rng.random() < 0.5:
            return f"{self.rng.randint(2, 500)} dollars"
        return f"{self.rng.randint(2, 90)} pounds {self.rng.randint(10, 95)}"

    def fill(self, template: str) -> str:
        values = {"place": lambda: self.rng.choice(PLACES), "site": lambda: self.rng.choice(SITES),
                  "day": lambda: self.rng.choice(DAYS), "month": lambda: self.rng.choice(MONTHS),
                  "year": lambda: str(self.rng.randint(1950, 2030)), "time": self.time, "price": self.price,
                  "count": lambda: str(self.rng.randint(2, 95)), "unit": lambda: self.rng.choice(UNITS),
                  "person": self.person, "adj": lambda: self.rng.choice(ADJECTIVES),
                  "noun": lambda: self.rng.choice(NOUNS), "state": lambda: self.rng.choice(STATES),
                  "reason": lambda: self.fill(self.rng.choice(REASONS))}
        out = template
        for key, draw in values.items():
            while "{" + key + "}" in out:
                out = out.replace("{" + key + "}", draw(), 1)
        return out

    def modifiers(self) -> str:
        picked = self.rng.sample(MODIFIERS, self.rng.choice([0, 1, 1, 2, 2, 3]))
        return "".join(" " + self.fill(m) for m in picked)

    def sentence(self) -> str:
        past, base = self.rng.choice(VERBS)
        kind = self.rng.random()
        if kind < 0.6:  # statement, sometimes with an opener
            opener = self.fill(self.rng.choice(OPENERS)) + ", " if self.rng.random() < 0.3 else ""
            text = f"{opener}{self.person()} {past} {self.thing()}{self.modifiers()}."
        elif kind < 0.8:  # question
            aux = self.rng.choice(["Did", "Will", "Could", "Should"])
            text = f"{aux} {self.person()} {base} {self.thing()}{self.modifiers()}?"
        else:  # request
            text = f"{self.rng.choice(['Please', 'Remember to', 'Try to', 'Do not'])} {base} " \
                   f"{self.thing()}{self.modifiers()}."
        return text[0].upper() + text[1:]


def sentences(n: int, seed: int | str = 0, exclude: set[str] = frozenset()) -> list[str]:
    """`n` distinct sentences of MIN_WORDS to MAX_WORDS words, the same for the same seed; none in `exclude`."""
    draw, out, seen = _Draw(random.Random(seed)), [], set(exclude)
    while len(out) < n:
        text = draw.sentence()
        if MIN_WORDS <= len(text.split()) <= MAX_WORDS and text not in seen:
            seen.add(text)
            out.append(text)
    return out
