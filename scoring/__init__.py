"""Stage 3: monthly ranked control lists per region, explained in French."""
