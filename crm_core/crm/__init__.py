"""The CRM domain: companies, persons, contact data, record-level access, caller-ID lookup."""
