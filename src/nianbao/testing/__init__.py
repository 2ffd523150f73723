"""Test helpers: drive a real spreadsheet application (LibreOffice) to fill and recalc workbooks."""
