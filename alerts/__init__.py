"""Alert delivery: receivers (data), routing, grouping, silences, payload formats, durable outbox."""
