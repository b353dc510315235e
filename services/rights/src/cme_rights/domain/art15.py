"""What every response tells besides the data: UK GDPR Art 15(1)(a)-(h) and (2), from the council's
CME privacy notice (docs/privacy-notice.txt, published 15 Aug 2024) and DOMAIN sections 3-5.

Kept as data in one place so that the pack, the printable pack and the register of automated
processing say the same thing, and a change to the notice is one edit.
"""

from typing import Any

from cme_shared.contracts.categories import DataCategory

LAWFUL_BASIS = (
    "UK GDPR Art 6(1)(e) public task: the duty under section 436A of the Education Act 1996 to make "
    "arrangements to identify, as far as possible, children missing education. Records are kept under "
    "the Local Government Act 1972 s224 and the Code of Practice under FOI Act 2000 s46."
)

PURPOSES = [
    "to fulfil the duty under section 436A of the Education Act 1996 to identify children missing education",
    "tracking and monitoring of children missing education living in the Bi-Borough (Westminster, "
    "Kensington and Chelsea)",
    "the council's safeguarding duty",
    "the Prevent duty",
    "notifying the Home Office of potential illegal immigration",
    "criminal investigations, where the police ask for information",
    "preventing and detecting fraud",
    "where there is a risk of serious harm or threat to life",
    "validating proof of address (admissions)",
]

CATEGORY_DESCRIPTIONS = {
    DataCategory.CONTACT: "personal contact details: name, title, addresses, contact numbers, personal email",
    DataCategory.DEMOGRAPHICS: "personal demographics, including date of birth and gender",
    DataCategory.EDUCATION: "education information, including SEND and previous or current schools",
    DataCategory.STATUTORY_SERVICES: "involvement with statutory services (social care, early help, MASH, "
                                     "admissions, exclusions, housing, alternative provision, SEND, youth justice)",
    DataCategory.BENEFITS: "receipt of benefits",
    DataCategory.COUNCIL_TAX: "council tax",
    DataCategory.HOME_OFFICE: "involvement with the Home Office",
    DataCategory.POLICE_PROBATION: "involvement with the police and/or probation",
}

RECIPIENT_CATEGORIES = {
    "internal": [
        "Admissions and Access to Education (CME, Elective Home Education, Exclusions, Child Licensing)",
        "the Data Team", "the Early Help Service", "the MASH team and Safeguarding service",
        "Governance and Legal Services",
    ],
    "external": [
        "schools and academies, including independent and boarding schools", "other councils and boroughs",
        "the police", "the Home Office", "the Department for Work and Pensions",
    ],
}

# Retention (Art 15(1)(d)) is not a fixed text: the pack's statement is written from the retention schedule in
# force (cme_shared.retention.statement(settings.retention_schedule())), passed in by whoever builds the pack.

SOURCES = [
    "other local authorities", "the child's current or previous schools", "the NHS",
    "other professionals such as social services and the Metropolitan Police",
    "members of the public, who may refer anonymously",
]

ICO = {
    "name": "Information Commissioner's Office",
    "website": "https://ico.org.uk/make-a-complaint/",
    "helpline": "0303 123 1113",
    "address": "Wycliffe House, Water Lane, Wilmslow, Cheshire SK9 5AF",
}

RIGHTS = [
    {"right": "rectification", "text": "Ask us to correct factual information that is inaccurate or incomplete "
     "(Art 16). Under the public task basis this applies to facts, not to professional opinion; where you "
     "dispute an opinion we may add your addendum to the record, decided case by case."},
    {"right": "restriction", "text": "Ask us to restrict processing (Art 18): the data is then stored but "
     "not otherwise used or shared, except with consent, for legal claims, to protect another person or "
     "for important public interest."},
    {"right": "objection", "text": "Object to our processing (Art 21): we stop unless we show compelling "
     "legitimate grounds, and record our decision."},
    {"right": "erasure", "text": "Ask us to delete data (Art 17). Because we process under public task, "
     "the right to erasure is set aside (Art 17(3)(b)); we will explain any refusal."},
    {"right": "transfer", "text": "Have your record sent to another council if you move, as a statutory "
     "share in a machine-readable form."},
    {"right": "automated_decision", "text": "Where a significant decision about you is based solely on "
     "automated processing, to be told about it, to make representations about it, to have a person at the "
     "council look at it again and to contest it (UK GDPR Arts 22A-22D): see automated decision-making "
     "below."},
    {"right": "complaint", "text": "Complain to us (DPA 2018 s164A): we acknowledge within 30 days and "
     "tell you the outcome. You may complain to the Information Commissioner's Office at any time."},
    {"right": "judicial_remedy", "text": "Apply to a court for an effective judicial remedy (UK GDPR Art "
     "79; DPA 2018 s167 compliance orders)."},
]

