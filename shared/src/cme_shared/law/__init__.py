"""The legal rules of sharing that more than one service applies, written once (DOMAIN section 4).

- `gateways`: what a share's `legal_gateway` text cites: the immigration exemption no council may cite
  (DPA 2018 Sch 2 Part 1 para 4), the safeguarding condition (DPA 2018 Sch 1 Part 2 para 18) and the
  public task basis (UK GDPR Art 6(1)(e)).
- `minimisation`: the fields a CME tracking share with a school or another council may release.

Casework's own shares (`cme_casework.domain.sharing`) and the disclosure service's policy
(`cme_disclosure.domain.policy`) both read these, so the two services cannot disagree on them.
"""
