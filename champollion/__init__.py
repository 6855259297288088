"""Champollion: shared command line, configuration and home directory of the three stages."""
