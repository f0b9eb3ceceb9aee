"""Rendering: records → rows (optionally collapsed by depth) → terminal table (fitted to a width:
terminal.py), markdown, CSV, JSON, pandas. Numbers stay integers until the last formatting step
here."""
