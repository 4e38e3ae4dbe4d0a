"""Tests of the CRM domain: companies, persons, lookup, search and record-level access."""
