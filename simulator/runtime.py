"""Runs the simulated city as one asyncio process: SNMP agents, grid telemetry publisher (MQTT),
e-government HTTP services, and the control API the scenario engine drives.

HTTP (one port): ``GET /<egov-slug>/status`` the simulated e-gov services;
``POST /_sim/events`` apply an action ({"action", "target", ...fields});
``GET /_sim/state`` a snapshot; ``GET /_sim/health``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time

import paho.mqtt.client as mqtt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collectors.grid.mqtt import AsyncioPaho, BrokerConf, configure_auth
from hotspots.inventory import Inventory
from simulator.city import SimCity, notice_payload, notice_topic, topic
from simulator.snmp_agent import SharedEndpoint
from simulator.world import World

log = logging.getLogger("pantau.simulator")


class GridPublisher:
    """Publishes every feeder's and transformer's telemetry over MQTT (QoS 1), spread over the interval."""

    GATEWAY = "simulator"  # the gateway name in status topics and payloads (= its broker user under an ACL)

    def __init__(self, city: SimCity, broker: BrokerConf, client_id: str | None = None):
        self.city = city
        self.name = city.inv.city
        self.broker = broker
        if broker.username and broker.username != self.GATEWAY:
            raise ValueError(
                f"the simulator publishes as gateway {self.GATEWAY!r}: its broker user must be that "
                f"(config/mosquitto.acl patterns), not {broker.username!r}"
            )
        client_id = client_id or f"pantau-sim-grid-{self.name}"  # one per city (several share a simulator)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        configure_auth(self.client, broker)
        status = f"pantau/{self.name}/grid/gateway/{self.GATEWAY}/status"
        self.client.will_set(status, "offline", qos=1, retain=True)
        self.status_topic = status
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.published = 0
        self._seq: dict[str, int] = {}
        self._notices_sent: set[str] = set()
        self._io: AsyncioPaho | None = None

    def _on_connect(self, client, userdata, flags, reason, props):
        client.publish(self.status_topic, "online", qos=1, retain=True)
        self._notices_sent.clear()

    def publish_notices(self) -> None:
        for el, n in self.city.notices.items():
            if n.id not in self._notices_sent:
                self.client.publish(notice_topic(self.name, el), notice_payload(n), qos=1, retain=True)
                self._notices_sent.add(n.id)

    def publish(self, element: str) -> None:
        city = self.city
        if element in city.telemetry_lost:
            return
        seq = self._seq.get(element, 0) + 1
        self._seq[element] = seq
        payload = city.telemetry(element)
        payload["seq"] = seq
        data = json.dumps(payload, separators=(",", ":"))
        delay = city.telemetry_delay.get(element)
        late = city.telemetry_jitter()  # the world's jitter (0 in a clean city); the timestamp stays true
        if delay and city.clock() < delay[1]:
            late += delay[0]
        if late > 0:
            asyncio.get_running_loop().call_later(late, self._send, element, data)
        else:
            self._send(element, data)

    def _send(self, element: str, data: str) -> None:
        self.client.publish(topic(self.name, element), data, qos=1)
        self.published += 1

    async def run(self) -> None:
        self._io = AsyncioPaho(self.client, self.broker, keepalive=15, clean_start=True)
        self._io.start()
        elements = self.city.grid_elements()
        interval = self.city.telemetry_interval_s / self.city.k
        n = len(elements)
        loop = asyncio.get_running_loop()
        start = loop.time()
        i = 0
        while True:
            self.publish_notices()
            # Paced by the clock, not by per-element sleeps (whose overheads add up): every element
            # once per interval, spread evenly, whatever else the process is doing.
            due = int((loop.time() - start) / interval * n)
            while i < due:
                self.publish(elements[i % n])
                i += 1
            await asyncio.sleep(min(0.02, interval / n * 2))

    async def stop(self) -> None:
        if self._io and self.client.is_connected():
            self.client.publish(self.status_topic, "offline", qos=1, retain=True)
            await asyncio.sleep(0.2)
            self.client.disconnect()
        if self._io:
            self._io.stop()


def control_app(city: SimCity) -> Starlette:
    async def egov_status(request: Request):
        slug = request.path_params["slug"]
        if slug not in city.egov_mode:
            return JSONResponse({"error": "unknown service"}, status_code=404)
        mode = city.egov_mode[slug]
        if mode == "timeout":
            await asyncio.sleep(120)
            return JSONResponse({"status": "late"}, status_code=504)
        if mode != "ok":
            return JSONResponse(
                {"status": "error", "service": slug, "message": "Layanan sedang gangguan"}, status_code=503
            )
        return JSONResponse({"status": "ok", "service": slug, "name": city.inv.egov[slug].name})

    async def events(request: Request):
        try:
            body = await request.json()
            action = body.pop("action")
            target = body.pop("target")
            city.apply(action, target, **body)
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True})

    async def state(request: Request):
        return JSONResponse(city.snapshot())

    received: list[dict] = []

    async def webhook(request: Request):
        """A stand-in for a NOC's chat/pager: keeps what Pantau's alerts deliver (demo, tests)."""
        body = await request.body()
        received.append(
            {
                "at": time.time(),
                "headers": {k: v for k, v in request.headers.items() if k.startswith("x-pantau")},
                "body": body.decode(errors="replace"),
            }
        )
        del received[:-1000]
        return JSONResponse({"ok": True})

    async def webhooks(request: Request):
        return JSONResponse(received)

    async def health(request: Request):
        return JSONResponse({"ok": True, "city": city.inv.city, "time_scale": city.k})

    routes = [
        Route("/_sim/events", events, methods=["POST"]),
        Route("/_sim/state", state),
        Route("/_sim/health", health),
        Route("/_sim/webhook", webhook, methods=["POST"]),
        Route("/_sim/webhooks", webhooks),
        Route("/{slug}/status", egov_status),
    ]
    return Starlette(routes=routes)


def multi_control_app(cities: list[SimCity]) -> Starlette:
    """Several cities in one simulator: the first city's control API and e-gov services at ``/``
    (as :func:`control_app`), every city's under ``/<city>/`` (its events, state, e-gov services)."""
    from starlette.routing import Mount

    first = control_app(cities[0])
    for c in cities:
        first.router.routes.insert(0, Mount(f"/{c.inv.city}", app=control_app(c)))
    return first


