"""Merging the units' figures into area totals, and exporting the ledger."""
