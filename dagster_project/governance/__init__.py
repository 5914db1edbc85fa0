"""Governed access: persona policies, governed queries, the audit log and time travel."""
