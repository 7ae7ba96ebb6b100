"""Named entities from curated data: countries and their aliases, people, bodies, roles."""

from __future__ import annotations

import time

from monitor.classify.entities import default_recognizer


def found(text: str) -> set[tuple[str, str | None]]:
    return {(e.type, e.id) for e in default_recognizer().entities(text)}


def test_us_aliases_are_one_country():
    for alias in ("the U.S.", "the US", "America", "Washington", "the United States", "USA"):
        assert ("GPE", "US") in found(f"Talks with {alias} resumed."), alias
    assert ("NORP", "US") in found("An American teacher")


def test_russia_aliases_and_seats_of_power():
    for alias in ("Russia", "Moscow", "the Kremlin", "Russian Federation"):
        assert ("GPE", "RU") in found(f"{alias} said on Monday"), alias
    assert ("NORP", "RU") in found("Russian officials")


def test_names_are_case_sensitive_and_whole_words():
    assert found("let us talk about it") == set()
    assert ("GPE", "NE") not in found("Nigeria")
    assert ("GPE", "NG") in found("Nigeria")


def test_a_foreign_minister_is_a_person_with_a_role():
    entities = default_recognizer().entities("Lavrov spoke after Sergey Lavrov arrived.")

    assert len(entities) == 1
    lavrov = entities[0]
    assert (lavrov.type, lavrov.id, lavrov.text) == ("PERSON", "sergey-lavrov", "Lavrov")
    assert lavrov.role == "Foreign Minister, Russia"


def test_international_bodies_and_roles():
    text = (
        "The UN, the ICRC, the OSCE, NATO and the European Union sent a special envoy; "
        "the foreign minister met the ambassador."
    )
    ids = found(text)

    assert {("ORG", "UN"), ("ORG", "ICRC"), ("ORG", "OSCE"), ("ORG", "NATO"), ("ORG", "EU")} <= ids
    assert {("ROLE", "envoy"), ("ROLE", "foreign_minister"), ("ROLE", "ambassador")} <= ids


def test_the_longest_name_wins():
    ids = found("The U.S. State Department and Papua New Guinea")

    assert ("ORG", "STATE_DEPARTMENT") in ids and ("GPE", "PG") in ids
    assert ("GPE", "US") not in ids and ("GPE", "GN") not in ids


def test_demonyms_and_capitals_map_to_their_country():
    assert {("NORP", "IR"), ("GPE", "QA"), ("GPE", "UA")} <= found(
        "Iranian officials in Doha and Kyiv"
    )


def test_building_the_recognizer_is_fast():
    start = time.perf_counter()
    default_recognizer.__wrapped__()
    assert time.perf_counter() - start < 0.5


def test_places_named_after_countries_are_not_those_countries():
    ids = found("Officials in New Mexico, New Jersey and Latin America met the Washington Post.")

    assert ("GPE", "MX") not in ids and ("GPE", "US") not in ids and ("GPE", "JE") not in ids


def test_shouted_headlines_still_name_countries():
    assert {("GPE", "IR"), ("GPE", "RU")} <= found("IRAN AND RUSSIA SIGN PACT")
