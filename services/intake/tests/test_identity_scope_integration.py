"""Borough scope and two people in the identity index, on the real database (issue 13, SEC-13, SEC-14): an
officer sees their borough only (a referral, the triage list, a possible match's candidate), a merge across
boroughs waits for a manager who did not propose it, a manager's unmerge separates the two children again
and is recorded, and every read is in the access log."""

import pytest

from cme_shared.testing.fixtures import bearer

pytestmark = pytest.mark.integration

WESTMINSTER, KENSINGTON = "westminster", "kensington_and_chelsea"


async def post(intake, document, org_id) -> dict:
    answer = await intake.client.post("/referrals", json=document, headers=intake.partner(org_id))
    assert answer.status_code == 202, answer.text
    return answer.json()


def police_tomasz(sample, referral_id: str, postcode: str, **child) -> dict:
    """The police refer a Tomasz Nowak born on 1 July 2014 (the Westminster school's Tomasz's birthday), no UPN."""
    document = sample("accepted-police-high-risk.json")
    document["referral_id"] = referral_id
    document["child"].update(first_name="Tomasz", last_name="Nowak", date_of_birth="2014-07-01", upn=None, **child)
    document["child"]["address"].update(line1="3 Kensington Row", postcode=postcode)
    return document


async def kensington_tomasz(intake, sample, referral_id: str = "MPS-1") -> dict:
    """That Tomasz lives in W8 (Kensington and Chelsea) and is known as Tomek."""
    return await post(intake, police_tomasz(sample, referral_id, "W8 4QQ", aliases=["Tomek"]), "MPS")


async def westminster_tomasz(intake, sample) -> dict:
    """A Westminster school's deletion return for Tomasz Nowak (W2 1AA, with a UPN)."""
    return await post(intake, sample("accepted-school-deletion-ground-a-with-destination.json"), "101234")


async def access_log(intake, subject_id: str) -> list[dict]:
    listed = await intake.client.get("/access-log", params={"subject_id": subject_id}, headers=intake.dpo())
    assert listed.status_code == 200
    return [e for e in listed.json()["entries"] if e["action"] != "access_log.read"]


def officer_and_auditor(intake, borough: str) -> dict[str, str]:
    return bearer(intake.settings, "officer", "auditor", sub="officer-aud", borough=borough)


async def test_an_officer_reads_only_their_boroughs_referrals_and_never_the_triage_list(intake, sample):
    rbkc = await kensington_tomasz(intake, sample)
    west = await westminster_tomasz(intake, sample)
    stray = await post(intake, sample("accepted-with-warnings-bad-upn-postcode.json"), "101234")  # no borough
    westminster = intake.officer(WESTMINSTER, sub="officer-w")

    assert (await intake.client.get(f"/referrals/{rbkc['intake_id']}", headers=westminster)).status_code == 404
    # A token that also says auditor does not widen an officer's borough (SEC-14).
    widened = officer_and_auditor(intake, WESTMINSTER)
    assert (await intake.client.get(f"/referrals/{rbkc['intake_id']}", headers=widened)).status_code == 404
    # Unassigned referrals are for those who see both boroughs, as casework's triage cases.
    assert (await intake.client.get(f"/referrals/{stray['intake_id']}", headers=westminster)).status_code == 404
    assert (await intake.client.get("/triage", headers=westminster)).status_code == 403
    seen = await intake.client.get(f"/referrals/{west['intake_id']}", headers=westminster)
    assert seen.status_code == 200
    for who in (intake.manager(), intake.dpo()):
        assert (await intake.client.get(f"/referrals/{rbkc['intake_id']}", headers=who)).status_code == 200
        assert (await intake.client.get(f"/referrals/{stray['intake_id']}", headers=who)).status_code == 200
    [item] = (await intake.client.get("/triage", headers=intake.manager())).json()
    assert item["intake_id"] == stray["intake_id"]

    # Each read is in the child's (and carer's) access log; a refused one is not.
    [entry] = [e for e in await access_log(intake, west["child_subject_id"]) if e["actor"] == "officer-w"]
    assert (entry["action"], entry["role"], entry["borough"], entry["record_id"]) == (
        "referral.read", "officer", WESTMINSTER, west["intake_id"])
    [mother] = seen.json()["carer_subject_ids"]
    assert [e["action"] for e in await access_log(intake, mother) if e["actor"] == "officer-w"] == ["referral.read"]
    kensington_log = await access_log(intake, rbkc["child_subject_id"])
    assert {e["actor"] for e in kensington_log} == {"manager-1", "dpo-1"}
    assert [e["action"] for e in await access_log(intake, stray["child_subject_id"])
            if e["actor"] == "manager-1"] == ["triage.list", "referral.read"]  # newest first


