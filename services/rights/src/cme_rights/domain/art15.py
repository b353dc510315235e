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

RETENTION = (
    "Kept only as long as necessary for the purposes above, under the council's corporate records policy: "
    "by default 7 years after the case is closed (configurable per category; longer under a legal hold). "
    "At disposal the content is destroyed and a minimal note of what was disposed of, when and why remains."
)

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
    {"right": "automated_decision", "text": "Not to be subject to a decision based solely on automated "
     "processing (Art 22): see automated decision-making below."},
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

# The register of automated processing (Art 22; DOMAIN section 5). Each entry says what runs, and why
# no decision about a person rests on it alone.
AUTOMATED_PROCESSING_REGISTER: list[dict[str, Any]] = [
    {
        "name": "referral triage risk level (casework)",
        "what": "a rule-based risk level (high/standard) set when a case opens, from the referral's "
                "notification kind, safeguarding concern and statutory-service flags",
        "effect": "advisory only: it orders officers' work; every decision about the child (enquiries, "
                  "escalation, closure, referral to other services) is made and recorded by a named officer",
        "solely_automated": False,
        "profiling": False,
    },
    {
        "name": "identity matching (intake)",
        "what": "matching a referral to an existing child or carer record by identifiers, or by name, date "
                "of birth and postcode",
        "effect": "no decision about a person; uncertain matches are reviewed by an officer",
        "solely_automated": False,
        "profiling": False,
    },
]

AUTOMATED_DECISION_STATEMENT = (
    "No decision about you is based solely on automated processing, including profiling (UK GDPR Art 22). "
    "Where the system calculates a risk level it is advisory, and a named officer makes and records the decision."
)


def supplementary_information(categories_held: list[str]) -> dict[str, Any]:
    """Art 15(1)(a)-(h) and (2): the same block in every access pack."""
    return {
        "controller": "the Bi-Borough councils (Westminster City Council; Royal Borough of Kensington and Chelsea)",
        "lawful_basis": LAWFUL_BASIS,
        "purposes": PURPOSES,
        "categories": [{"category": c, "description": CATEGORY_DESCRIPTIONS[DataCategory(c)]}
                       for c in categories_held],
        "categories_we_may_hold": [{"category": c.value, "description": d} for c, d in CATEGORY_DESCRIPTIONS.items()],
        "recipient_categories": RECIPIENT_CATEGORIES,
        "retention": RETENTION,
        "sources": SOURCES,
        "rights": RIGHTS,
        "complaint": COMPLAINT_ROUTE,
        "automated_decision_making": {"statement": AUTOMATED_DECISION_STATEMENT,
                                      "register": AUTOMATED_PROCESSING_REGISTER},
    }
