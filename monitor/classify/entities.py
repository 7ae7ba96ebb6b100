"""Deterministic named-entity recognition from curated data: no model, one Aho-Corasick pass.

Countries come from pycountry plus ``monitor/data/countries.tsv`` (aliases, demonyms,
capitals and seats of power such as "Kremlin" or "White House"); leaders, ministers and envoys
from ``people.yaml``; international bodies and parties to talks from ``organisations.yaml``;
government and diplomatic roles from ``roles.tsv``. Names are matched case-sensitively (so "US"
is a country and "us" is not), roles case-insensitively, always on whole words, and
overlapping candidates resolve to the longest ("U.S. State Department" over "U.S.").
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple

import ahocorasick
import pycountry

from monitor import safe_yaml
from monitor.classify.text import fold, normalize
from monitor.models import Entity

_DATA = "monitor.data"
STATE_ACTOR_TYPES = ("GPE", "NORP", "ORG", "PERSON", "ROLE")


@dataclass(frozen=True)
class EntityInfo:
    """What a surface form stands for."""

    type: str
    id: str
    role: str | None = None
    country: str | None = None


class Mention(NamedTuple):
    """One occurrence of an entity in a text (offsets into the normalised text)."""

    start: int
    end: int
    text: str
    info: EntityInfo


def _data_text(name: str) -> str:
    return resources.files(_DATA).joinpath(name).read_text(encoding="utf-8")


def _tsv_rows(name: str) -> Iterator[list[str]]:
    lines = (line for line in _data_text(name).splitlines() if line and not line.startswith("#"))
    for row in csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE):
        yield [cell.strip() for cell in row]


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def _yaml(name: str) -> list[dict[str, Any]]:
    data = safe_yaml.load(_data_text(name))
    return list(data or [])


def _pycountry_names() -> Iterator[tuple[str, EntityInfo]]:
    for country in pycountry.countries:
        info = EntityInfo("GPE", country.alpha_2, country=country.alpha_2)
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name and "," not in name and "(" not in name:
                yield name.removeprefix("the "), info


def _country_names() -> Iterator[tuple[str, EntityInfo]]:
    yield from _pycountry_names()
    for row in _tsv_rows("countries.tsv"):
        code, cells = row[0], row[1:] + [""] * (4 - len(row))
        aliases, demonyms, capitals = cells[0], cells[1], cells[2]
        gpe, norp = EntityInfo("GPE", code, country=code), EntityInfo("NORP", code, country=code)
        yield from ((name, gpe) for name in _split(aliases) + _split(capitals))
        yield from ((name, norp) for name in _split(demonyms))


def _organisation_names() -> Iterator[tuple[str, EntityInfo]]:
    for org in _yaml("organisations.yaml"):
        info = EntityInfo(org.get("type", "ORG"), str(org["id"]), country=org.get("country"))
        yield from ((str(name), info) for name in org["names"])


def _slug(name: str) -> str:
    return "-".join(fold(name).replace(".", "").split())


def _place_names() -> dict[str, str]:
    """Display names of places: the first alias in countries.tsv, else pycountry's name."""
    names = {c.alpha_2: str(getattr(c, "common_name", None) or c.name) for c in pycountry.countries}
    for row in _tsv_rows("countries.tsv"):
        aliases = _split(row[1]) if len(row) > 1 else []
        if aliases:
            names[row[0]] = aliases[0]
    return names


def _people_names() -> Iterator[tuple[str, EntityInfo]]:
    places = _place_names()
    for person in _yaml("people.yaml"):
        code = str(person.get("country") or "")
        place = places.get(code, code.removesuffix("_ORG"))
        role = f"{person['role']}, {place}" if code else person.get("role")
        info = EntityInfo("PERSON", _slug(person["name"]), role, code or None)
        for name in [person["name"], *person.get("aliases", [])]:
            yield str(name), info


NOT_AN_ENTITY = "NONE"


def _false_friends() -> Iterator[tuple[str, EntityInfo]]:
    """Names such as "New Mexico" that must not count as the country they contain."""
    info = EntityInfo(NOT_AN_ENTITY, "")
    for line in _data_text("not_entities.txt").splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.strip(), info


def _role_names() -> Iterator[tuple[str, EntityInfo]]:
    for row in _tsv_rows("roles.tsv"):
        yield from ((phrase, EntityInfo("ROLE", row[0])) for phrase in _split(row[1]))


class NameEntry(NamedTuple):
    """What a lower-cased surface form may stand for, and the spellings that count."""

    info: EntityInfo
    forms: frozenset[str] | None  # accepted original spellings; None: any case (roles)


Table = dict[str, tuple[NameEntry, ...]]
Candidate = tuple[int, int, tuple[NameEntry, ...]]