async def test_a_westminster_officer_sees_that_a_kensington_candidate_exists_but_not_who_they_are(intake, sample):
    rbkc = await kensington_tomasz(intake, sample)
    west = await westminster_tomasz(intake, sample)  # same name and date of birth: a possible match
    assert west["child_subject_id"] != rbkc["child_subject_id"]

    for headers in (intake.officer(WESTMINSTER, sub="officer-w"), officer_and_auditor(intake, WESTMINSTER)):
        answer = await intake.client.get("/possible-matches", headers=headers)
        [match] = answer.json()
        assert match["borough"] == WESTMINSTER and match["matched_on"] == ["name", "date_of_birth"]
        subject, candidate = match["subject"], match["candidate"]
        assert subject["subject_id"] == west["child_subject_id"] and subject["upn"] == "Z213200119101"
        assert subject["redacted"] is None and subject["boroughs"] == [WESTMINSTER]
        assert candidate["subject_id"] == rbkc["child_subject_id"]
        assert candidate["boroughs"] == [KENSINGTON] and candidate["on_triage_list"] is False
        assert candidate["redacted"]["reason"] == "other_borough"
        for field in ("first_name", "last_name", "aliases", "date_of_birth", "upn", "postcodes", "current_postcode"):
            assert candidate[field] == "[redacted]"
        for detail in ("Tomek", "W8", "Kensington Row"):
            assert detail not in answer.text
    # Kensington and Chelsea's officers do not see a match raised by a Westminster referral.
    assert (await intake.client.get("/possible-matches", headers=intake.officer(KENSINGTON))).json() == []

    for headers in (intake.manager(), intake.dpo()):
        [match] = (await intake.client.get("/possible-matches", headers=headers)).json()
        assert match["candidate"]["redacted"] is None and match["candidate"]["aliases"] == ["Tomek"]
        assert match["candidate"]["postcodes"] == ["W8 4QQ"] and match["subject"]["redacted"] is None

    # The officer's reads are recorded for both children, saying what each was shown.
    [shown] = [e for e in await access_log(intake, west["child_subject_id"]) if e["actor"] == "officer-w"]
    [withheld] = [e for e in await access_log(intake, rbkc["child_subject_id"]) if e["actor"] == "officer-w"]
    assert shown["action"] == withheld["action"] == "possible_match.read"
    assert shown["record_id"] == withheld["record_id"] == match["match_id"]
    assert shown["returned"] == "possible match: identity details" and "redacted" in withheld["returned"]
    assert {e["actor"] for e in await access_log(intake, rbkc["child_subject_id"])} >= {"manager-1", "dpo-1"}


async def resolve(intake, match_id, headers, decision="merge", reason="Same child: the school confirmed the move"):
    return await intake.client.post(f"/possible-matches/{match_id}/resolve",
                                    json={"decision": decision, "reason": reason}, headers=headers)


async def approval(intake, match_id, headers, decision="approve", reason="Checked both records"):
    return await intake.client.post(f"/possible-matches/{match_id}/approval",
                                    json={"decision": decision, "reason": reason}, headers=headers)


async def child_of(intake, intake_id) -> str:
    answer = await intake.client.get(f"/referrals/{intake_id}", headers=intake.manager())
    return answer.json()["child_subject_id"]


