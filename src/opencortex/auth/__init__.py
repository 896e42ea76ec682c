"""Authentication: sessions with CSRF, signed requests, bearer tokens, and the resulting principal."""
