"""Handoff to advisors: escalation records, routing, drafted replies."""
