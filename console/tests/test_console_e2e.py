"""The console in a real browser on the real stack (issue 15, "Done when"): a Westminster officer signs in
with the keyboard alone, sees the caseload grouped by urgency, opens the case a referral published to Kafka
opened, records an enquiry with the keyboard alone and sees it in the timeline; a Kensington and Chelsea
officer cannot see that case; a manager finds a police request another officer recorded in their decision
queue, approves it and sees its receipt verified; the DPO sees who looked at the child; the DPO reviews a
subject access pack the services gathered, previews the letter, approves it and sees the released letter.
axe-core runs on every page: no serious or critical WCAG 2.2 AA violation. Screenshots of the main pages go
to docs/screenshots/ (shown in the README).

The tests share one started stack and one browser (conftest.py's module-scoped `platform` and `browser`) and
one child, whose case the first referral opens; they run in this file's order."""

import json
import os
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from selenium.webdriver.common.by import By
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from cme_shared.auth import issue_development_token
from cme_shared.contracts import topics
from cme_shared.testing.infra import SAMPLE_REFERRALS
from cme_shared.testing.kafka import TopicReader, eventually, produce


pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

REPOSITORY = Path(__file__).resolve().parents[2]
AXE = REPOSITORY / "console/node_modules/axe-core/axe.min.js"
# The README's screenshots are made by these tests: `CME_UPDATE_SCREENSHOTS=1` writes them into docs/screenshots/;
# an ordinary run writes them under .local/ (git-ignored), so that `make test` leaves the clone unchanged.
SCREENSHOTS = REPOSITORY / ("docs/screenshots" if os.environ.get("CME_UPDATE_SCREENSHOTS") else ".local/screenshots")
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def accessible(driver, page: str) -> None:
    """axe-core, injected into the page as it is: no serious or critical violation."""
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}}).then(r => done(r.violations));", WCAG)
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result
           if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{page}: {bad}"


def shot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 2400))
    driver.save_screenshot(str(SCREENSHOTS / f"console-{name}.png"))
    driver.set_window_size(1280, 1000)


def tab_to(driver, matches, limit: int = 80):
    """Press Tab until the focused element is the one wanted: what a keyboard user does."""
    visited = []
    for _ in range(limit):
        active = driver.switch_to.active_element
        if matches(active):
            return active
        visited.append(active.get_attribute("id") or active.tag_name)
        press(driver, Keys.TAB)
    raise AssertionError(f"the element was never reached with the Tab key; focus went {visited[:30]}")


def press(driver, *keys: str) -> None:
    """Keys to whatever has the focus, as a keyboard sends them (no element is clicked or focused first)."""
    ActionChains(driver).send_keys(*keys).perform()


def by_id(name: str):
    return lambda element: element.get_attribute("id") == name


def sign_in_with_keyboard(driver, console: str, role_id: str, borough_id: str | None, user: str) -> None:
    driver.get(f"{console}/sign-in")
    tab_to(driver, by_id(role_id))
    press(driver, Keys.SPACE)
    if borough_id:
        tab_to(driver, by_id(borough_id))
        press(driver, Keys.SPACE)
    tab_to(driver, by_id("user_id"))
    press(driver, user, Keys.ENTER)  # Enter in a field submits the form
    WebDriverWait(driver, 10).until(lambda d: not d.current_url.endswith("/sign-in"))


def sign_in(driver, console: str, role: str, borough: str | None, user: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{console}/sign-in")
    driver.find_element(By.CSS_SELECTOR, f"input[name=role][value={role}]").click()
    if borough:
        driver.find_element(By.CSS_SELECTOR, f"input[name=borough][value={borough}]").click()
    driver.find_element(By.ID, "user_id").send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "form[action='/sign-in'] button").click()
    WebDriverWait(driver, 10).until(lambda d: not d.current_url.endswith("/sign-in"))


SCHOOL_REFERRAL = SAMPLE_REFERRALS / "accepted-school-deletion-no-destination.json"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def case(platform, infra) -> dict:
    """The case a school's referral, published to Kafka, opened: the child every test works on."""
    namespace = platform["namespace"]
    raw = SCHOOL_REFERRAL.read_bytes()
    async with TopicReader(infra.kafka, namespace(topics.REFERRAL_OUTCOMES)) as outcomes:
        await produce(infra.kafka, namespace(topics.REFERRALS), raw, key=b"console-e2e")
        [record] = await outcomes.wait_for(lambda rs: len(rs) >= 1, timeout=60)
    child = json.loads(record.value)["child_subject_id"]
    officer = {"Authorization": "Bearer " + issue_development_token(platform["secret"], sub="probe", roles=["officer"],
                                                                    borough="westminster")}

    async def opened() -> list:
        answer = httpx.get(f"{platform['casework'].url}/cases", params={"child_subject_id": child}, headers=officer)
        return answer.json()

    [case] = await eventually(opened, timeout=60)
    return case


