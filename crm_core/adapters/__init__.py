"""Real adapters of crm_core ports (Redis)."""
