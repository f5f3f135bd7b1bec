"""Run Home Assistant with IoT Bridge against local vendor simulators.

Starts each vendor's simulator, starts Home Assistant with a config in
.develop/config, onboards a user (dev / dev) on first run, and adds one entry
per vendor through the integration's own config flow over Home Assistant's
REST API, exactly as a user would in the UI.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import os
from pathlib import Path
import signal
import sys
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / ".develop"
CONFIG = DEV / "config"
HA_URL = "http://127.0.0.1:8123"
CLIENT_ID = f"{HA_URL}/"
USER, PASSWORD = "dev", "dev"

# Home Assistant listens on loopback only, like the simulators.
HTTP_YAML = """\
http:
  server_host: 127.0.0.1
  server_port: 8123
"""
CONFIGURATION_YAML = """\
# Written by scripts/demo.py for the local demo.
homeassistant:
  name: IoT Bridge demo
  time_zone: UTC
  unit_system: metric
  country: DE
  latitude: 52.52
  longitude: 13.40
  elevation: 30
frontend:
config:
energy:
history:
logbook:
http:
  server_host: 127.0.0.1
  server_port: 8123
logger:
  default: warning
  logs:
    custom_components.iot_bridge: debug
"""


@dataclass
class DemoVendor:
    """One vendor in the demo: its simulator and what to type into its form."""

    step: str
    simulator: list[str]
    form: dict[str, Any]
    # Further forms (e.g. choose a site) are submitted with their defaults.
    # Runs after the entry exists, with the flow's result (e.g. to start a gateway emulator).
    after: Callable[[dict[str, Any]], Awaitable[list[str] | None]] | None = None
    extra_processes: list[asyncio.subprocess.Process] = field(default_factory=list)


def py(*args: str) -> list[str]:
    return [sys.executable, *args]


async def efento_gateway(result: dict[str, Any]) -> list[str] | None:
    """Start the emulated Efento gateway with the settings the finished flow showed."""
    settings = result.get("description_placeholders") or {}
    if not settings.get("token"):
        return None
    return [
        "env",
        f"PYTHONPATH={ROOT}",
        *py(
            "-m",
            "simulators.efento_gateway",
            "--url",
            HA_URL,
            "--measurements-path",
            settings["measurements_url"],
            "--heartbeat-path",
            settings["heartbeat_url"],
            "--token",
            settings["token"],
            "--loggers",
            "3",
            "--interval",
            "15",
            "--heartbeat-interval",
            "60",
            # As if the gateway had been offline: its buffer fills the history graph.
            "--backlog-hours",
            "6",
        ),
    ]


VENDORS: list[DemoVendor] = [
    DemoVendor(
        step="egauge",
        # A meter installed a year ago: the Energy dashboard shows that year from the start.
        simulator=py("-m", "simulators.egauge", "--port", "8401", "--history-days", "366"),
        form={
            "url": "http://127.0.0.1:8401",
            "username": "owner",
            "password": "secret",
            "verify_ssl": True,
        },
    ),
    DemoVendor(
        step="enapter",
        # Cloud layout with two sites; the site form is submitted with its default (the first).
        simulator=py("-m", "simulators.enapter", "--port", "8402"),
        form={
            "url": "http://127.0.0.1:8402",
            "api_token": "enapter-sim-token-0123456789abcdef",
            "verify_ssl": True,
        },
    ),
    DemoVendor(
        step="netemera",
        # Four end-devices (climate, light, relay, raw), one uplink every 5 s in turn.
        simulator=py(
            "-m", "simulators.netemera", "--port", "8404", "--devices", "4", "--rate", "0.2"
        ),
        form={
            "auth_url": "http://127.0.0.1:8404",
            "api_url": "http://127.0.0.1:8404/api/v3",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
            "application_id": "sim-app",
        },
    ),
    DemoVendor(
        step="instathings",
        # The simulator serves REST and the websocket on one port, set in the form's
        # collapsed endpoint section.
        simulator=py("-m", "simulators.instathings", "--port", "8403"),
        form={
            "project": "demo",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
            "endpoints": {
                "api_url": "http://127.0.0.1:8403",
                "websocket_url": "http://127.0.0.1:8403",
            },
        },
    ),
    DemoVendor(
        step="efento",
        # Home Assistant is the server here: the emulated gateway POSTs to it once the
        # entry exists and has handed out its paths and token.
        simulator=[],
        form={"name": "Efento demo gateway"},
        after=efento_gateway,
    ),
]


async def wait_for_http(url: str, timeout: float = 300) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{url} did not come up")
            await asyncio.sleep(1)


async def exchange_code(session: aiohttp.ClientSession, code: str) -> dict[str, Any]:
    """Trade an authorization code for the token answer (access and refresh token)."""
    async with session.post(
        f"{HA_URL}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
    ) as resp:
        resp.raise_for_status()
        tokens: dict[str, Any] = await resp.json()
    return tokens


async def login(session: aiohttp.ClientSession) -> dict[str, Any]:
    """Log in as the demo user through the login flow; return the token answer."""
    async with session.post(
        f"{HA_URL}/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "handler": ["homeassistant", None],
            "redirect_uri": CLIENT_ID,
        },
    ) as resp:
        flow = await resp.json()
    async with session.post(
        f"{HA_URL}/auth/login_flow/{flow['flow_id']}",
        json={"client_id": CLIENT_ID, "username": USER, "password": PASSWORD},
    ) as resp:
        step = await resp.json()
    if step.get("type") != "create_entry":
        raise RuntimeError(f"cannot log in as {USER}: {step.get('errors') or step}")
    return await exchange_code(session, step["result"])


async def access_token(session: aiohttp.ClientSession) -> str:
    """Onboard on first run, else log in; return an access token."""
    async with session.get(f"{HA_URL}/api/onboarding") as resp:
        steps = await resp.json() if resp.status == 200 else []
    done = {step["step"] for step in steps if step.get("done")}
    if resp.status == 404:  # onboarding finished: Home Assistant no longer serves it
        done = {"user", "core_config", "analytics", "integration"}
    if "user" not in done:
        async with session.post(
            f"{HA_URL}/api/onboarding/users",
            json={
                "client_id": CLIENT_ID,
                "name": "Developer",
                "username": USER,
                "password": PASSWORD,
                "language": "en",
            },
        ) as resp:
            resp.raise_for_status()
            code = (await resp.json())["auth_code"]
        token: str = (await exchange_code(session, code))["access_token"]
    else:
        token = (await login(session))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for step, body in (
        ("analytics", {}),
        ("integration", {"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID}),
    ):
        if step not in done:
            async with session.post(f"{HA_URL}/api/onboarding/{step}", json=body, headers=headers):
                pass
    return token


async def add_entry(
    session: aiohttp.ClientSession, headers: dict[str, str], vendor: DemoVendor
) -> dict[str, Any] | None:
    """Walk the config flow: menu, vendor form, then defaults for any further form."""
    base = f"{HA_URL}/api/config/config_entries/flow"
    init = {"handler": "iot_bridge"}
    async with session.post(base, json=init, headers=headers) as resp:
        result = await resp.json()
    flow_url = f"{base}/{result['flow_id']}"
    async with session.post(flow_url, json={"next_step_id": vendor.step}, headers=headers) as resp:
        result = await resp.json()
    payload: dict[str, Any] = vendor.form
    for _ in range(5):
        async with session.post(flow_url, json=payload, headers=headers) as resp:
            result = await resp.json()
        if result.get("type") != "form" or result.get("errors"):
            break
        payload = {}  # a follow-up form: its defaults are enough
    if result.get("type") == "create_entry":
        print(f"  {vendor.step}: added '{result['title']}'")
        return dict(result)
    print(f"  {vendor.step}: {result.get('reason') or result.get('errors') or result}")
    return None


async def current_settings(
    session: aiohttp.ClientSession, headers: dict[str, str], entry_id: str
) -> dict[str, Any]:
    """Read an entry's settings from its options form, then close the form unchanged."""
    base = f"{HA_URL}/api/config/config_entries/options/flow"
    async with session.post(base, json={"handler": entry_id}, headers=headers) as resp:
        result: dict[str, Any] = await resp.json()
    async with session.delete(f"{base}/{result['flow_id']}", headers=headers):
        pass
    return result


