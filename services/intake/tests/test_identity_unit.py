"""The identity index's matching rules: names, identifiers, and when a match is only possible."""

import uuid
from datetime import date

import pytest

from cme_intake.domain.identity import (
    CarerFacts,
    ChildFacts,
    KnownCarer,
    KnownChild,
    MatchBasis,
    match_carer,
    match_child,
)
from cme_intake.domain.names import alias_keys, fold, name_key, name_keys

pytestmark = pytest.mark.unit

DOB = date(2014, 7, 1)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("José", "O'Brien-Smith"), ("JOSE", "OBRIEN SMITH")),
        (("Zoë", "Nowak"), ("zoe", "nowak")),
        (("Łukasz", "Wałęsa"), ("Lukasz", "Walesa")),
        (("Søren", "Kierkegaard"), ("Soren", "Kierkegaard")),
        (("Mary-Ann", "D’Souza"), ("Mary Ann", "DSouza")),
        (("Ömer", "Straße"), ("Omer", "Strasse")),
    ],
)
def test_names_fold_case_accents_hyphens_and_apostrophes(a, b):
    assert name_key(*a) == name_key(*b)


def test_different_names_stay_different():
    assert name_key("Tomasz", "Nowak") != name_key("Tomas", "Nowak")
    assert fold("  ") == "" and name_key("", "Nowak") is None


def test_aliases_preferred_and_middle_names_are_keys_too():
    keys = name_keys("Thomas", "Nowak", middle_names="Jan", preferred_name="Tom", aliases=["Tommy Nowak-Kowalski"])
    assert {"thomas|nowak", "tom|nowak", "thomasjan|nowak", "tommy|nowakkowalski"} <= keys
    assert alias_keys("Mary Ann Smith") == {"mary|annsmith", "maryann|smith"}
    assert alias_keys("Tommy") == set()


def child(**kw) -> ChildFacts:
    return ChildFacts(name_keys=name_keys("Tomasz", "Nowak"), **kw)


def known(**kw) -> KnownChild:
    defaults = dict(subject_id=uuid.uuid4(), name_keys=name_keys("Tomasz", "Nowak"), dates_of_birth=frozenset({DOB}),
                    postcodes=frozenset({"W21AA"}))
    return KnownChild(**{**defaults, **kw})


def test_a_valid_identifier_matches_first_whatever_the_name():
    school = known(upns=frozenset({"Z213200119101"}), name_keys=name_keys("Tom", "Novak"))
    decision = match_child(child(upn="Z213200119101"), [school], [])
    assert decision.same_as == school.subject_id and decision.basis is MatchBasis.EXACT_IDENTIFIER
    assert decision.matched_on == ("upn",)


def test_name_date_of_birth_and_postcode_match_the_same_child():
    # The public knows the name, date of birth and postcode; the school's record also has a UPN.
    school = known(upns=frozenset({"Z213200119101"}))
    decision = match_child(child(date_of_birth=DOB, postcode="W21AA"), [], [school])
    assert decision.same_as == school.subject_id and decision.basis is MatchBasis.NAME_DOB_POSTCODE


def test_two_children_who_share_a_name_are_not_merged_or_even_flagged():
    other = known(dates_of_birth=frozenset({date(2015, 2, 2)}), postcodes=frozenset({"SW109ZZ"}))
    decision = match_child(child(date_of_birth=DOB, postcode="W21AA"), [], [other])
    assert decision.same_as is None and decision.possible == ()


def test_name_and_date_of_birth_without_the_postcode_is_only_possible():
    moved = known(postcodes=frozenset({"SW109ZZ"}))
    decision = match_child(child(date_of_birth=DOB, postcode="W21AA"), [], [moved])
    assert decision.same_as is None
    assert [(c.subject_id, c.matched_on) for c in decision.possible] == [(moved.subject_id, ("name", "date_of_birth"))]


def test_name_and_postcode_without_a_date_of_birth_is_only_possible():
    decision = match_child(child(postcode="W21AA"), [], [known()])
    assert decision.same_as is None and decision.possible[0].matched_on == ("name", "postcode")


def test_a_conflicting_identifier_turns_a_strong_match_into_a_possible_one():
    twin = known(upns=frozenset({"L207205018233"}))
    decision = match_child(child(date_of_birth=DOB, postcode="W21AA", upn="Z213200119101"), [], [twin])
    assert decision.same_as is None
    assert decision.possible[0].conflicts == ("upn",)


def test_several_equally_good_candidates_are_never_chosen_between():
    a, b = known(), known()
    decision = match_child(child(date_of_birth=DOB, postcode="W21AA"), [], [a, b])
    assert decision.same_as is None
    assert {c.subject_id for c in decision.possible} == {a.subject_id, b.subject_id}
    assert all(c.conflicts == ("several_equal_candidates",) for c in decision.possible)


def test_an_identifier_held_by_two_kept_apart_subjects_asks_again():
    a, b = known(upns=frozenset({"Z213200119101"})), known(upns=frozenset({"Z213200119101"}))
    decision = match_child(child(upn="Z213200119101"), [a, b], [])
    assert decision.same_as is None and len(decision.possible) == 2


def test_an_alias_counts_as_the_name():
    alias = known(name_keys=name_keys("Thomas", "Nowak", aliases=["Tomasz Nowak"]))
    decision = match_child(child(date_of_birth=DOB, postcode="W21AA"), [], [alias])
    assert decision.same_as == alias.subject_id


def carer(**kw) -> CarerFacts:
    defaults = dict(name_keys=name_keys("Anna", "Nowak"), child_subject_id=uuid.uuid4(), postcode="W21AA")
    return CarerFacts(**{**defaults, **kw})


def test_a_carer_of_the_same_child_is_the_same_carer():
    facts = carer()
    mother = KnownCarer(subject_id=uuid.uuid4(), name_keys=name_keys("Anna", "Nowak"),
                        child_subject_ids=frozenset({facts.child_subject_id}))
    assert match_carer(facts, [mother]).same_as == mother.subject_id


def test_a_carer_sharing_a_phone_number_is_the_same_carer():
    mother = KnownCarer(subject_id=uuid.uuid4(), name_keys=name_keys("Anna", "Nowak"), phones=frozenset({"07700900123"}))
    assert match_carer(carer(phones=frozenset({"07700900123"})), [mother]).same_as == mother.subject_id


def test_a_carer_with_the_same_name_and_postcode_only_is_possible():
    neighbour = KnownCarer(subject_id=uuid.uuid4(), name_keys=name_keys("Anna", "Nowak"), postcodes=frozenset({"W21AA"}))
    decision = match_carer(carer(), [neighbour])
    assert decision.same_as is None and decision.possible[0].subject_id == neighbour.subject_id


def test_a_nameless_carer_is_always_new():
    assert match_carer(carer(name_keys=frozenset()), []).same_as is None
