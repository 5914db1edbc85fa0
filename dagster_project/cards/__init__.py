"""Data cards: a generated datasheet for every staging and curated table, rewritten on each publish."""
