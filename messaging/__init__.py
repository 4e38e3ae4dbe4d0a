"""Messaging: templates, the durable outbox and the SMS, e-mail and fax workers."""
