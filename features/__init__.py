"""Stage 1: DSN files to the contract warehouse, legal-rule checks and features as of a month."""