async def test_a_cross_borough_merge_waits_for_a_manager_who_did_not_propose_it(intake, sample):
    rbkc = await kensington_tomasz(intake, sample)
    west = await westminster_tomasz(intake, sample)
    officer = intake.officer(WESTMINSTER, sub="officer-w")
    [match] = (await intake.client.get("/possible-matches", headers=officer)).json()
    match_id = match["match_id"]

    proposed = await resolve(intake, match_id, officer)
    assert proposed.status_code == 202
    assert proposed.json()["status"] == "pending_approval"
    assert proposed.json()["proposal"]["boroughs"] == [KENSINGTON, WESTMINSTER]
    # Nothing is merged, and nothing decided, until a manager approves.
    assert await intake.scalar("SELECT count(*) FROM subject_merges") == 0
    assert await intake.scalar("SELECT count(*) FROM possible_match_decisions") == 0
    assert await child_of(intake, west["intake_id"]) == west["child_subject_id"]
    assert (await resolve(intake, match_id, officer, "keep_apart", "changed my mind")).json()["errors"][0]["code"] \
        == "merge_pending"
    assert (await approval(intake, match_id, officer)).status_code == 403  # an officer approves nothing
    [pending] = (await intake.client.get("/possible-matches?status=pending", headers=intake.manager())).json()
    assert pending["proposals"][0]["proposed_by"] == "officer-w"

    refused = await approval(intake, match_id, intake.manager(sub="manager-1"), "refuse", "Ask the school first")
    assert refused.status_code == 200 and refused.json()["status"] == "open"
    assert await intake.scalar("SELECT count(*) FROM subject_merges") == 0

    # A manager's own cross-borough merge needs a second manager too: whoever proposed never decides.
    again = await resolve(intake, match_id, intake.manager(sub="manager-1"))
    assert again.status_code == 202
    own = await approval(intake, match_id, intake.manager(sub="manager-1"))
    assert own.status_code == 403 and own.json()["errors"][0]["code"] == "two_person_rule"
    assert await intake.scalar("SELECT count(*) FROM subject_merges") == 0

    approved = await approval(intake, match_id, intake.manager(sub="manager-2"))
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "decided" and body["decided_by"] == "manager-2"
    assert body["proposal"]["proposed_by"] == "manager-1"
    assert body["subject_id"] == body["candidate_subject_id"] == rbkc["child_subject_id"]
    [decision] = await intake.rows("SELECT decision, decided_by FROM possible_match_decisions")
    assert tuple(decision) == ("merge", "manager-2")
    assert await child_of(intake, west["intake_id"]) == rbkc["child_subject_id"]
    assert (await approval(intake, match_id, intake.manager(sub="manager-3"))).status_code == 409
    decisions = await intake.rows("SELECT decision, decided_by FROM merge_proposal_decisions ORDER BY decided_at")
    assert [tuple(d) for d in decisions] == [("refuse", "manager-1"), ("approve", "manager-2")]


async def test_a_same_borough_merge_by_an_officer_is_applied_at_once(intake, sample):
    west = await westminster_tomasz(intake, sample)
    other = await post(intake, police_tomasz(sample, "MPS-W9", "W9 3XX"), "MPS")  # W9: Westminster too
    officer = intake.officer(WESTMINSTER)
    [match] = (await intake.client.get("/possible-matches", headers=officer)).json()
    assert match["candidate"]["redacted"] is None
    merged = await resolve(intake, match["match_id"], officer)
    assert merged.status_code == 200 and merged.json()["status"] == "decided"
    assert await child_of(intake, other["intake_id"]) == west["child_subject_id"]


async def test_a_managers_unmerge_separates_the_two_children_and_is_recorded(intake, sample):
    rbkc = await kensington_tomasz(intake, sample)
    west = await westminster_tomasz(intake, sample)
    officer = intake.officer(WESTMINSTER, sub="officer-w")
    [match] = (await intake.client.get("/possible-matches", headers=officer)).json()
    match_id = match["match_id"]
    assert (await resolve(intake, match_id, officer)).status_code == 202
    assert (await approval(intake, match_id, intake.manager(sub="manager-2"))).status_code == 200
    # Merged, the Westminster officer sees the one child, Kensington records and all.
    [merged] = (await intake.client.get("/possible-matches?status=decided", headers=officer)).json()
    assert merged["candidate"]["redacted"] is None and merged["candidate"]["aliases"] == ["Tomek"]

    unmerge = f"/possible-matches/{match_id}/unmerge"
    body = {"reason": "Different children: the Kensington Tomasz has another mother"}
    assert (await intake.client.post(unmerge, json=body, headers=officer)).status_code == 403
    assert (await intake.client.post(unmerge, json={"reason": ""}, headers=intake.manager())).status_code == 422
    undone = await intake.client.post(unmerge, json=body, headers=intake.manager(sub="manager-3"))
    assert undone.status_code == 200, undone.text
    assert undone.json()["subject_id"] == west["child_subject_id"]
    assert undone.json()["candidate_subject_id"] == rbkc["child_subject_id"]
    again = await intake.client.post(unmerge, json=body, headers=intake.manager(sub="manager-3"))
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "not_merged"

    # Recorded as a new row; the merge row is still there, as it was.
    [pointer] = await intake.rows("SELECT merge_id, subject_id, merged_into, decided_by FROM subject_merges")
    assert (str(pointer.subject_id), str(pointer.merged_into), pointer.decided_by) == (
        west["child_subject_id"], rbkc["child_subject_id"], "manager-2")
    [row] = await intake.rows("SELECT merge_id, match_id, reason, decided_by, role FROM subject_unmerges")
    assert (row.merge_id, str(row.match_id), row.reason, row.decided_by, row.role) == (
        pointer.merge_id, match_id, body["reason"], "manager-3", "manager")

    # Separate again: each referral is its own child's, the officer no longer sees the other borough's child,
    # and a new report of the Westminster child's UPN finds that child, not the one it was merged into.
    assert await child_of(intake, west["intake_id"]) == west["child_subject_id"]
    assert await child_of(intake, rbkc["intake_id"]) == rbkc["child_subject_id"]
    [decided] = (await intake.client.get("/possible-matches?status=decided", headers=officer)).json()
    assert decided["candidate"]["redacted"]["reason"] == "other_borough"
    assert decided["decision"]["unmerged"]["decided_by"] == "manager-3"
    again_west = sample("accepted-school-deletion-ground-a-with-destination.json")
    again_west["referral_id"] = "SCH-AGAIN"
    assert (await post(intake, again_west, "101234"))["child_subject_id"] == west["child_subject_id"]
    assert {e["action"] for e in await access_log(intake, rbkc["child_subject_id"]) if e["actor"] == "officer-w"} \
        == {"possible_match.read"}