async def run_city(
    inv: Inventory | list[Inventory],
    snmp_port: int,
    http_port: int,
    broker: BrokerConf | None,
    time_scale: float = 1.0,
    seed: int = 0,
    telemetry_interval_s: float = 10.0,
    trap_target: tuple[str, int] | None = None,
    ready: asyncio.Event | None = None,
    http_host: str = "127.0.0.1",
    world: World | None = None,
) -> None:
    invs = inv if isinstance(inv, list) else [inv]
    cities = [
        SimCity(
            i,
            snmp_port=snmp_port,
            time_scale=time_scale,
            seed=seed,
            telemetry_interval_s=telemetry_interval_s,
            trap_target=trap_target,
            world=world if n == 0 else None,
        )
        for n, i in enumerate(invs)
    ]
    city = cities[0]
    shared = None
    if os.environ.get("PANTAU_SIM_SOCKETS") != "per-device":  # one UDP socket for every city's devices
        shared = await SharedEndpoint([d for c in cities for d in c.devices()], snmp_port).open()
    for c in cities:
        await c.start_snmp(shared)
    log.info(
        "SNMP agents: %d hotspots and %d switches on port %d (%s), %d cities",
        sum(len(c.hotspots) for c in cities),
        sum(len(c.switch_devices) for c in cities),
        snmp_port,
        "one shared socket" if shared else "a socket per device",
        len(cities),
    )
    publishers = [GridPublisher(c, broker) for c in cities] if broker else []
    app = control_app(city) if len(cities) == 1 else multi_control_app(cities)
    server = uvicorn.Server(uvicorn.Config(app, host=http_host, port=http_port, log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass

    async def ticker():
        while True:
            for c in cities:
                c.tick()
            await asyncio.sleep(0.2)

    tasks = [asyncio.create_task(ticker()), asyncio.create_task(server.serve())]
    for publisher in publishers:
        tasks.append(asyncio.create_task(publisher.run()))
    while not server.started:
        await asyncio.sleep(0.02)
    if ready:
        ready.set()
    print(json.dumps({"ready": True, "snmp_port": snmp_port, "http_port": http_port}), flush=True)
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        for t in tasks[:1] + tasks[2:]:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for publisher in publishers:
            await publisher.stop()
        for c in cities:
            c.stop_snmp()
        if shared is not None:
            shared.close()
