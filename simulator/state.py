"""Live state of one simulated device: uptime, power, reachability, traffic counters, radio figures.

Traffic follows a daily curve in WIB (quiet at night, peaks in the evening); counters integrate
the rate lazily at each request, so they grow smoothly and wrap for real at 2^32 on busy
hotspots (Counter32 = Counter64 mod 2^32, as on real devices). A reboot resets uptime and
counters and increments the SNMPv3 engineBoots.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from snmpwire.ber import enc_octets

WIB = timezone(timedelta(hours=7))
# Share of peak traffic by hour of day (WIB), 0..23.
DAILY = [
    0.10,
    0.06,
    0.04,
    0.04,
    0.05,
    0.12,
    0.25,
    0.40,
    0.55,
    0.55,
    0.55,
    0.60,
    0.70,
    0.65,
    0.60,
    0.60,
    0.65,
    0.75,
    0.85,
    0.95,
    1.00,
    0.95,
    0.70,
    0.35,
]


def daily_factor(t: float) -> float:
    dt = datetime.fromtimestamp(t, WIB)
    h = dt.hour + dt.minute / 60
    a, b = DAILY[int(h) % 24], DAILY[(int(h) + 1) % 24]
    return a + (b - a) * (h - int(h))


def _noise(seed: int, bucket: int) -> float:
    """Deterministic pseudo-random in [0, 1) per (device, time bucket)."""
    x = (seed * 2654435761 + bucket * 40503 + 12345) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 1274126177) & 0xFFFFFFFF
    return (x & 0xFFFF) / 65536


class DeviceState:
    """State shared by a hotspot's or switch's SNMP responses."""

    def __init__(
        self,
        ident: str,
        seed: int,
        name: str,
        location: str,
        macs: list[bytes],
        n_if: int = 3,
        peak_down_bps: float = 20e6,
        max_clients: int = 40,
        clock=time.time,
    ):
        self.ident = ident
        self.seed = seed
        self.clock = clock
        self.enc_name = enc_octets(name)
        self.enc_location = enc_octets(location)
        self.enc_macs = macs
        self.n_if = n_if
        # Share of the traffic each interface carries: uplink all of it, radios 30/70 (or an even split).
        self.shares = (1.0, 0.3, 0.7) if n_if == 3 else (1.0,) + (1.0 / max(1, n_if - 1),) * (n_if - 1)
        self.peak_down = peak_down_bps / 8  # bytes/s
        self.max_clients = max_clients
        self.boots = 1
        now = clock()
        # Devices have been up for a while when the simulation starts (hours to weeks).
        self.boot_time = now - (3600 + (seed * 7919) % (21 * 86400))
        # Counters start at a device-specific offset so that 32-bit wraps come soon on busy devices.
        self.acc = [[float((seed * 104729 * (i + 1) + d * 7777) % (2**32)) for d in (0, 1)] for i in range(n_if)]
        self.pkts = [[a / 700.0 for a in row] for row in self.acc]
        self.last = now
        self.if_up = [True] * n_if
        self.if_change = [self.boot_time] * n_if
        self.port_state: list | None = None  # switches: callables telling each port's link state

    # --- lifecycle ------------------------------------------------------------------------------
    def reboot(self) -> None:
        now = self.clock()
        self.boot_time = now
        self.boots += 1
        self.acc = [[0.0, 0.0] for _ in range(self.n_if)]
        self.pkts = [[0.0, 0.0] for _ in range(self.n_if)]
        self.last = now
        self.if_change = [now] * self.n_if

    def uptime_ticks(self) -> int:
        return int((self.clock() - self.boot_time) * 100) % (2**32)

    def engine_time(self) -> int:
        return int(self.clock() - self.boot_time)

    # --- traffic ------------------------------------------------------------------------------
    def update(self) -> None:
        now = self.clock()
        dt = now - self.last
        if dt <= 0:
            return
        self.last = now
        f = daily_factor(now) * (0.85 + 0.3 * _noise(self.seed, int(now // 30)))
        down = self.peak_down * f * dt  # bytes delivered to clients in dt
        up = down * 0.18
        shares, acc, pkts = self.shares, self.acc, self.pkts
        # Interface 0 is the uplink: in = downloads from the internet, out = uploads.
        # Radios: out = to clients, in = from clients.
        for i in range(self.n_if):
            if not self.if_up[i]:
                continue
            s = shares[i]
            rx, tx = (down, up) if i == 0 else (up * s, down * s)
            acc[i][0] += rx
            acc[i][1] += tx
            pkts[i][0] += rx / 700.0
            pkts[i][1] += tx / 900.0

    def octets(self, i: int, direction: int) -> int:
        return int(self.acc[i][direction])

    def packets(self, i: int, direction: int) -> int:
        return int(self.pkts[i][direction])

    def errors(self, i: int) -> int:
        return int(self.pkts[i][0] / 50000)

    def oper_status(self, i: int) -> int:
        if self.port_state is not None and i > 0:
            return 1 if self.port_state[i - 1]() else 2
        return 1 if self.if_up[i] else 2

    def last_change_ticks(self, i: int) -> int:
        return max(0, int((self.if_change[i] - self.boot_time) * 100)) % (2**32)

    # --- radio and host figures -----------------------------------------------------------------
    def clients(self, radio: int) -> int:
        now = self.clock()
        share = 0.35 if radio == 0 else 0.65
        return int(
            self.max_clients * share * daily_factor(now) * (0.7 + 0.6 * _noise(self.seed + radio, int(now // 60)))
        )

    def channel_util(self, radio: int) -> int:
        now = self.clock()
        base = 25 if radio == 0 else 10
        return min(
            100, int(base + 60 * daily_factor(now) * (0.6 + 0.8 * _noise(self.seed * 3 + radio, int(now // 20))))
        )

    def noise_dbm(self, radio: int) -> int:
        return (-93 if radio == 0 else -99) + int(5 * _noise(self.seed * 5 + radio, int(self.clock() // 60)))

    def cpu_pct(self) -> int:
        now = self.clock()
        return min(100, int(3 + 45 * daily_factor(now) * (0.5 + _noise(self.seed * 7, int(now // 15)))))

    def mem_fraction(self) -> float:
        return 0.35 + 0.25 * daily_factor(self.clock())
