"""Reading DSN files (norm NEODeS): decoding, nesting of blocks, declarations."""
