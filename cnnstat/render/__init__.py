"""Rendering: records → rows (optionally collapsed by depth) → rich table, markdown, CSV, JSON,
pandas. Numbers stay integers until the last formatting step here."""
