"""Callboard CRM core: the shared kernel (settings, database, bus, users, auth) and the CRM."""