def _spellings(surface: str) -> frozenset[str]:
    """Names are case-sensitive ("US" but not "us"); from four letters on ("IRAN") they also
    match in ALL CAPS, as in shouted headlines."""
    return frozenset({surface, surface.upper()} if len(surface) >= 4 else {surface})


def build_table(
    names: Iterable[tuple[str, EntityInfo]], roles: Iterable[tuple[str, EntityInfo]]
) -> Table:
    """Lower-cased surface form → entries, names before roles."""
    table: dict[str, list[NameEntry]] = {}
    for surface, info in names:
        surface = normalize(surface)
        table.setdefault(surface.lower(), []).append(NameEntry(info, _spellings(surface)))
    for surface, info in roles:
        table.setdefault(fold(surface), []).append(NameEntry(info, None))
    return {key: tuple(entries) for key, entries in table.items() if key}


def _automaton(table: Table) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for key, entries in table.items():
        automaton.add_word(key, (len(key), entries))
    automaton.make_automaton()
    return automaton


def _candidates(automaton: ahocorasick.Automaton, folded: str) -> list[Candidate]:
    """Whole-word occurrences of the table's surface forms in a lower-cased text."""
    found: list[Candidate] = []
    if not folded:
        return found
    size = len(folded)
    for last, (length, entries) in automaton.iter(folded):
        start, end = last - length + 1, last + 1
        # Inlined word-boundary test: this loop runs for every candidate in every article.
        if (start == 0 or not folded[start - 1].isalnum()) and (
            end == size or not folded[end].isalnum()
        ):
            found.append((start, end, entries))
    return found


def _position(candidate: tuple[int, int, EntityInfo]) -> tuple[int, int]:
    return candidate[0], candidate[1]


class EntityRecognizer:
    """Finds countries, demonyms, capitals, people, organisations and roles in a text.

    ``table`` can be merged into another automaton (the classifier does, to read each article
    once); ``resolve`` then turns that automaton's candidates into mentions."""

    def __init__(
        self,
        names: Iterable[tuple[str, EntityInfo]],
        roles: Iterable[tuple[str, EntityInfo]],
    ) -> None:
        self.table = build_table(names, roles)
        self._automaton: ahocorasick.Automaton | None = None

    def mentions(self, text: str) -> list[Mention]:
        """Every entity mention in ``text``, in order; ``text`` is normalised first."""
        norm = normalize(text)
        folded = norm.lower()
        if len(folded) != len(norm):
            folded = "".join(c.lower()[0] for c in norm)
        if self._automaton is None:
            self._automaton = _automaton(self.table)
        return self.resolve(norm, _candidates(self._automaton, folded))

    def resolve(self, norm: str, candidates: Iterable[Candidate]) -> list[Mention]:
        """Mentions from candidate spans: spelling checked, overlaps resolved to the longest."""
        accepted: list[tuple[int, int, EntityInfo]] = []  # (start, -end, info): longest first
        for start, end, entries in candidates:
            spelled = norm[start:end]
            for entry in entries:
                if entry.forms is None or spelled in entry.forms:
                    accepted.append((start, -end, entry.info))
                    break
        accepted.sort(key=_position)
        kept: list[Mention] = []
        last_end = -1
        for start, negative_end, info in accepted:
            if start >= last_end:
                last_end = -negative_end
                if info.type != NOT_AN_ENTITY:
                    kept.append(Mention(start, last_end, norm[start:last_end], info))
        return kept

    def entities(self, text: str) -> list[Entity]:
        """Distinct entities in order of first mention, as the pipeline stores them."""
        return unique_entities(self.mentions(text))


# Roles that only give context ("officials", "government"): counted, but not listed.
_UNLISTED_ROLES = frozenset({"official"})


def unique_entities(mentions: Iterable[Mention]) -> list[Entity]:
    """One Entity per (type, id), named by its first mention: named entities in order of
    first mention, then roles (alerts show the first few, so names come first)."""
    seen: dict[tuple[str, str], Entity] = {}
    roles: dict[tuple[str, str], Entity] = {}
    for m in mentions:
        info = m.info
        key = (info.type, info.id)
        if key in seen or key in roles:
            continue
        if info.type != "ROLE":
            seen[key] = _entity(m.text, info)
        elif info.id not in _UNLISTED_ROLES:
            roles[key] = _entity(m.text, info)
    return [*seen.values(), *roles.values()]


@lru_cache(maxsize=4096)
def _entity(text: str, info: EntityInfo) -> Entity:
    """Entities are immutable values, so the same mention yields the same object."""
    return Entity(text, info.type, info.id, info.role)


@lru_cache(maxsize=1)
def default_recognizer() -> EntityRecognizer:
    """The recognizer built from the packaged data, once per process."""
    names = [*_country_names(), *_organisation_names(), *_people_names(), *_false_friends()]
    return EntityRecognizer(names, _role_names())