async def confirm_http_config(session: aiohttp.ClientSession, token: str) -> None:
    """Keep the demo's HTTP settings (127.0.0.1 only) that Home Assistant is trying out.

    Since 2026 Home Assistant moves the YAML ``http:`` block into its storage as a
    trial and, unless a user confirms it within five minutes, reverts it and restarts
    (which would end the demo). Releases without the trial have no such command.
    """
    async with session.ws_connect(f"{HA_URL.replace('http', 'ws', 1)}/api/websocket") as ws:
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": token})
        await ws.receive_json()  # auth_ok
        await ws.send_json({"id": 1, "type": "http/config"})
        config = await ws.receive_json()
        pending = (config.get("result") or {}).get("pending") if config.get("success") else None
        if pending and not pending.get("error"):
            await ws.send_json({"id": 2, "type": "http/config/promote"})
            answer = await ws.receive_json()
            if answer.get("success"):
                print("Kept the demo's HTTP settings (127.0.0.1:8123)")
    # From now on Home Assistant reads them from its storage; the YAML block would only
    # raise a "YAML still present" notice.
    config_yaml = CONFIG / "configuration.yaml"
    if not await asyncio.to_thread(config_yaml.is_file):
        return
    text = await asyncio.to_thread(config_yaml.read_text)
    if HTTP_YAML in text:
        await asyncio.to_thread(config_yaml.write_text, text.replace(HTTP_YAML, ""))


