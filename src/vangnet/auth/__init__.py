"""API keys, roles and permissions; web users and their second factor."""
