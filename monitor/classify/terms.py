"""The term syntax of the rule language: parse a term once and expand it into literal patterns.

A *term* is one or more words separated by spaces, matched case-insensitively on whole words
(hyphens count as spaces, so ``cease-fire`` and ``cease fire`` are the same term):

- ``swap`` matches the word and its regular English inflections: swaps, swapped, swapping;
  in a phrase the first and last words take every inflection and the words between their
  plural only, so ``prisoner swap`` also matches "prisoners swapped" and ``end the war``
  "ending the war";
  words already ending in s, and words with letters beyond ASCII, are taken as written;
- ``prisoner*`` matches any word that starts with ``prisoner`` (only the last word may end in ``*``);
- ``=pow`` matches exactly that word, no inflections;
- ``exchange|swap|trade`` offers alternatives for one word slot, so
  ``prisoner|hostage swap|exchange`` covers "prisoner swap", "hostages exchanged", ….
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from math import prod

from monitor.classify.text import fold

_WORD = re.compile(r"^=?[^\s|*=]+\*?$")
MAX_FORMS = 5000  # literal patterns one term may stand for
_VOWELS = set("aeiou")
# Function words keep their one form: "in exchange for" must not become "in exchanges fors".
_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "without",
    ]
)
# Irregular verb forms an analyst would expect "free", "hold", "meet" … to cover.
_IRREGULAR: dict[str, tuple[str, ...]] = {
    "bring": ("brought",),
    "break": ("broke", "broken"),
    "buy": ("bought",),
    "catch": ("caught",),
    "fight": ("fought",),
    "give": ("gave", "given"),
    "go": ("went", "gone"),
    "hold": ("held",),
    "keep": ("kept",),
    "lead": ("led",),
    "let": ("let",),
    "meet": ("met",),
    "seek": ("sought",),
    "sell": ("sold",),
    "send": ("sent",),
    "set": ("set",),
    "sit": ("sat",),
    "speak": ("spoke", "spoken"),
    "strike": ("struck",),
    "take": ("took", "taken"),
    "win": ("won",),
}


class TermError(ValueError):
    """A term that does not follow the term syntax; the message says what is wrong."""


@dataclass(frozen=True)
class Pattern:
    """One literal string to look for, and whether it may be followed by more word characters."""

    text: str
    prefix: bool


def inflections(word: str, last: bool = True) -> set[str]:
    """The regular English inflections of ``word`` (``last``: every one; else the plural
    only). Over-generating a little is harmless."""
    forms = {word}
    if len(word) < 3 or not (word.isascii() and word.isalpha()) or word in _FUNCTION_WORDS:
        return forms
    if word.endswith("s") and not word.endswith("ss"):
        return forms  # taken as an inflected form already ("talks", "relations")
    if word.endswith(("ss", "x", "z", "ch", "sh")):
        forms.add(word + "es")
    elif word.endswith("y") and word[-2] not in _VOWELS:
        forms.add(word[:-1] + "ies")
    else:
        forms.add(word + "s")
    if not last:
        return forms
    if word.endswith("y") and word[-2] not in _VOWELS:
        forms |= {word[:-1] + "ied", word + "ing"}
    elif word.endswith("ee"):
        forms |= {word + "d", word + "ing"}  # freed, freeing
    elif word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
    elif _doubles_last_consonant(word):
        forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    else:
        forms |= {word + "ed", word + "ing"}
    forms |= set(_IRREGULAR.get(word, ()))
    return forms


def _doubles_last_consonant(word: str) -> bool:
    """Short consonant-vowel-consonant words double the consonant: swap → swapped."""
    consonant_end = word[-1] not in _VOWELS and word[-1] not in "wxy"
    return len(word) <= 4 and consonant_end and word[-2] in _VOWELS and word[-3] not in _VOWELS


def _slot_forms(slot: str, last: bool, term: str, inflect: bool = True) -> list[tuple[str, bool]]:
    """Literal forms (and prefix flags) that one word slot such as ``swap|exchange`` stands for."""
    out: list[tuple[str, bool]] = []
    for alternative in slot.split("|"):
        if not alternative or not _WORD.match(alternative):
            raise TermError(f"bad word {alternative!r} in term {term!r}")
        if alternative.endswith("*"):
            if not last:
                raise TermError(f"in term {term!r} only the last word may end with '*'")
            out.append((alternative[:-1].lstrip("="), True))
        elif alternative.startswith("="):
            out.append((alternative[1:], False))
        else:
            out.extend((form, False) for form in sorted(inflections(alternative, inflect)))
    return out


def expand(term: str) -> list[Pattern]:
    """Every literal pattern a term stands for; raises TermError with a clear message."""
    patterns = {
        Pattern(" ".join(word for word, _ in combo), combo[-1][1])
        for combo in product(*_choices(term))
    }
    if len(patterns) > MAX_FORMS:
        raise TermError(f"term {term!r} expands to too many forms; split it into several terms")
    return sorted(patterns, key=lambda p: (p.text, p.prefix))


def check_term(term: str) -> str:
    """Validate a term for the config model; returns it unchanged. The patterns are only
    made (to be counted) when there may be too many: loading a config checks every term, and
    making them all took about half of it."""
    if prod(len(forms) for forms in _choices(term)) > MAX_FORMS:
        expand(term)
    return term


def _choices(term: str) -> list[list[tuple[str, bool]]]:
    """The forms each word slot of a term offers, in order."""
    slots = fold(term).split(" ")
    if not term.strip():
        raise TermError("a term may not be empty")
    last = len(slots) - 1
    return [
        _slot_forms(slot, i == last, term, inflect=i in (0, last)) for i, slot in enumerate(slots)
    ]
