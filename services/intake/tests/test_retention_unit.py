"""Intake's retention rules (domain/retention.py): what falls due when, and the digests a tombstone keeps.

Sources: DOMAIN section 3 (default 7 years after case closure, configurable per category, legal hold; at
disposal the content goes and a minimal tombstone stays); UK GDPR Art 5(1)(e) (storage limitation: kept no
longer than necessary); LGA 1972 s224 and the FOI Act s46 Code of Practice on records management (a record of
what was destroyed, when and under which authority is kept); UK GDPR Art 15 (a later access request is told).
"""

import uuid
from datetime import date

import pytest

from cme_intake.domain import retention as rules
from cme_intake.domain.names import name_keys
from cme_shared.contracts.categories import DataCategory
from cme_shared.contracts.retention import ClockStart, RecordType, RetentionRule, RetentionSchedule
from cme_shared.retention import DEFAULT_SCHEDULE, subject_digest

pytestmark = pytest.mark.unit

KEY = b"k" * 32
CHILD, CARER = uuid.uuid4(), uuid.uuid4()


def referral(schedule=DEFAULT_SCHEDULE, source_type="school", started=date(2019, 7, 22)):
    return rules.referral_candidate(schedule, intake_id=uuid.uuid4(), source_type=source_type,
                                    clock_started_on=started, child_subject_id=CHILD, carer_subject_ids=[CARER])


def test_a_referral_lives_as_long_as_its_case_seven_years_after_closure_by_default():
    # DOMAIN section 3: "default 7 years after case closure"; Art 5(1)(e): not a day past it once due.
    closed = referral(started=date(2019, 7, 22))
    assert closed.rule.rule_id == "referral.7y" and closed.due_on == date(2026, 7, 22)
    assert not rules.is_due(closed, date(2026, 7, 21))
    assert rules.is_due(closed, date(2026, 7, 22))


def test_the_child_comes_first_among_a_referrals_subjects_and_its_categories_include_its_involvement():
    police = referral(source_type="police")
    assert police.subject_ids == (CHILD, CARER)
    assert DataCategory.POLICE_PROBATION in police.categories and DataCategory.CONTACT in police.categories


def test_a_rule_per_category_overrides_the_referral_rule_for_referrals_of_that_category():
    # DOMAIN section 3: "configurable per category": police referrals kept 10 years here, the rest 7.
    police_rule = RetentionRule(rule_id="referral.police.10y", record_type=RecordType.REFERRAL,
                                category=DataCategory.POLICE_PROBATION, starts=ClockStart.CASE_CLOSED, years=10,
                                description="a police referral: 10 years after the case is closed")
    schedule = RetentionSchedule(schedule_id="with-police", rules=(*DEFAULT_SCHEDULE.rules, police_rule))
    assert referral(schedule, "police").rule == police_rule
    assert referral(schedule, "police").due_on == date(2029, 7, 22)
    assert referral(schedule, "school").rule.rule_id == "referral.7y"


def test_a_dead_letter_goes_a_year_after_it_was_received_by_default():
    # The default schedule's dead-letter rule: kept for its sender to correct, 1 year (Art 5(1)(e)).
    letter = rules.dead_letter_candidate(DEFAULT_SCHEDULE, message_id="t:0:5", received_on=date(2025, 12, 1))
    assert letter.record_type is RecordType.DEAD_LETTER and letter.due_on == date(2026, 12, 1)
    assert letter.subject_ids == () and not rules.is_due(letter, date(2026, 11, 30))


def test_a_leap_day_receipt_falls_due_on_1_march():
    # Kept one day longer, never one day short (the kit's due_on; Art 5(1)(e) periods are minimum keeping).
    letter = rules.dead_letter_candidate(DEFAULT_SCHEDULE, message_id="x", received_on=date(2024, 2, 29))
    assert letter.due_on == date(2025, 3, 1)


def test_an_identity_goes_only_once_no_referral_about_the_person_remains():
    # DOMAIN section 3 (as long as necessary): the index keeps a person while any referral about them stays.
    person = rules.identity_candidate(DEFAULT_SCHEDULE, subject_id=CHILD, last_clock_started_on=date(2019, 1, 1))
    assert person.rule.rule_id == "identity.7y" and person.subject_ids == (CHILD,)
    assert not rules.identity_falls_due(1, person, date(2026, 6, 1))
    assert rules.identity_falls_due(0, person, date(2026, 6, 1))
    assert not rules.identity_falls_due(0, person, date(2025, 12, 31))  # its own rule has not run yet


def known(**changes):
    base = dict(name_keys=name_keys("Amira", "Haddad"), dates_of_birth=frozenset({date(2016, 3, 14)}),
                postcodes=frozenset({"W21AA"}), upns=frozenset({"G213200119044"}))
    return rules.ChildIdentifiers(**(base | changes))


def test_a_tombstone_keeps_digests_of_what_a_lookup_matches_on_never_the_identifiers():
    # UK GDPR Art 15 after disposal, Art 5(1)(c) minimisation: keyed digests (HMAC), not the identifiers.
    kept = rules.digests(KEY, rules.child_parts(known()))
    assert kept and all(len(d) == 64 for d in kept)
    assert not any("haddad" in d or "W21AA" in d or "G2132" in d for d in kept)
    assert rules.digests(b"another-key" * 3, rules.child_parts(known())) != kept


