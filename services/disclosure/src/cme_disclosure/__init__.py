"""Disclosure: every share and every decision not to share, policy-checked, in a tamper-evident log."""