async def configure(vendors: list[DemoVendor]) -> None:
    await wait_for_http(f"{HA_URL}/api/onboarding")
    async with aiohttp.ClientSession() as session:
        token = await access_token(session)
        headers = {"Authorization": f"Bearer {token}"}
        await confirm_http_config(session, token)
        async with session.get(
            f"{HA_URL}/api/config/config_entries/entry", headers=headers
        ) as resp:
            entries = await resp.json()
        have = {e["title"]: e["entry_id"] for e in entries if e["domain"] == "iot_bridge"}
        print(f"Configuring IoT Bridge (existing entries: {sorted(have) or 'none'})")
        for vendor in vendors:
            # An entry whose ids are generated (Efento) is reused on later runs,
            # with its settings read back from its options form.
            existing = have.get(vendor.form.get("name", ""))
            if existing is not None and vendor.after is not None:
                result = await current_settings(session, headers, existing)
                print(f"  {vendor.step}: reusing '{vendor.form['name']}'")
            else:
                result = await add_entry(session, headers, vendor)
            if vendor.after is not None:
                command = await vendor.after(result or {})
                if command:
                    vendor.extra_processes.append(
                        await asyncio.create_subprocess_exec(*command, cwd=ROOT)
                    )


# Background tasks of the demo (kept referenced until they finish).
_TASKS: set[asyncio.Task[None]] = set()