@pytest.mark.parametrize(("asked", "proved"), [
    (dict(date_of_birth=date(2016, 3, 14), postcode="W21AA", upn=None), ("child", "name_dob_postcode")),
    (dict(date_of_birth=date(2016, 3, 14), postcode=None, upn=None), ("child", "possible")),
    (dict(date_of_birth=None, postcode="W21AA", upn=None), ("child", "possible")),
    (dict(date_of_birth=None, postcode=None, upn="G213200119044"), ("child", "exact_identifier")),
])
def test_a_lookup_meets_a_tombstone_as_it_would_have_met_the_live_record(asked, proved):
    # The live lookup's rules (service_layer/subject_rights.find_subjects): exact identifier, name + date of
    # birth + postcode, and the weaker name with one of them.
    kept = rules.digests(KEY, rules.child_parts(known()))
    question = rules.lookup_digests(KEY, rules.lookup_parts(name_keys("AMIRA", "haddad"), **asked))
    assert rules.best_match(kept, question) == proved


def test_a_lookup_by_name_alone_or_another_date_of_birth_meets_nothing():
    kept = rules.digests(KEY, rules.child_parts(known()))
    alone = rules.lookup_digests(KEY, rules.lookup_parts(name_keys("Amira", "Haddad"), None, None, None))
    other = rules.lookup_digests(KEY, rules.lookup_parts(name_keys("Amira", "Haddad"), date(2016, 3, 15), None, None))
    assert alone == {} and rules.best_match(kept, other) is None


def test_a_carers_tombstone_answers_name_and_postcode_as_a_possible_carer():
    kept = rules.digests(KEY, rules.carer_parts(name_keys("Leila", "Haddad"), ["W21AA"]))
    question = rules.lookup_digests(KEY, rules.lookup_parts(name_keys("Leila", "Haddad"), None, "W21AA", None))
    assert rules.best_match(kept, question) == ("carer", "possible")


def test_digests_fold_case_and_accents_as_the_kit_does():
    assert subject_digest(KEY, "child-name-dob", "josé|o'brien", date(2016, 1, 2)) == \
        subject_digest(KEY, "CHILD-NAME-DOB", "jose|o'brien", "2016-01-02")


def test_production_refuses_the_development_digest_key_and_any_key_is_long_enough():
    # The digests are only as private as their key (UK GDPR Art 32): production sets its own.
    from pydantic import SecretStr, ValidationError

    from cme_intake.settings import DEVELOPMENT_RETENTION_DIGEST_KEY, IntakeSettings

    production = IntakeSettings.model_construct(env="production",
                                                retention_digest_key=SecretStr(DEVELOPMENT_RETENTION_DIGEST_KEY))
    with pytest.raises(ValueError, match="CME_RETENTION_DIGEST_KEY"):
        production._refuse_development_digest_key_in_production()
    with pytest.raises(ValidationError, match="at least 32"):
        IntakeSettings(env="test", retention_digest_key="short")
    assert IntakeSettings(env="test", retention_digest_key="x" * 32).digest_key() == b"x" * 32


def _production_env(monkeypatch, tmp_path):
    from cryptography.fernet import Fernet

    from cme_shared.testing.signing import TEST_KEYS

    bindings = tmp_path / "bindings.json"
    bindings.write_text('{"partners": {}}')
    for name, value in {"CME_ENV": "production", "CME_JWKS_URL": "https://idp.example/keys",
                        "CME_JWT_SECRET": "production-secret-" + "z" * 40, "CME_JWT_ISSUER": "https://idp.example",
                        "CME_JWT_AUDIENCE": "cme", "CME_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                        "CME_KAFKA_USERNAME": "intake", "CME_KAFKA_PASSWORD": "x",
                        "CME_DATABASE_URL": "postgresql+asyncpg://cme_intake:x@127.0.0.1:1/cme_intake",
                        "CME_PARTNER_BINDINGS_FILE": str(bindings), "CME_SEAL_KEY": Fernet.generate_key().decode(),
                        "CME_RETENTION_DIGEST_KEY": "p" * 40, **TEST_KEYS.env_for("intake")}.items():
        monkeypatch.setenv(name, value)


def test_a_production_disposal_run_cannot_be_dated_ahead_of_today_but_a_dry_run_may_look_ahead(
        monkeypatch, tmp_path):
    """LGA 1972 s224 / FOI Act s46 Code: records are destroyed under the schedule, not before it: in production
    `dispose --as-of` a future day is refused before anything is opened; a dry run may look ahead."""
    from typer.testing import CliRunner

    from cme_intake.__main__ import cli
    from cme_intake.entrypoints import disposal_job
    from cme_intake.service_layer.retention import IntakeDisposalReport

    _production_env(monkeypatch, tmp_path)
    runs = []

    async def fake_run(settings, *, as_of=None, dry_run=False):
        runs.append((as_of, dry_run))
        return IntakeDisposalReport(service="intake", run_id=uuid.uuid4(), schedule_id="s", as_of=as_of,
                                    dry_run=dry_run)

    monkeypatch.setattr(disposal_job, "run_dispose", fake_run)
    refused = CliRunner().invoke(cli, ["dispose", "--as-of", "2099-01-01"])
    assert refused.exit_code == 2 and "cannot be dated after today in production" in refused.output
    assert runs == []
    looked = CliRunner().invoke(cli, ["dispose", "--dry-run", "--as-of", "2099-01-01"])
    assert looked.exit_code == 0, looked.output
    assert runs == [(date(2099, 1, 1), True)]
