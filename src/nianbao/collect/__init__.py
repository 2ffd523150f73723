"""Collection: the workspace, the roster, distribution, intake into the ledger, feedback."""
