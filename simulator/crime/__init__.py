"""Offences: where and when they happen, what guardians prevent, which get reported."""
