"""E-government service probes (HTTP status, latency, TLS certificate expiry, content check)."""
