"""The web UI's pages, one module per area; each lists its ``PAGES`` as (method, path, handler)."""