async def test_an_officer_works_a_case_from_a_kafka_referral_and_the_other_borough_cannot_see_it(
        platform, case, browser):
    console = platform["console"].url
    driver = browser

    sign_in_with_keyboard(driver, console, "role", "borough", "officer-w1")
    assert driver.current_url.endswith("/caseload")
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "h2.govuk-heading-m")]
    for group in ("Critically overdue", "Overdue", "Due soon", "Not due yet"):
        assert any(h.startswith(group) for h in headings), headings
    accessible(driver, "caseload")
    shot(driver, "caseload")

    # Open the case with the keyboard: its link is named by its reference, never "View".
    reference = f"Case {case['case_id'][:8].upper()}"
    tab_to(driver, lambda e: e.text == reference)
    press(driver, Keys.ENTER)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Amira Haddad"
    accessible(driver, "case")

    # Record an enquiry with the keyboard alone: open the form, choose whom, say why, send.
    tab_to(driver, lambda e: e.tag_name == "summary" and "Record an enquiry" in e.text)
    press(driver, Keys.ENTER)
    tab_to(driver, by_id("whom"))
    press(driver, "Council tax")
    tab_to(driver, by_id("purpose"))
    press(driver, "Check the address the school gave")
    tab_to(driver, lambda e: e.text == "Record enquiry")
    press(driver, Keys.ENTER)
    assert "Enquiry recorded" in driver.find_element(By.CSS_SELECTOR, ".govuk-notification-banner").text
    timeline = driver.find_element(By.CSS_SELECTOR, ".moj-timeline").text
    assert "Enquiry made" in timeline and "by officer:officer-w1" in timeline
    accessible(driver, "case after the enquiry")

    # What the closure still lacks is casework's answer (closure readiness), reason by reason.
    lacks = driver.find_element(By.ID, "closure-lacks").text
    assert "Untraced, enquiries exhausted" in lacks and "Lost Pupil Database reference" in lacks, lacks
    assert "different agencies must be recorded first (1 so far)" in lacks, lacks
    assert "On roll at another school" in lacks and "School URN" in lacks and "Start date" in lacks, lacks

    # The case is nobody's yet: the officer takes it (with the keyboard), and it is theirs in the caseload.
    assert "No officer yet" in driver.find_element(By.CSS_SELECTOR, ".govuk-summary-list").text
    tab_to(driver, lambda e: e.text == "Take this case")
    press(driver, Keys.ENTER)
    assert "Case allocated to you" in driver.find_element(By.CSS_SELECTOR, ".govuk-notification-banner").text
    assert "You (officer-w1)" in driver.find_element(By.CSS_SELECTOR, ".govuk-summary-list").text
    assert "Case allocated" in driver.find_element(By.CSS_SELECTOR, ".moj-timeline").text
    assert not driver.find_elements(By.XPATH, "//button[normalize-space()='Take this case']")
    accessible(driver, "case after taking it")
    shot(driver, "case")
    driver.get(f"{console}/caseload")
    driver.find_element(By.ID, "officer").send_keys("My cases")
    driver.find_element(By.XPATH, "//button[normalize-space()='Apply filters']").click()
    assert "officer=me" in driver.current_url
    mine = driver.find_element(By.TAG_NAME, "main").text
    assert reference in mine and "allocated to you" in mine and "Officer: My cases" in mine, mine
    accessible(driver, "caseload of my cases")
    driver.get(f"{console}/cases/{case['case_id']}")

    # A refused form says what is wrong, linked to the field.
    driver.find_element(By.CSS_SELECTOR, "#enquiry-form summary").click()
    driver.find_element(By.XPATH, "//button[normalize-space()='Record enquiry']").click()
    summary = driver.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    assert "Enter whom you asked" in summary.text
    accessible(driver, "case with errors")

    # Kensington and Chelsea: not in the caseload, and the case itself is "not found".
    sign_in(driver, console, "officer", "kensington_and_chelsea", "officer-k1")
    assert reference not in driver.find_element(By.TAG_NAME, "main").text
    driver.get(f"{console}/cases/{case['case_id']}")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Page not found"
    assert "Amira" not in driver.page_source
    accessible(driver, "not found")

    # Nothing about the child reached the console's log.
    log = platform["console"].log_text()
    for personal in ("Amira", "Haddad", "2016-03-14", "Check the address"):
        assert personal not in log


