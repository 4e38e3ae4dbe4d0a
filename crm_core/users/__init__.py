"""Users, roles, teams, sessions, API tokens, permissions and the audit log."""
