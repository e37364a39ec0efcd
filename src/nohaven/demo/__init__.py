"""The demo: an illustrative sample directory of fictional States, demo users and requests at every clock stage."""