async def energy_dashboard(timeout: float = 900) -> None:
    """Put the eGauge meter's year of history into the Energy dashboard.

    The integration imports the meter's own history as external statistics (one
    ``iot_bridge:…`` statistic per register and direction, named after the meter and
    register); this picks grid import/export, solar and the house as a consumer, plus
    the live grid and solar power. Preferences are saved only while none name a grid
    source, so a user's own choice is never overwritten. The grid's import/export
    statistics exist once the backfill has found the register running backwards and
    written its first day, so this waits for them in the background and gives up after
    ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        token = await access_token(session)
        async with session.ws_connect(f"{HA_URL}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": token})
            if (await ws.receive_json()).get("type") != "auth_ok":
                return
            next_id = 0

            async def call(message: dict[str, Any]) -> dict[str, Any]:
                nonlocal next_id
                next_id += 1
                await ws.send_json({"id": next_id, **message})
                while True:
                    reply: dict[str, Any] = await ws.receive_json()
                    if reply.get("id") == next_id:
                        return reply

            prefs = await call({"type": "energy/get_prefs"})
            sources = (prefs.get("result") or {}).get("energy_sources") or []
            if any(source.get("type") == "grid" for source in sources):
                return
            wanted = {
                "import": " Grid energy import",
                "export": " Grid energy export",
                "solar": " Solar energy",
                "house": " House energy",
            }
            deadline = loop.time() + timeout
            while True:
                listed = await call(
                    {"type": "recorder/list_statistic_ids", "statistic_type": "sum"}
                )
                stats: dict[str, str] = {}
                for item in listed.get("result") or []:
                    if item.get("source") != "iot_bridge":
                        continue
                    for role, ending in wanted.items():
                        if (item.get("name") or "").endswith(ending):
                            stats[role] = item["statistic_id"]
                if "import" in stats and "export" in stats:
                    break
                if loop.time() > deadline:
                    print("  energy: the meter's grid import/export statistics did not appear")
                    return
                await asyncio.sleep(15)
            power: dict[str, str] = {}
            for entity in (await call({"type": "config/entity_registry/list"}))["result"]:
                for name in ("Grid", "Solar"):
                    if entity["platform"] == "iot_bridge" and entity["unique_id"].endswith(
                        f"_rate_P_{name}"
                    ):
                        power[name] = entity["entity_id"]
            grid: dict[str, Any] = {
                "type": "grid",
                "stat_energy_from": stats["import"],
                "stat_energy_to": stats["export"],
                "cost_adjustment_day": 0,
            }
            solar: dict[str, Any] = {"type": "solar", "config_entry_solar_forecast": None}
            if "solar" in stats:
                solar["stat_energy_from"] = stats["solar"]
            # Newer releases also chart power (positive = importing) next to energy.
            for source, name in ((grid, "Grid"), (solar, "Solar")):
                if name in power:
                    source["stat_rate"] = power[name]
            chosen = [grid, solar] if "stat_energy_from" in solar else [grid]
            consumers = [{"stat_consumption": stats["house"]}] if "house" in stats else []
            result = await call(
                {
                    "type": "energy/save_prefs",
                    "energy_sources": chosen,
                    "device_consumption": consumers,
                }
            )
            if not result.get("success"):
                # Releases before the unified grid source (2025.x) take flow_from/flow_to lists.
                legacy_grid = {
                    "type": "grid",
                    "flow_from": [{"stat_energy_from": grid["stat_energy_from"]}],
                    "flow_to": [{"stat_energy_to": grid["stat_energy_to"]}],
                    "cost_adjustment_day": 0,
                }
                legacy = [legacy_grid] + [
                    {k: v for k, v in s.items() if k != "stat_rate"} for s in chosen[1:]
                ]
                result = await call(
                    {
                        "type": "energy/save_prefs",
                        "energy_sources": legacy,
                        "device_consumption": consumers,
                    }
                )
            status = "saved" if result.get("success") else f"not saved ({result.get('error')})"
            print(f"  energy: Energy dashboard preferences {status}")


def start_energy_dashboard() -> None:
    """Run :func:`energy_dashboard` in the background."""
    task = asyncio.get_running_loop().create_task(energy_dashboard())
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def prepare_config() -> None:
    """Write the demo's configuration once; later runs keep what is there."""
    CONFIG.mkdir(parents=True, exist_ok=True)
    config_yaml = CONFIG / "configuration.yaml"
    if not config_yaml.exists():
        config_yaml.write_text(CONFIGURATION_YAML)
    # The location comes from configuration.yaml. Marking the onboarding's
    # core_config step done up front keeps it from adding its default
    # integrations (radio browser, weather, TTS), which only log errors offline.
    onboarding = CONFIG / ".storage" / "onboarding"
    if not onboarding.exists():
        onboarding.parent.mkdir(exist_ok=True)
        onboarding.write_text(
            '{"version": 4, "minor_version": 1, "key": "onboarding",'
            ' "data": {"done": ["core_config"]}}\n'
        )
    link = CONFIG / "custom_components"
    if not link.is_symlink():
        link.symlink_to(os.path.relpath(ROOT / "custom_components", CONFIG))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-ha", action="store_true", help="only run the simulators")
    args = parser.parse_args()

    prepare_config()

    processes: list[asyncio.subprocess.Process] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for vendor in VENDORS:
        if vendor.simulator:  # Efento has none: its gateway emulator starts after the entry
            processes.append(
                await asyncio.create_subprocess_exec(*vendor.simulator, cwd=ROOT, env=env)
            )
    print("Simulators: " + ", ".join(v.step for v in VENDORS))
    if not args.no_ha:
        processes.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "homeassistant", "-c", str(CONFIG), cwd=ROOT
            )
        )
        try:
            await configure(VENDORS)
            start_energy_dashboard()
        except Exception as err:  # noqa: BLE001 - the demo keeps running for manual set-up
            print(f"Automatic set-up failed ({err}); add the entries in the UI instead.")
        print(
            f"\nHome Assistant: {HA_URL}  (log in as {USER} / {PASSWORD})\n"
            "Settings > Devices & services > IoT Bridge shows the devices. Ctrl-C stops.\n"
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.create_task(p.wait()) for p in processes]
    await asyncio.wait([asyncio.create_task(stop.wait()), *waiters], return_when="FIRST_COMPLETED")
    for process in processes + [p for v in VENDORS for p in v.extra_processes]:
        if process.returncode is None:
            process.terminate()
    for process in processes:
        await process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
