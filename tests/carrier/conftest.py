"""Fixtures for the carrier toolkit's tests; sample logs in _data/ are written from the documented vendor formats."""
