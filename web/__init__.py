"""Web: the aiohttp application (composition root), REST API, WebSocket push, pages and CLI."""
