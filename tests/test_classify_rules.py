"""The rule language an analyst writes in config.yaml: terms, proximity, context, exclusions."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO, write_config

from monitor.classify import Classifier, default_rules
from monitor.classify.rules import TopicRules
from monitor.config import load_config
from monitor.errors import ConfigError

STATE = "Officials in Russia and Ukraine said so."  # satisfies a state-actor requirement


def topic(**rules: object) -> Classifier:
    return Classifier({"t": TopicRules.model_validate({"threshold": 0.5, **rules})})


def score(classifier: Classifier, text: str, title: str = "") -> float:
    return classifier.classify(title, text).scores["t"]


def test_a_word_matches_its_inflections():
    clf = topic(signals=[{"any": ["swap"], "weight": 1}])

    for text in ("they swap", "they swapped", "swapping now", "two swaps", "The SWAP"):
        assert score(clf, text) == 1.0, text
    freed = topic(signals=[{"any": ["free"], "weight": 1}])
    for text in ("freed", "freeing", "frees"):
        assert score(freed, text) == 1.0, text
    assert score(clf, "a swapmeet") == 0.0  # whole words only


def test_in_a_phrase_the_first_and_last_words_inflect_and_inner_words_take_plurals():
    clf = topic(
        signals=[{"any": ["prisoner swap", "end the war", "peace envoy talk"], "weight": 1}]
    )

    assert score(clf, "prisoners swapped on Friday") == 1.0
    assert score(clf, "a step towards ending the war") == 1.0
    assert score(clf, "peace envoys talked") == 1.0
    assert score(clf, "peace envoyed talk") == 0.0


def test_exact_and_prefix_words():
    exact = topic(signals=[{"any": ["=talks"], "weight": 1}])
    prefix = topic(signals=[{"any": ["mediat*"], "weight": 1}])

    assert score(exact, "peace talks") == 1.0 and score(exact, "they talked") == 0.0
    assert score(prefix, "a mediator") == score(prefix, "Qatar-mediated") == 1.0
    assert score(prefix, "immediate") == 0.0


def test_alternatives_per_word_and_hyphens_as_spaces():
    clf = topic(signals=[{"any": ["prisoner|hostage swap|exchange", "cease-fire"], "weight": 1}])

    assert score(clf, "a hostage-exchange deal") == 1.0
    assert score(clf, "prisoners exchanged") == 1.0
    assert score(clf, "a ceasefire") == 0.0 and score(clf, "a cease fire") == 1.0


def test_near_matches_within_the_distance_in_either_order():
    clf = topic(signals=[{"near": "prisoner* NEAR/5 exchange|swap|trade", "weight": 1}])

    assert score(clf, "prisoners will be exchanged") == 1.0
    assert score(clf, "a swap of 35 Ukrainian prisoners") == 1.0
    assert score(clf, "prisoners were held in a camp for years before any swap") == 0.0


def test_weights_combine_and_distinct_terms_count_up_to_the_limit():
    clf = topic(
        signals=[
            {"any": ["talks"], "weight": 0.5},
            {"any": ["envoy", "ambassador", "diplomat"], "weight": 0.5, "repeat": 2},
        ]
    )

    assert score(clf, "talks") == 0.5
    assert score(clf, "talks with the envoy") == 0.75
    assert score(clf, "talks, envoy, envoy, envoy") == 0.75  # one word said often is one piece
    assert score(clf, "talks, envoy, ambassador, diplomat") == pytest.approx(1 - 0.5**3)


def test_a_term_in_the_headline_counts_once_more():
    clf = topic(signals=[{"any": ["talks"], "weight": 0.5, "repeat": 2}])

    assert score(clf, "They held talks.") == 0.5
    assert score(clf, "They held talks.", title="Talks in Geneva") == 0.75


def test_supporting_signals_alone_do_not_make_a_match():
    clf = topic(
        signals=[
            {"any": ["talks"], "weight": 0.5},
            {"entities": ["GPE"], "distinct": 2, "weight": 0.5, "supporting": True},
        ]
    )

    assert score(clf, "Russia and France") == 0.0
    assert score(clf, "Russia and France held talks") == 0.75
    verdict = clf.classify("", "Russia and France").verdicts["t"]
    assert not verdict.core_found and not verdict.matched


def test_required_context_zeroes_the_score_without_a_state_actor():
    clf = topic(
        signals=[{"any": ["prisoner swap"], "weight": 0.9}],
        require={"entities": ["GPE", "NORP", "ORG", "PERSON"], "min": 1},
    )

    assert score(clf, "The two gangs agreed a prisoner swap.") == 0.0
    assert score(clf, "Russia and the gang agreed a prisoner swap.") == 0.9


def test_an_exclusion_applies_only_with_enough_distinct_terms():
    clf = topic(
        signals=[{"any": ["swap"], "weight": 1}],
        exclude=[{"name": "sport", "any": ["nba", "draft pick"], "min": 2, "penalty": 0.8}],
    )

    assert score(clf, "an NBA swap") == 1.0
    assert score(clf, "an NBA draft pick swap") == pytest.approx(0.2)


def test_ignored_phrases_never_count_as_evidence():
    clf = topic(signals=[{"any": ["exchange"], "weight": 1}], ignore=["exchange of fire"])

    assert score(clf, "after an exchange of fire") == 0.0
    assert score(clf, "after an exchange of fire, an exchange of prisoners") == 1.0


def test_entity_signal_counts_distinct_countries():
    clf = topic(signals=[{"entities": ["GPE", "NORP"], "distinct": 2, "weight": 1}])

    assert score(clf, "Russia and the Kremlin, Moscow, Russians") == 0.0
    assert score(clf, "Russia and America") == 1.0


def test_people_can_be_filtered_by_their_curated_role():
    clf = topic(signals=[{"entities": ["PERSON"], "roles": ["foreign minister"], "weight": 1}])

    assert score(clf, "Putin met Trump") == 0.0
    assert score(clf, "Putin met Lavrov") == 1.0


def test_matched_topics_say_why():
    clf = topic(signals=[{"any": ["prisoner swap"], "weight": 0.9, "name": "swap phrase"}])

    result = clf.classify("Prisoner swap agreed", STATE)

    assert result.topics == ["t"] and result.why == {"t": ["prisoner swap"]}
    verdict = result.verdicts["t"]
    assert verdict.signals[0].rule == "swap phrase" and verdict.threshold == 0.5


def _alternatives(slots: int, each: int) -> str:
    """A term of ``slots`` word slots, each offering ``each`` different exact words."""
    return " ".join("|".join(f"=w{slot}x{n}" for n in range(each)) for slot in range(slots))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"signals": [{"any": ["pris**"], "weight": 1}]}, "bad word"),
        ({"signals": [{"any": ["prisoner* swap"], "weight": 1}]}, "only the last word"),
        ({"signals": [{"near": "prisoner swap", "weight": 1}]}, "expected 'TERM NEAR/N TERM'"),
        ({"signals": [{"any": ["x"], "near": ["y"], "to": ["z"], "weight": 1}]}, "exactly one"),
        ({"signals": [{"any": ["x"], "weight": 1.5}]}, "less than or equal to 1"),
        ({"signals": [{"any": ["x"], "weight": 1}], "thresold": 0.5}, "Extra inputs"),
        ({"signals": []}, "at least 1 item"),
        ({"signals": [{"entities": ["GPE"], "roles": ["envoy"], "weight": 1}]}, "filters people"),
        # 20 × 20 × 20 literal forms: over the 5,000 one term may stand for
        ({"signals": [{"any": [_alternatives(3, 20)], "weight": 1}]}, "too many forms"),
    ],
)
def test_bad_rules_are_config_errors_with_their_key_path(tmp_path, block, message):
    path = write_config(tmp_path, yaml.safe_dump({"topics": {"swap": block}}))

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    text = str(caught.value)
    assert "topics.swap" in text and message in text, text


def test_a_term_is_refused_by_the_forms_it_stands_for_not_by_how_it_spells_them(tmp_path):
    # 80 × 80 ways to spell one phrase: a single form, which the rules may use.
    term = " ".join("|".join(["=" + word] * 80) for word in ("prisoner", "swap"))
    path = write_config(
        tmp_path, yaml.safe_dump({"topics": {"swap": {"signals": [{"any": [term], "weight": 1}]}}})
    )

    rules = load_config(path, env={}).topics["swap"]

    assert score(Classifier({"t": rules}), "Prisoner swap agreed") == 1.0


def test_config_yaml_ships_the_packaged_rules():
    shipped = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))["topics"]

    assert {k: TopicRules.model_validate(v) for k, v in shipped.items()} == default_rules()


def test_the_readme_rule_example_is_valid_and_works():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Detection") :]
    example = section[section.index("```yaml") + 7 : section.index("```\n")]
    block = yaml.safe_load(example)["prisoner_swap"]

    clf = Classifier({"t": TopicRules.model_validate(block)})

    assert clf.classify("Russia and US agree prisoner swap", "").scores["t"] >= 0.6
    assert clf.classify("", "An exchange of fire between Russia and the US").scores["t"] == 0
