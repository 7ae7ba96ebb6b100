"""Text normalisation shared by rule terms and articles, so both sides of a match agree."""

from __future__ import annotations

import re

# Dashes and hyphens become spaces ("cease-fire" == "cease fire"); typographic apostrophes and
# quotes become ASCII so that one spelling of "prisoner's" in a rule covers every article.
# Regexes rather than str.translate: translate with a mapping is slow on non-ASCII text.
_DASHES = re.compile("[\u2010-\u2015\u2212\u00ad]")
_APOSTROPHES = re.compile("[\u2018\u2019\u02bc\u2032`]")
_QUOTES = re.compile("[\u201c\u201d\u201e\u00ab\u00bb]")


def normalize(text: str) -> str:
    """Fold dashes, quotes and runs of whitespace so that words are separated by one space."""
    text = text.replace("-", " ")
    if not text.isascii():
        text = _QUOTES.sub('"', _APOSTROPHES.sub("'", _DASHES.sub(" ", text)))
    else:
        text = text.replace("`", "'")
    return " ".join(text.split())


def fold(text: str) -> str:
    """Normalise and lower-case: the form rule terms are matched against."""
    return normalize(text).lower()


def is_word_char(char: str) -> bool:
    """Whether ``char`` continues a word (letters and digits in any script)."""
    return char.isalnum()
