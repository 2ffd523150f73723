"""Validation: the form's rules run over a record's values."""
