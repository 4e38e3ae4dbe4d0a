"""Screen pop: caller-ID lookup, the customer snapshot and its delivery to agents."""
