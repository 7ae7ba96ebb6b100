"""Text normalisation shared by rule terms and articles, so both sides of a match agree."""

from __future__ import annotations

# Dashes and hyphens become spaces ("cease-fire" == "cease fire"); typographic quotes become
# ASCII so that one spelling of "prisoner's" in a rule covers every article.
_TRANSLATION = str.maketrans(
    {
        "-": " ",
        "\u2010": " ",
        "\u2011": " ",
        "\u2012": " ",
        "\u2013": " ",
        "\u2014": " ",
        "\u2212": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00a0": " ",
    }
)


def normalize(text: str) -> str:
    """Fold dashes, quotes and runs of whitespace so that words are separated by one space."""
    return " ".join(text.translate(_TRANSLATION).split())


def fold(text: str) -> str:
    """Normalise and lower-case: the form rule terms are matched against."""
    return normalize(text).lower()


def is_word_char(char: str) -> bool:
    """Whether ``char`` continues a word (letters and digits in any script)."""
    return char.isalnum()
