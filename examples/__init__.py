"""Runnable examples for streamify (not part of the installed package)."""
