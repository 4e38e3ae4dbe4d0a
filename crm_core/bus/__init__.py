"""Event bus: typed events, an in-process bus and a Redis pub/sub bus behind one port."""
