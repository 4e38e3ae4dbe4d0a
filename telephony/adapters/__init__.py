"""Real implementations of the telephony ports (panoramisk is imported only here)."""