async def test_a_manager_approves_a_police_request_and_sees_the_receipt_verified_and_the_dpo_sees_who_looked(
        platform, case, browser):
    console = platform["console"].url
    driver = browser

    sign_in(driver, console, "officer", "westminster", "officer-w2")
    driver.get(f"{console}/cases/{case['case_id']}/disclosure-request")
    accessible(driver, "disclosure request form")
    form = {"org_name": "Metropolitan Police Service", "requester_name": "DC Example", "requester_role": "Detective",
            "requester_rank": "Inspector", "legal_gateway": "DPA 2018 Sch 2 Part 1 para 2", "reference": "CAD-1234",
            "reason": "A missing person enquiry needs the child's last known school"}
    for field, value in form.items():
        driver.find_element(By.ID, field).send_keys(value)
    driver.find_element(By.ID, "recipient_type").send_keys("Police")
    driver.find_element(By.ID, "purpose").send_keys("Crime")
    driver.find_element(By.CSS_SELECTOR, "input[name=categories][value=education]").click()
    driver.find_element(By.XPATH, "//button[normalize-space()='Record request']").click()
    assert "waits for a second person's decision" in driver.find_element(
        By.CSS_SELECTOR, ".govuk-notification-banner").text, driver.find_element(By.TAG_NAME, "main").text
    disclosure_url = driver.current_url
    assert not driver.find_elements(By.ID, "decision")  # the requester is not offered the decision

    # The manager finds it in their queue of requests waiting for a decision, and opens it from there.
    sign_in(driver, console, "manager", "westminster", "manager-w1")
    driver.get(f"{console}/disclosures")
    request_link = f"Request {disclosure_url.rsplit('/', 1)[1][:8].upper()}"
    queue = driver.find_element(By.TAG_NAME, "table").text
    assert request_link in queue and "Metropolitan Police Service" in queue and "officer-w2" in queue, queue
    accessible(driver, "decision queue")
    shot(driver, "decisions")
    driver.find_element(By.LINK_TEXT, request_link).click()
    assert driver.current_url == disclosure_url
    accessible(driver, "disclosure awaiting a decision")
    assert driver.find_elements(By.ID, "decision"), driver.find_element(By.TAG_NAME, "main").text
    driver.find_element(By.ID, "decision").click()
    driver.find_element(By.ID, "reason").send_keys("Necessary and proportionate for the enquiry")
    driver.find_element(By.ID, "sign_off_rank").send_keys("Inspector")
    driver.find_element(By.XPATH, "//button[normalize-space()='Record decision']").click()
    assert "Decision recorded" in driver.find_element(By.CSS_SELECTOR, ".govuk-notification-banner").text

    deadline = time.monotonic() + 30  # the log signs a checkpoint for the new leaves shortly after
    while "Proof verified" not in driver.page_source and time.monotonic() < deadline:
        time.sleep(1)
        driver.get(disclosure_url)
    assert "Proof verified" in driver.find_element(By.ID, "receipt").find_element(By.XPATH, "..").text
    accessible(driver, "disclosure with its receipt")
    shot(driver, "disclosure-receipt")

    # The manager gives the case to another officer (an officer could not: it is officer-w1's).
    driver.get(f"{console}/cases/{case['case_id']}")
    driver.find_element(By.CSS_SELECTOR, "#allocation-form summary").click()
    driver.find_element(By.ID, "officer").send_keys("officer-w2")
    driver.find_element(By.ID, "allocation_reason").send_keys("Covering while officer-w1 is away")
    driver.find_element(By.XPATH, "//button[normalize-space()='Allocate case']").click()
    assert "Case allocated to officer-w2" in driver.find_element(By.CSS_SELECTOR, ".govuk-notification-banner").text
    assert "officer-w2" in driver.find_element(By.CSS_SELECTOR, ".govuk-summary-list").text
    assert "Covering while officer-w1 is away" in driver.find_element(By.CSS_SELECTOR, ".moj-timeline").text
    accessible(driver, "case after the manager allocated it")
    driver.get(f"{console}/caseload?officer=officer-w2")
    assert f"Case {case['case_id'][:8].upper()}" in driver.find_element(By.TAG_NAME, "main").text

    driver.get(f"{console}/disclosures")  # decided: out of the queue
    assert request_link not in driver.find_element(By.TAG_NAME, "main").text
    driver.get(f"{console}/shares")
    accessible(driver, "shares")
    driver.get(f"{console}/census?census_date={time.strftime('%Y-%m-%d')}")
    accessible(driver, "census")
    shot(driver, "census")
    driver.get(f"{console}/triage")
    accessible(driver, "triage")
    driver.get(f"{console}/log")
    assert "Verified with the published key" in driver.page_source
    accessible(driver, "disclosure log")

    sign_in(driver, console, "dpo", None, "dpo-1")
    assert driver.current_url.endswith("/rights")
    accessible(driver, "rights worklist")
    driver.get(f"{console}/subjects/{case['child_subject_id']}/access-log")
    rows = driver.find_element(By.TAG_NAME, "table").text
    assert "officer-w2" in rows and "manager-w1" in rows and "officer console" in rows
    accessible(driver, "access log")
    shot(driver, "access-log")
    driver.get(f"{console}/sign-in")
    accessible(driver, "sign in")
    shot(driver, "sign-in")


