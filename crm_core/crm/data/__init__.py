"""Data files shipped with the CRM: the name-day calendars (``namedays_<language>.json``)."""