COMPLAINT_ROUTE = {
    "council": "Email the Children Missing Education Team (address in the council's CME privacy notice); "
               "your concern is investigated under the council's complaints procedure.",
    "ico": ICO,
}

# UK GDPR Arts 22A-22D, inserted by the Data (Use and Access) Act 2025 s80 in place of Art 22 (in force
# 5 Feb 2026): a significant decision based solely on automated processing is allowed with safeguards
# (Art 22C: information about it, representations, human intervention, contesting it), and not on
# special category data save as Art 22B allows.
# What anyone can do about a rule that runs without an officer (Art 22C).
AUTOMATED_DECISION_SAFEGUARDS = (
    "You are told about it in this register and in your access pack, where the record shows the rule's "
    "reason. You can make representations, ask for an officer of the Children Missing Education Team to "
    "look at it again, and contest it: write to the team (details in the council's CME privacy notice) or "
    "make a complaint. Any new information about the child (a concern from anyone, a safeguarding flag) is "
    "looked at by an officer.")

# The register of automated processing (Arts 22A-22D; DOMAIN section 5). Each entry says what runs, why,
# and whether a person looks at it before it takes effect; the entries marked solely_automated have
# the safeguards above.
AUTOMATED_PROCESSING_REGISTER: list[dict[str, Any]] = [
    {
        "name": "referral triage risk level (casework)",
        "what": "a rule-based risk level (high/standard) set when a case opens, from the referral's "
                "notification kind, safeguarding concern and statutory-service flags",
        "why": "so that officers see the children at most risk first (DOMAIN section 2: any safeguarding "
               "flag is escalated)",
        "effect": "advisory only: it orders officers' work; every decision about the child (enquiries, "
                  "escalation, closure, referral to other services) is made and recorded by a named officer",
        "solely_automated": False,
        "profiling": False,
    },
    {
        "name": "identity matching (intake)",
        "what": "matching a referral to an existing child or carer record by identifiers, or by name, date "
                "of birth and postcode",
        "why": "so that what the council learns about a child joins that child's record, and one child is not "
               "recorded twice",
        "effect": "no decision about a person; uncertain matches are reviewed by an officer",
        "solely_automated": False,
        "profiling": False,
    },
    {
        "name": "a referral recorded without a case (casework)",
        "what": "when a school, another council or a partner tells us about a child, a fixed rule (no "
                "scoring, no profiling) decides whether a children missing education case opens. It records "
                "the referral in the child's history, with the rule's reason, and opens no case when the law "
                "says the child is not missing education: a child below or over compulsory school age "
                "(Education Act 1996 ss8 and 436A), with a follow-up on the day a younger child reaches it; "
                "a parent's notice of education otherwise or a school attendance order revoked for it "
                "(deletion grounds (f) and (e), SI 2024/208 reg 9), sent to elective home education; a "
                "child still on another school's roll, detained or who has died (grounds (c), (j), (k)); "
                "a school's own attendance concern about a pupil on its roll; and a new pupil return or "
                "change of circumstances",
        "why": "s436A is a duty to identify children of compulsory school age who are not registered pupils "
               "and not receiving suitable education otherwise; the DfE's children missing education "
               "guidance (updated 8 September 2025) says who they are. The rule applies those definitions "
               "the same way every time, so that officers' time goes to children who may be missing",
        "effect": "no case and no enquiries about the child follow from that referral. A safeguarding flag "
                  "on it is sent to the safeguarding team (MASH / children's social care), whose officers "
                  "decide; a child sent to elective home education is assessed by an officer; any later "
                  "concern opens a case",
        "solely_automated": True,
        "profiling": False,
        "safeguards": AUTOMATED_DECISION_SAFEGUARDS,
    },
    {
        "name": "a ground (a) deletion with a known destination closed off with no human look (casework)",
        "what": "when a school deletes a child from its roll because the child has moved to another school "
                "(SI 2024/208 reg 9(1)(a)) and names that school and the start date, the referral is "
                "recorded as the child being on roll elsewhere and no case opens; no officer looks at it. "
                "Where the start date leaves the child out of school for more than a few school days, a "
                "case opens instead to check the child starts. If the child already has an open case, the "
                "rule only proposes closing it: an officer confirms or rejects the closure",
        "why": "a child on another school's roll is a registered pupil and not missing education (Education "
               "Act 1996 s436A; DOMAIN section 2: normally not a CME case); the return itself names the "
               "school and the date",
        "effect": "no case and no enquiries follow from that return; the child is not counted as missing "
                  "education",
        "solely_automated": True,
        "profiling": False,
        "safeguards": AUTOMATED_DECISION_SAFEGUARDS,
    },
    {
        "name": "a school attendance notice left unanswered opens a case (casework)",
        "what": "when the council has served a notice under Education Act 1996 s437(1) asking a parent to "
                "show that a home-educated child is receiving suitable education, and the period the notice "
                "gave ends with no answer recorded, a daily rule records that the period lapsed and opens (or "
                "links) a children missing education case for the child. A child whose data is restricted is "
                "left for an officer",
        "why": "s437(3)(a): a parent who fails to satisfy the council within the notice's period is treated as "
               "not having shown suitable education, and the council must then act; the case makes sure "
               "officers do",
        "effect": "a case opens and officers make enquiries; no school attendance order follows without an "
                  "officer serving the s438 notice and deciding on the order",
        "solely_automated": True,
        "profiling": False,
        "safeguards": AUTOMATED_DECISION_SAFEGUARDS,
    },
    {
        "name": "elective home education records made from notices (casework)",
        "what": "a school's deletion return on ground (f) (the parent's written notice of education "
                "otherwise) or ground (e), or a parent's notice recorded by an officer, makes an elective "
                "home education record for the child (one open record per child), whose suitability an "
                "officer then assesses",
        "why": "the DfE's children missing education guidance: a child in elective home education the council "
               "has not yet assessed is not missing education; the council must still find out whether the "
               "education is suitable (Education Act 1996 s437)",
        "effect": "no decision about the family: every enquiry, assessment and notice is an officer's",
        "solely_automated": False,
        "profiling": False,
    },
    {
        "name": "retention disposal (every service)",
        "what": "each night a job disposes of the records whose retention period under the schedule in force "
                "has ended, unless a legal hold or a restriction keeps them; a minimal note of what was "
                "disposed of, when and under which rule stays",
        "why": "UK GDPR Art 5(1)(e): personal data is kept no longer than necessary; the council's records "
               "policy sets the periods",
        "effect": "no decision about a person; the records officer sees in advance what will go and can place "
                  "a legal hold",
        "solely_automated": False,
        "profiling": False,
    },
]