async def test_a_child_unmerged_can_be_merged_again_by_a_later_match(intake, sample):
    rbkc = await kensington_tomasz(intake, sample)
    west = await westminster_tomasz(intake, sample)
    officer, manager = intake.officer(WESTMINSTER, sub="officer-w"), intake.manager(sub="manager-2")
    [first] = (await intake.client.get("/possible-matches", headers=officer)).json()
    assert (await resolve(intake, first["match_id"], officer)).status_code == 202
    assert (await approval(intake, first["match_id"], manager)).status_code == 200
    undone = await intake.client.post(f"/possible-matches/{first['match_id']}/unmerge", json={"reason": "too soon"},
                                      headers=intake.manager(sub="manager-3"))
    assert undone.status_code == 200

    # A third report, from W9 (Westminster), is as like one Tomasz as the other: two possible matches.
    third = await post(intake, police_tomasz(sample, "MPS-W9", "W9 3XX"), "MPS")
    matches = (await intake.client.get("/possible-matches", headers=officer)).json()
    by_candidate = {m["candidate"]["subject_id"]: m for m in matches if m["subject"]["subject_id"] ==
                    third["child_subject_id"]}
    assert set(by_candidate) == {west["child_subject_id"], rbkc["child_subject_id"]}
    # The officer joins it to Westminster's Tomasz (one borough: at once)...
    assert (await resolve(intake, by_candidate[west["child_subject_id"]]["match_id"], officer)).status_code == 200
    # ...and a manager approves joining that child to Kensington's: Westminster's Tomasz is merged once more.
    to_rbkc = by_candidate[rbkc["child_subject_id"]]["match_id"]
    assert (await resolve(intake, to_rbkc, officer)).status_code == 202
    assert (await approval(intake, to_rbkc, manager)).status_code == 200
    pointers = await intake.rows("SELECT subject_id, merged_into FROM subject_merges WHERE subject_id = :s "
                                 "ORDER BY merge_id", s=west["child_subject_id"])
    assert [str(p.merged_into) for p in pointers] == [rbkc["child_subject_id"]] * 2
    for referral in (west, rbkc, third):
        assert await child_of(intake, referral["intake_id"]) == rbkc["child_subject_id"]


async def test_a_carer_known_only_to_the_other_borough_is_redacted_too(intake, sample):
    """Carers follow the same rule: a carer's boroughs are those of the referrals that name them."""
    rbkc = sample("accepted-school-deletion-no-destination.json")  # Amira, living in W8 with an Anna Nowak
    rbkc["referral_id"] = "SCH-RBKC-1"
    rbkc["child"]["address"]["postcode"] = "W8 4QQ"
    rbkc["carers"][0].update(first_name="Anna", last_name="Nowak", phones=["07700 900999"])
    rbkc["carers"][0]["address"]["postcode"] = "W2 1AA"
    await post(intake, rbkc, "101234")
    west = await westminster_tomasz(intake, sample)  # Tomasz's mother Anna Nowak, W2 1AA, another phone
    [match] = (await intake.client.get("/possible-matches", headers=intake.officer(WESTMINSTER))).json()
    assert match["subject_type"] == "carer" and match["borough"] == WESTMINSTER
    assert match["subject"]["redacted"] is None and match["subject"]["last_name"] == "Nowak"
    assert match["candidate"]["boroughs"] == [KENSINGTON] and match["candidate"]["last_name"] == "[redacted]"
    [manager_view] = (await intake.client.get("/possible-matches", headers=intake.manager())).json()
    assert manager_view["candidate"]["last_name"] == "Nowak"
    assert west["child_subject_id"] not in {match["subject"]["subject_id"], match["candidate"]["subject_id"]}
