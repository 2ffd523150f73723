"""Reading returned workbooks: the pre-check that classifies a file, then the reader."""
