"""The reviewer web UI: server-rendered pages, sessions with CSRF, wellness defaults."""