async def test_the_dpo_reviews_the_draft_access_pack_previews_the_letter_and_releases_it(platform, case, browser):
    console, rights = platform["console"].url, platform["rights"].url
    driver = browser
    child = json.loads(SCHOOL_REFERRAL.read_bytes())["child"]

    def token(sub: str, role: str, **claims: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_development_token(platform["secret"], sub=sub, roles=[role],
                                                                     **claims)}

    # The child's mother asks the council for her daughter's data (recorded through the rights API); the
    # DPO records her identity as verified; every service gathers what it holds.
    async with httpx.AsyncClient(timeout=30) as client:
        created = await client.post(f"{rights}/requests", headers=token("officer-w3", "officer", borough="westminster"),
                                    json={"type": "access", "received_on": date.today().isoformat(), "channel": "email",
                                          "requester": {"first_name": "Leila", "last_name": child["last_name"],
                                                        "acting_as": "parent", "address": child["address"]},
                                          "subject": {"first_name": child["first_name"],
                                                      "last_name": child["last_name"],
                                                      "date_of_birth": child["date_of_birth"], "upn": child["upn"]}})
        assert created.status_code == 201, created.text
        request_id = created.json()["request_id"]
        clock = await client.post(f"{rights}/requests/{request_id}/clock", headers=token("dpo-1", "dpo"),
                                  json={"event": "identity_received", "on": date.today().isoformat()})
        assert clock.status_code == 200, clock.text

        async def gathered() -> dict | None:
            state = (await client.get(f"{rights}/requests/{request_id}", headers=token("dpo-1", "dpo"))).json()
            return state if state["status"] in ("ready_for_review", "collection_incomplete") else None

        assert (await eventually(gathered, timeout=90))["status"] == "ready_for_review"

    # The DPO finds it in the worklist and opens the draft's review.
    sign_in(driver, console, "dpo", None, "dpo-2")
    reference = f"Request {request_id[:8].upper()}"
    driver.find_element(By.LINK_TEXT, reference).click()
    main = driver.find_element(By.TAG_NAME, "main").text
    assert "Ready for the DPO's review" in main and "The draft response" in main, main
    assert "Metropolitan Police Service" in main  # the share the manager approved, in the pack's recipients
    assert "Council staff who looked" in main and "Council staff (manager), disclosure service" in main, main
    accessible(driver, "rights request under review")
    shot(driver, "rights-review")

    # The letter as the parent will read it, marked as a draft.
    review_url = driver.current_url
    driver.find_element(By.ID, "letter-preview").click()
    letter = driver.find_element(By.TAG_NAME, "body").text
    assert "This response has not been sent" in letter
    assert child["first_name"] in letter and "Information Commissioner" in letter, letter[:500]
    accessible(driver, "draft letter")
    shot(driver, "letter-draft")

    # Approve and release; the page shows the released response and the letter she got.
    driver.get(review_url)
    driver.find_element(By.XPATH, "//button[normalize-space()='Approve and release the response']").click()
    # The release prints the letter before it answers: wait for the page the POST redirects to.
    WebDriverWait(driver, 60).until(lambda d: any(
        "Response approved and released" in banner.text
        for banner in d.find_elements(By.CSS_SELECTOR, ".govuk-notification-banner")))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Subject access: Responded"
    assert "Released by dpo-2" in driver.find_element(By.ID, "released").find_element(By.XPATH, "..").text
    accessible(driver, "rights request released")
    shot(driver, "rights-released")
    driver.find_element(By.ID, "letter-released").click()
    letter = driver.find_element(By.TAG_NAME, "body").text
    assert "This response has not been sent" not in letter and child["first_name"] in letter
    assert "Metropolitan Police Service" in letter
    accessible(driver, "released letter")

    # The PDF, through the console with the DPO's session.
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    pdf = httpx.get(f"{console}/rights/{request_id}/letter.pdf", cookies=cookies, timeout=60)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
