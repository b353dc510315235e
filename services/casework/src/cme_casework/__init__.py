"""Casework: where CME officers track every child referred until the child is found in education."""
