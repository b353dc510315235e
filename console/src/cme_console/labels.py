"""Words for the services' codes, as an officer reads them. A code without an entry is shown with its
underscores as spaces, so a new code never breaks a page."""

LABELS = {
    # case reasons (casework domain/opening.py)
    "unknown_destination": "Deleted from roll, destination unknown",
    "not_returned_after_leave": "Not returned after leave of absence",
    "unexplained_absence_20_days": "20 school days' unexplained absence",
    "education_otherwise_notified": "Parent says educating otherwise",
    "permanently_excluded": "Permanently excluded",
    "failed_to_start": "Failed to start at a school",
    "moved_no_forwarding_address": "Moved, no forwarding address",
    "new_arrival_not_in_school": "New arrival, not in school",
    "concern_reported": "Concern reported",
    "safeguarding_flag": "Safeguarding flag",
    "ehe_education_unsuitable": "Home education found unsuitable",
    # elective home education (casework domain/ehe.py)
    "notified": "Notice received", "suitable": "Suitable: monitored", "unsuitable": "Found unsuitable",
    "s437_notice": "Section 437 notice served", "s438_notice": "Section 438 notice served",
    "school_attendance_order": "School attendance order", "no_education_evident": "No education evident",
    "notice_received": "Notice of education otherwise",
    "parent_responded": "Parent responded", "assessment_recorded": "Assessment",
    "s437_notice_served": "Section 437(1) notice served", "s437_response_recorded": "Answer to the s437 notice",
    "s438_notice_served": "Section 438 notice of intention served",
    "school_attendance_order_made": "School attendance order made",
    "school_attendance_order_revoked": "School attendance order revoked (s442)", "record_closed": "Record closed",
    "cme_case_linked": "CME case linked", "enquiry": "Enquiry", "parent_response": "Parent's response",
    "assessment": "Assessment", "s437_period_ends": "End of the s437 period",
    "s438_school_choice": "End of the s438 school choice", "education_otherwise": "Education otherwise",
    "ehe_linked": "Linked to the EHE record", "routed_to_ehe": "Routed to elective home education",
    # statuses
    "open": "Open", "enquiries": "Enquiries under way", "escalated": "Escalated", "closure_proposed":
    "Closure proposed", "closed": "Closed", "pending": "Awaiting a decision", "shared": "Shared",
    "refused": "Refused",
    # what is due
    "escalation": "Escalation", "first_enquiries": "First enquiries", "review": "Review",
    # boroughs and risk
    "westminster": "Westminster", "kensington_and_chelsea": "Kensington and Chelsea", "high": "High",
    "standard": "Standard", "medium": "Medium", "low": "Low",
    # agencies and outcomes (casework domain/enquiries.py)
    "other_local_authority": "Another local authority", "council_tax": "Council tax", "fraud_team": "Fraud team",
    "dwp": "DWP", "home_office": "Home Office", "found_in_education": "Found in education",
    "found_not_in_education": "Found, not in education", "information_provided": "Information provided",
    "not_known": "Not known to them", "no_reply": "No reply", "declined": "Declined to say",
    "mash": "MASH", "childrens_social_care": "Children's social care", "early_help": "Early help",
    "accepted_for_assessment": "Accepted for assessment", "section_47_enquiry": "Section 47 enquiry",
    # closure reasons (casework domain/closure.py)
    "on_roll_elsewhere": "On roll at another school",
    "elective_home_education_suitable": "Elective home education, suitable",
    "left_england": "Left England", "transferred_to_another_la": "Transferred to another council",
    "alternative_provision": "In alternative provision", "over_compulsory_school_age": "Over compulsory school age",
    "deceased": "Died", "in_custody": "In custody", "duplicate_or_not_cme": "Duplicate, or not a CME case",
    "untraced_enquiries_exhausted": "Untraced, enquiries exhausted",
    # notes and data categories
    "fact": "Fact", "professional_opinion": "Professional opinion", "statutory_services": "Statutory services",
    "police_probation": "Police and probation",
    # rights
    "access": "Subject access", "ready_for_review": "Ready for the DPO's review", "responded": "Responded",
    "collecting": "Gathering data", "awaiting_identity": "Waiting for proof of identity", "received": "Received",
    # roles
    "officer": "Officer", "manager": "Manager", "dpo": "DPO", "auditor": "Auditor",
    # disclosures
    "cme_tracking": "Tracking a child missing education", "serious_harm": "Preventing serious harm",
    "statutory_transfer": "Statutory transfer",
}


def label(code: object) -> str:
    if code is None or code == "":
        return "None"
    text = str(code)
    return LABELS.get(text, text.replace("_", " ").capitalize())