AUTOMATED_DECISION_STATEMENT = (
    "We do not profile you (UK GDPR Arts 22A-22D). Where the system calculates a risk level it is advisory, "
    "and a named officer makes and records the decision. Three fixed rules do run without an officer: when a "
    "school or partner tells us about a child, whether a referral opens a children missing education case "
    "or is only recorded (for example a child outside compulsory school age, or a parent's notice of "
    "education otherwise), and a school's notice that the child has moved to a named school on a known "
    "date; and, when a parent has not answered a school attendance notice (Education Act 1996 s437(1)) in "
    "the time it gave, opening a case. The register below says what each does and why. " + AUTOMATED_DECISION_SAFEGUARDS
)


def supplementary_information(categories_held: list[str], retention: str) -> dict[str, Any]:
    """Art 15(1)(a)-(h) and (2): the same block in every access pack; `retention` is the statement of the
    retention schedule in force."""
    return {
        "controller": "the Bi-Borough councils (Westminster City Council; Royal Borough of Kensington and Chelsea)",
        "lawful_basis": LAWFUL_BASIS,
        "purposes": PURPOSES,
        "categories": [{"category": c, "description": CATEGORY_DESCRIPTIONS[DataCategory(c)]}
                       for c in categories_held],
        "categories_we_may_hold": [{"category": c.value, "description": d} for c, d in CATEGORY_DESCRIPTIONS.items()],
        "recipient_categories": RECIPIENT_CATEGORIES,
        "retention": retention,
        "sources": SOURCES,
        "rights": RIGHTS,
        "complaint": COMPLAINT_ROUTE,
        "automated_decision_making": {"statement": AUTOMATED_DECISION_STATEMENT,
                                      "register": AUTOMATED_PROCESSING_REGISTER},
    }
