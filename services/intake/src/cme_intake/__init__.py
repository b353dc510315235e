"""Intake: the platform's front door for partner referrals, and its index of who is who."""
