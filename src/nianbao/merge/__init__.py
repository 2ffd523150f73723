"""Merging the units' figures into area totals, reporting them upward with their provenance,
and exporting the ledger."""
