"""Find every rule term in a text with one Aho-Corasick pass over its lower-cased form."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import ahocorasick

from monitor.classify.entities import Candidate, Table
from monitor.classify.terms import expand

Span = tuple[int, int]


class TermIndex:
    """All terms of a rule set, compiled once; ``find`` maps term ids to where they occur.

    ``names`` (an entity table) ride along in the same automaton, so one pass over an article
    finds both rule terms and entity candidates."""

    def __init__(self, names: Table | None = None) -> None:
        self._ids: dict[str, int] = {}
        self._patterns: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        self._names: Table = names or {}
        self._automaton: ahocorasick.Automaton | None = None

    def add(self, term: str) -> int:
        """Register a term (once) and return its id."""
        if term in self._ids:
            return self._ids[term]
        term_id = self._ids[term] = len(self._ids)
        for pattern in expand(term):
            self._patterns[pattern.text].append((term_id, pattern.prefix))
        self._automaton = None
        return term_id

    def add_all(self, terms: Iterable[str]) -> list[int]:
        return [self.add(term) for term in terms]

    def _build(self) -> ahocorasick.Automaton:
        automaton = ahocorasick.Automaton()
        for text in self._patterns.keys() | self._names.keys():
            terms = self._patterns.get(text, ())
            whole = tuple(term_id for term_id, prefix in terms if not prefix)
            prefixes = tuple(term_id for term_id, prefix in terms if prefix)
            automaton.add_word(text, (len(text), whole, prefixes, self._names.get(text, ())))
        if len(automaton):
            automaton.make_automaton()
        return automaton

    def build(self) -> None:
        """Compile the automaton now rather than on the first article."""
        self._automaton = self._build()

    def find(self, folded: str) -> tuple[dict[int, list[Span]], list[Candidate]]:
        """Whole-word occurrences of every term (by term id) and entity candidates in a
        folded text."""
        if self._automaton is None:
            self._automaton = self._build()
        hits: dict[int, list[Span]] = defaultdict(list)
        names: list[Candidate] = []
        if not folded or not len(self._automaton):
            return hits, names
        size = len(folded)
        # The classifier's hot path: word-boundary tests inlined (str.isalnum), and a match's
        # whole-word terms, prefix terms and names kept apart when the automaton was built.
        for last, (length, whole, prefixes, entities) in self._automaton.iter(folded):
            start = last - length + 1
            if start and folded[start - 1].isalnum():
                continue
            end = last + 1
            if end == size or not folded[end].isalnum():
                span = (start, end)
                for term_id in whole:
                    hits[term_id].append(span)
                if entities:
                    names.append((start, end, entities))
            if prefixes:
                span = (start, _word_end(folded, end))
                for term_id in prefixes:
                    hits[term_id].append(span)
        return hits, names


def _word_end(text: str, index: int) -> int:
    """Where the word running through ``index`` ends."""
    size = len(text)
    while index < size and text[index].isalnum():
        index += 1
    return index
