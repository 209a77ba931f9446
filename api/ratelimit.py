"""Per-client token buckets for the public endpoints (in memory, one process).

A client is its address, or — behind a trusted reverse proxy — the right-most address of
``X-Forwarded-For`` that is not a trusted proxy (a client cannot pick its bucket by writing the header). ``rate`` tokens per second refill a bucket of ``burst``; an empty bucket is
HTTP 429 with ``Retry-After``. The table is pruned of idle clients so it stays bounded.
"""

from __future__ import annotations

import time


class RateLimiter:
    def __init__(
        self, rate_per_s: float, burst: int, trusted_proxies: set[str] | None = None, max_clients: int = 200_000
    ):
        self.rate, self.burst = float(rate_per_s), float(burst)
        import ipaddress

        self.trusted: set[str] = set()
        self.trusted_nets = []
        for t in trusted_proxies or ():
            if "/" in t:
                self.trusted_nets.append(ipaddress.ip_network(t, strict=False))
            else:
                self.trusted.add(t)
        self._peer_trusted: dict[str, bool] = {}
        self.max_clients = max_clients
        self.buckets: dict[str, list[float]] = {}
        self.limited = 0

    def _trusted(self, peer: str | None) -> bool:
        if peer in self.trusted:
            return True
        if not self.trusted_nets or not peer:
            return False
        hit = self._peer_trusted.get(peer)
        if hit is None:
            import ipaddress

            try:
                ip = ipaddress.ip_address(peer)
                hit = any(ip in n for n in self.trusted_nets)
            except ValueError:
                hit = False
            if len(self._peer_trusted) > 10_000:
                self._peer_trusted.clear()
            self._peer_trusted[peer] = hit
        return hit

    def client_of(self, peer: str | None, forwarded: str | None) -> str:
        """The client: the TCP peer, or — when the peer is a trusted proxy — the right-most
        ``X-Forwarded-For`` hop that is not a trusted proxy. Proxies append the address they saw,
        so the hops left of it are whatever the client wrote and never choose the bucket."""
        if not forwarded or not self._trusted(peer):
            return peer or "?"
        hops = [h.strip() for h in forwarded.split(",")]
        for hop in reversed(hops):
            if not hop:
                continue
            if not self._trusted(hop):
                return hop[:64]
        first = next((h for h in hops if h), None)  # every hop a trusted proxy: the left-most
        return (first or peer or "?")[:64]

    def take(self, client: str, now: float | None = None) -> float:
        """0 when allowed, else seconds until a token is back."""
        if self.rate <= 0:
            return 0.0
        now = now or time.monotonic()
        b = self.buckets.get(client)
        if b is None:
            if len(self.buckets) >= self.max_clients:
                self._prune(now)
            self.buckets[client] = [self.burst - 1.0, now]
            return 0.0
        tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
        b[1] = now
        if tokens >= 1.0:
            b[0] = tokens - 1.0
            return 0.0
        b[0] = tokens
        self.limited += 1
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        for k in [k for k, b in self.buckets.items() if now - b[1] > full_after]:
            del self.buckets[k]
        if len(self.buckets) >= self.max_clients:  # all active: drop the oldest half
            for k, _ in sorted(self.buckets.items(), key=lambda kv: kv[1][1])[: self.max_clients // 2]:
                del self.buckets[k]
