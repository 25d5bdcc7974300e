"""Container names: the ones a user may give, and the generated ones (adjective_scientist)."""

from __future__ import annotations

import os
import re

VALID = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")  # Docker's; use fullmatch (`$` lets "x\n" through)

_ADJECTIVES = [
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nifty",
    "quirky",
    "sharp",
    "tender",
    "vivid",
    "witty",
    "zen",
    "bold",
    "cool",
    "dreamy",
]
_NAMES = [
    "turing",
    "hopper",
    "lovelace",
    "knuth",
    "ritchie",
    "thompson",
    "torvalds",
    "liskov",
    "hamilton",
    "dijkstra",
    "shannon",
    "noether",
    "curie",
    "babbage",
    "wozniak",
    "kay",
    "lamport",
    "perlman",
]


def generate(taken: set[str]) -> str:
    """A random `adjective_name` that is not in `taken`."""
    while True:
        a, b = os.urandom(2)
        name = f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_NAMES[b % len(_NAMES)]}"
        if name not in taken:
            return name
