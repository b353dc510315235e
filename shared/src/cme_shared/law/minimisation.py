"""Data minimisation for CME tracking shares, one list for every service (UK GDPR Art 5(1)(c)).

Telling a school or another council about a child missing education (Education Act 1996 s436A; DfE
"Children missing education", Sep 2025: making reasonable enquiries, the Common Transfer File and the
school's admission) needs who and where the child and the carers are, which child it is, and the
schooling: the fields below. A tracking share never sends the NHS number, special educational needs,
the carers' email or relationship, middle or preferred names, safeguarding flags or details: a
partner who needs those asks through the disclosure service under another purpose, weighed and
recorded (DOMAIN section 4; ICO Data Sharing Code, "data minimisation").

The disclosure service's policy (`fields: "cme_tracking_fields"`) and casework's own shares
(`sharing.check_share`) both release no more than this list for the shares in `TRACKING_SHARES`
(statutory rules review, December 2026, section 3 item 14). Field paths are those of the data
catalogue (`child.first_name`); the referral contract tags each with its category.
"""

from collections.abc import Mapping
from types import MappingProxyType

from cme_shared.contracts.categories import DataCategory

CME_TRACKING_FIELDS: Mapping[DataCategory, tuple[str, ...]] = MappingProxyType({
    DataCategory.CONTACT: ("child.first_name", "child.last_name", "child.aliases", "child.address",
                           "carers.first_name", "carers.last_name", "carers.address", "carers.phones"),
    DataCategory.DEMOGRAPHICS: ("child.date_of_birth", "child.sex"),
    DataCategory.EDUCATION: ("child.upn", "child.current_school_urn", "child.previous_school_urn",
                             "notification.destination_school_urn", "notification.deletion_ground",
                             "notification.deletion_date"),
})

# (recipient type, purpose) of the shares that release only the CME tracking fields. A statutory
# transfer to the council where the child now lives (the whole record, SI 2024/208 reg 13) and the
# council's own teams are not limited by this list.
TRACKING_SHARES = frozenset({("school", "cme_tracking"), ("other_local_authority", "cme_tracking")})


def tracking_fields_only(recipient_type: str, purpose: str) -> bool:
    """Whether a share of this recipient type and purpose may release only the CME tracking fields."""
    return (str(recipient_type), str(purpose)) in TRACKING_SHARES


def is_cme_tracking_field(name: str) -> bool:
    return any(name in fields for fields in CME_TRACKING_FIELDS.values())
