"""What a share's legal gateway cites: rules read from the free text an officer or a partner writes.

A gateway is written by people ("DPA 2018 Sch 2 Part 1 para 2", "para 4 of Schedule 2", "Children Act
2004 s11; UK GDPR Art 6(1)(e)"), so these rules read citations, not exact strings:

- a gateway is split into its citations at ";";
- a schedule paragraph is found in either order ("Sch 2 ... para 4", "paragraph 4 of Schedule 2"),
  with the usual spellings (Sch, Sch., Schedule; para, para., paragraph, paras 2 and 4);
- the Act a schedule belongs to is the Act named in the citation or joined to its end by "of", "to",
  "in", "under" or a bracket ("Schedule 2 to the Children Act 1989, paragraph 4", "para 4 of Sch 2 to
  the DPA 2018"), else the nearest Act named before it in the same citation, else, with no Act named, the Data Protection Act 2018 (a gateway is data protection law
  unless it says otherwise). Only "<words> Act <year>" and "DPA [2018]" name an Act: an abbreviation
  such as "CA 1989" does not, so "CA 1989 Sch 2 para 4" is read as the DPA's and refused (write the
  Act in full).

Sources: DPA 2018 Sch 2 Part 1 para 4 as amended by the Data Protection Act 2018 (Amendment of
Schedule 2 Exemptions) Regulations 2022 after R (Open Rights Group) v SSHD [2021] EWCA Civ 800, and
SI 2024/342; DPA 2018 Sch 1 Part 2 para 18 and Part 3 / Sch 8; UK GDPR Art 6(1)(e) with DPA 2018 s8;
the statutory rules review, December 2026, D6 and D7.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

_FLAGS = re.IGNORECASE | re.DOTALL

# An Act named: "<words> Act 1989" (the words are checked for "Data Protection") or "DPA [2018]".
_ACT = re.compile(r"\bact\s*(?:of\s+)?(?P<year>\d{4})\b|\bdpa\b\s*(?P<dpa_year>\d{4})?", _FLAGS)
# The Act a citation names right after it, joined by "of", "to", "in", "under" or a bracket ("Sch 2 para
# 4 of the Children Act 1989", "para 4 of Schedule 2 to the DPA 2018"); an Act after "and" is another citation.
_ACT_AFTER = re.compile(
    r"\s*(?:\(|,?\s*\b(?:of|to|in|under)\b)\s*(?:the\s+)?(?!(?:and|or|with|plus|also)\b)"
    r"(?:(?:[a-z'()-]+\s+){0,8}?act\s*(?:of\s+)?(?P<year>\d{4})\b|dpa\b\s*(?P<dpa_year>\d{4})?)",
    _FLAGS,
)
_DATA_PROTECTION_ACT_BEFORE = re.compile(r"\bdata\s+protection\s+act\s*(?:of\s+)?$", _FLAGS)


def _schedule(number: int) -> str:
    return rf"\bsch(?:ed(?:ule)?)?\.?\s*{number}(?![\d])"


def _paragraph(number: int) -> str:
    # "para 4", "para. 4(1)", "paragraph 4", "paras 2 and 4", "paras 2, 3 or 4"
    other = r"\d+[a-z]?(?:\([^)]*\))*\s*(?:,|and|or|&)\s*"
    return rf"(?:\bpara(?:graph)?s?\.?|§)\s*(?:{other})*{number}(?![\d])"


def _citation(schedule: int, paragraph: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """"Sch 2 ... para 4" and "para 4 of ... Schedule 2": the words between them may not start another
    schedule or another citation."""
    sch, para = _schedule(schedule), _paragraph(paragraph)
    forward = rf"{sch}(?:(?!\bsch|;).)*?{para}"
    backward = rf"{para}(?:\([^)]*\))*(?:(?!\bsch|\bpara|;).){{0,40}}?{sch}"
    return re.compile(forward, _FLAGS), re.compile(backward, _FLAGS)


# A paragraph right after a schedule is that schedule's ("Sch 8 para 4, Sch 2 ..." is Sch 8's para 4).
_SCHEDULE_JUST_BEFORE = re.compile(r"\bsch(?:ed(?:ule)?)?\.?\s*\d+[\s,]*(?:(?:part|pt)\.?\s*\d+[\s,]*)?$", _FLAGS)


def _citations(gateway: str) -> Iterator[str]:
    yield from (part for part in gateway.split(";") if part.strip())


def _is_dpa_2018(text: str, act: re.Match[str]) -> bool:
    if act.group("year") is not None:
        return act.group("year") == "2018" and bool(_DATA_PROTECTION_ACT_BEFORE.search(text, 0, act.start("year")))
    return act.group("dpa_year") in (None, "2018")


def _acts_own(text: str, citation: re.Match[str]) -> bool:
    """Whether the schedule cited is the Data Protection Act 2018's (see the module's docstring)."""
    inside = next((a for a in _ACT.finditer(text, citation.start(), citation.end())), None)
    if inside is not None:
        return _is_dpa_2018(text, inside)
    after = _ACT_AFTER.match(text, citation.end())
    if after is not None:
        return _is_dpa_2018(text, after)
    before = [a for a in _ACT.finditer(text, 0, citation.start())]
    return _is_dpa_2018(text, before[-1]) if before else True


def _cites_dpa_paragraph(gateway: str, citation: tuple[re.Pattern[str], re.Pattern[str]]) -> bool:
    forward, backward = citation
    for text in _citations(gateway):
        if any(_acts_own(text, m) for m in forward.finditer(text)):
            return True
        if any(_acts_own(text, m) for m in backward.finditer(text)
               if not _SCHEDULE_JUST_BEFORE.search(text, 0, m.start())):
            return True
    return False


_SCH2_PARA4 = _citation(2, 4)
# The exemption by its name: "the immigration exemption", "immigration control exemption",
# "exemption for (the purposes of) immigration control", "exemption (immigration)".
_IMMIGRATION_BY_NAME = re.compile(
    r"\bimmigration(?:[\s-]+control)?[\s-]+exemption\b"
    r"|\bexemptions?\s+(?:for|relating\s+to|on|of)\s+(?:the\s+)?(?:purposes?\s+of\s+)?(?:effective\s+)?immigration\b"
    r"|\bexemptions?\s*\(\s*immigration\b",
    _FLAGS,
)


def cites_immigration_exemption(gateway: str) -> bool:
    """Whether a gateway cites the immigration exemption, DPA 2018 Sch 2 Part 1 para 4, however worded.

    Since the 2022 Regulations only the Secretary of State may apply it: a council share must rest on its
    own gateway and never cite it (DOMAIN section 4). Another Act's Sch 2 para 4 ("Children Act 1989 Sch 2
    para 4", the duty to prevent neglect and abuse) is not it.
    """
    return bool(_IMMIGRATION_BY_NAME.search(gateway)) or _cites_dpa_paragraph(gateway, _SCH2_PARA4)


_SCH1_PARA18 = _citation(1, 18)
_SAFEGUARDING_BY_NAME = re.compile(r"\bsafeguarding\s+of\s+children\s+and\s+(?:of\s+)?individuals\s+at\s+risk\b",
                                   _FLAGS)


def cites_safeguarding_condition(gateway: str) -> bool:
    """Whether a gateway cites DPA 2018 Sch 1 Part 2 para 18, "safeguarding of children and of individuals
    at risk": the council's condition for safeguarding shares (UK GDPR Art 9(2)(g) with DPA 2018 s10(3)).

    Sch 8 para 4 is the same condition for Part 3 (law enforcement) processing by competent authorities;
    it is the police's, not the council's, and is not accepted here (review D7).
    """
    return bool(_SAFEGUARDING_BY_NAME.search(gateway)) or _cites_dpa_paragraph(gateway, _SCH1_PARA18)


_ART_6_1_E = re.compile(r"\bart(?:icle)?s?\.?\s*6\s*\(\s*1\s*\)\s*\(\s*e\s*\)|\bpublic\s+task\b", _FLAGS)


def cites_public_task(gateway: str) -> bool:
    """Whether a gateway cites UK GDPR Art 6(1)(e) (a task in the public interest or in the exercise of
    official authority; DPA 2018 s8: a function conferred by an enactment), the council's lawful basis."""
    return bool(_ART_6_1_E.search(gateway))


# The rules a policy table may name for a row (`gateway_rules`): each accepts a gateway that cites it.
GATEWAY_RULES: Mapping[str, Callable[[str], bool]] = MappingProxyType({
    "dpa_2018_sch1_para18_safeguarding": cites_safeguarding_condition,
    "uk_gdpr_art6_1_e_public_task": cites_public_task,
})
