"""The legal rules that more than one service applies, written once (sharing: DOMAIN section 4).

- `gateways`: what a share's `legal_gateway` text cites: the immigration exemption no council may cite
  (DPA 2018 Sch 2 Part 1 para 4), the safeguarding condition (DPA 2018 Sch 1 Part 2 para 18) and the
  public task basis (UK GDPR Art 6(1)(e)).
- `minimisation`: the fields a CME tracking share with a school or another council may release.
- `calendar`: working days and the bank holidays of England and Wales, for casework's school-day and
  escalation clocks and the rights request clock.
- `school_age`: compulsory school age (Education Act 1996 s8; SI 1998/1607; SI 1997/1970), for intake's
  warnings and casework's opening, closure and census.

Casework's own shares (`cme_casework.domain.sharing`) and the disclosure service's policy
(`cme_disclosure.domain.policy`) both read the first two, so the two services cannot disagree on them;
the same holds for the calendar and school age.
"""
