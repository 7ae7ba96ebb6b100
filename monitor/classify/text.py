"""Text normalisation shared by rule terms and articles, so both sides of a match agree."""

from __future__ import annotations

# Dashes and hyphens become spaces ("cease-fire" == "cease fire"); typographic apostrophes and
# quotes become ASCII so that one spelling of "prisoner's" in a rule covers every article.
# Chained str.replace rather than str.translate: translate with a mapping is slow on
# non-ASCII text, and replace is a fast scan when the character is absent.
_FOLDS = (
    *((dash, " ") for dash in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad"),
    *((mark, "'") for mark in "\u2018\u2019\u02bc\u2032"),
    *((mark, '"') for mark in "\u201c\u201d\u201e\u00ab\u00bb"),
)


def normalize(text: str) -> str:
    """Fold dashes, quotes and runs of whitespace so that words are separated by one space."""
    text = text.replace("-", " ").replace("`", "'")
    if not text.isascii():
        for char, replacement in _FOLDS:
            text = text.replace(char, replacement)
    return " ".join(text.split())


def fold(text: str) -> str:
    """Normalise and lower-case: the form rule terms are matched against."""
    return normalize(text).lower()
