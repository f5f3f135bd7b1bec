"""Take the README's pictures from a real Home Assistant, with a real headless Chromium.

Uses the Home Assistant on 127.0.0.1:8123 when one answers (the ``scripts/develop``
instance: user dev / password dev), else starts ``scripts/develop`` and stops it again at
the end. Chromium (Debian's ``chromium`` package, or ``--chromium PATH``) is driven over
the Chrome DevTools Protocol with aiohttp, which Home Assistant already brings, so there
is nothing more to install and no browser to download.

Pictures, saved as compressed PNGs in ``docs/``:
- ``integration-page.png``: Settings -> Devices & services -> IoT Bridge;
- ``config-flow-vendors.png``: the config flow's vendor menu;
- ``efento-setup.png``: the finished Efento flow with its endpoints and token (the
  entry it creates is deleted again);
- ``device-<vendor>.png``: one device page per vendor;
- ``energy-dashboard.png``: the Energy dashboard with the eGauge meter's grid import and
  export (``scripts/demo.py`` saves those energy preferences).

What it changes in the demo, as a user would: it confirms an HTTP configuration Home
Assistant is trying out (``demo.confirm_http_config``) and sets the Cayenne LPP decoder of
the Netemera end-device it shows.

Look at every picture before committing it: the script warns about "Unavailable" or
"Unknown" states it sees, but only a look shows names, units and cut-off text.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import Awaitable, Callable
import contextlib
from datetime import UTC, datetime
import io
import itertools
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.request

import aiohttp

# The demo's instance, user and HTTP settings (scripts/ is on the path when run).
from demo import CLIENT_ID, HA_URL, confirm_http_config, login
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VENDORS = ("egauge", "enapter", "efento", "instathings", "netemera")
# A dialog's visible panel, across the frontend's dialog implementations.
PANEL_SELECTORS = (
    "dialog[open], [role=dialog], [role=alertdialog], .mdc-dialog__surface, [part~=panel]"
)
# The kind of device the README shows per vendor (in its name or model).
PREFERRED = {"enapter": "electrolyser", "efento": "logger", "instathings": "plug"}
# Viewport height for whole device pages (cropped to their content afterwards).
TALL = 2400
# What a page's content is made of, to find where it ends.
CARD_SELECTORS = "ha-card, .container, hui-view, ha-config-section"

# Helpers for pages built of nested shadow roots, as Home Assistant's frontend is.
DEEP_JS = r"""
window.__deep = {
  all(selector, root = document) {
    const found = [];
    const walk = (node) => {
      found.push(...node.querySelectorAll(selector));
      for (const el of node.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
    };
    walk(root);
    return found;
  },
  visible(el) {
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    const style = getComputedStyle(el);
    return style.visibility !== "hidden" && style.display !== "none" && style.opacity !== "0";
  },
  // Not hidden by style (elements with display: contents have no box but show their children).
  shown(el) {
    const style = getComputedStyle(el);
    return style.display !== "none" && style.visibility !== "hidden";
  },
  text(root = document.body) {
    const parts = [];
    const walk = (node) => {
      if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
      if (node.nodeName === "STYLE" || node.nodeName === "SCRIPT") return;
      if (node.nodeType === Node.ELEMENT_NODE && !window.__deep.shown(node)) return;
      if (node.shadowRoot) walk(node.shadowRoot);
      for (const child of node.childNodes) walk(child);
    };
    walk(root);
    return parts.join(" ").replace(/\s+/g, " ");
  },
  // The visible element whose own text is exactly `label`, smallest first.
  byText(label, selector = "*") {
    const norm = (s) => s.replace(/\s+/g, " ").trim();
    const hits = window.__deep.all(selector).filter((el) => {
      if (!window.__deep.visible(el)) return false;
      const own = norm(Array.from(el.childNodes)
        .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join(" "));
      return own === label || norm(el.textContent) === label;
    });
    hits.sort((a, b) => {
      const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
      return ra.width * ra.height - rb.width * rb.height;
    });
    return hits[0] || null;
  },
  rect(el) {
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  },
  busy() {
    return window.__deep.all("ha-spinner, ha-circular-progress, mwc-linear-progress")
      .some((el) => window.__deep.visible(el));
  },
};
"""


class ScreenshotError(Exception):
    """A page did not show what it should."""


class Page:
    """One Chromium tab, driven over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap a connected page websocket."""
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one protocol command and return its result."""
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self._ws.send_json({"id": message_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, 60)
        if "error" in reply:
            raise ScreenshotError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def js(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise ScreenshotError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        """Load a page."""
        await self.send("Page.navigate", url=url)
        await self.wait("document.readyState === 'complete' && !!window.__deep", "page load")

    async def wait(self, condition: str, what: str, timeout: float = 60) -> None:
        """Wait until a JavaScript condition holds."""
        deadline = time.monotonic() + timeout
        while not await self.js(f"Boolean({condition})"):
            if time.monotonic() > deadline:
                raise ScreenshotError(f"timed out waiting for {what}")
            await asyncio.sleep(0.5)

    async def wait_text(self, *texts: str, timeout: float = 60) -> None:
        """Wait until every text shows, and nothing spins any more."""
        checks = " && ".join(f"t.includes({json.dumps(text)})" for text in texts)
        await self.wait(
            f"(() => {{ const t = window.__deep.text(); return {checks}; }})() "
            "&& !window.__deep.busy()",
            " and ".join(repr(text) for text in texts),
            timeout,
        )
        await asyncio.sleep(1.5)  # let animations and late renders settle

    async def click_text(self, label: str, selector: str = "*") -> None:
        """Click the centre of the visible element showing ``label``, as a user would."""
        rect = await self.js(
            f"(() => {{ const el = window.__deep.byText({json.dumps(label)}, "
            f"{json.dumps(selector)}); return el && window.__deep.rect(el); }})()"
        )
        if not rect:
            raise ScreenshotError(f"nothing to click showing {label!r}")
        x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )
        await asyncio.sleep(0.5)

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the first visible field matching ``selector`` and type into it."""
        rect = await self.js(
            f"(() => {{ const el = window.__deep.all({json.dumps(selector)})"
            ".find((e) => window.__deep.visible(e)); return el && window.__deep.rect(el); })()"
        )
        if not rect:
            raise ScreenshotError(f"no field {selector}")
        x, y = rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )
        await self.send("Input.insertText", text=text)
        await asyncio.sleep(0.5)

    async def dialog_clip(self) -> dict[str, float] | None:
        """The open dialog's panel, or None."""
        rect: dict[str, float] | None = await self.js(
            "((PANELS) => { const vw = innerWidth;"
            """
              const panels = window.__deep.all(PANELS)
                .filter((el) => window.__deep.visible(el))
                .map((el) => window.__deep.rect(el))
                .filter((r) => r.width > 200 && r.height > 100 && r.width < vw - 8);
              panels.sort((a, b) => b.width * b.height - a.width * a.height);
              return panels[0] || null;
            })"""
            f"({json.dumps(PANEL_SELECTORS)})"
        )
        return rect

    async def content_height(self) -> float:
        """How far down the page's cards reach (the frontend scrolls inside its own layout)."""
        bottom: float = await self.js(
            """((CARDS) => Math.max(0, ...window.__deep.all(CARDS)
                .filter((el) => window.__deep.visible(el))
                .map((el) => el.getBoundingClientRect().bottom)))"""
            f"({json.dumps(CARD_SELECTORS)})"
        )
        return bottom

    async def resize(self, width: int, height: int) -> None:
        """Set the viewport's size."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """A PNG of the viewport, or of ``clip``."""
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        result = await self.send("Page.captureScreenshot", **params)
        return base64.b64decode(result["data"])

    async def close(self) -> None:
        """Stop reading and close the connection."""
        self._reader.cancel()
        await self._ws.close()


def save_png(data: bytes, path: Path) -> None:
    """Save a screenshot as a small PNG: 256 colours (no dithering, so text stays crisp)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, format="PNG", optimize=True
    )
    print(f"  {path.name}: {image.width}x{image.height}, {path.stat().st_size} bytes")


def padded(rect: dict[str, float], pad: float, width: int, height: int) -> dict[str, float]:
    """``rect`` grown by ``pad`` on every side, kept inside the viewport."""
    x, y = max(0.0, rect["x"] - pad), max(0.0, rect["y"] - pad)
    return {
        "x": x,
        "y": y,
        "width": min(width - x, rect["width"] + 2 * pad),
        "height": min(height - y, rect["height"] + 2 * pad),
    }


# --- Home Assistant ----------------------------------------------------------------------


async def ha_answers(session: aiohttp.ClientSession) -> bool:
    """Whether a Home Assistant answers on HA_URL."""
    try:
        async with session.get(f"{HA_URL}/manifest.json") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


class HomeAssistant:
    """The REST and websocket APIs of the running instance."""

    def __init__(self, session: aiohttp.ClientSession, token: str) -> None:
        """Use ``token`` for every call."""
        self.session = session
        self.headers = {"Authorization": f"Bearer {token}"}
        self.token = token

    async def rest(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call."""
        async with self.session.request(
            method, f"{HA_URL}{path}", json=body, headers=self.headers
        ) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def ws(self, *messages: dict[str, Any]) -> list[Any]:
        """Websocket commands, answered in order."""
        async with self.session.ws_connect(f"{HA_URL}/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.token})
            await ws.receive_json()
            results = []
            for number, message in enumerate(messages, start=1):
                await ws.send_json({"id": number, **message})
                while (reply := await ws.receive_json()).get("id") != number:
                    pass
                if not reply.get("success"):
                    raise ScreenshotError(f"{message['type']}: {reply.get('error')}")
                results.append(reply["result"])
            return results

    async def entries(self) -> list[dict[str, Any]]:
        """IoT Bridge's config entries."""
        entries = await self.rest("GET", "/api/config/config_entries/entry")
        return [e for e in entries if e["domain"] == "iot_bridge"]


async def wait_for_demo(ha: HomeAssistant, timeout: float) -> None:
    """Wait until every vendor's entry is loaded and the Energy dashboard is configured."""
    deadline = time.monotonic() + timeout
    while True:
        loaded = [e for e in await ha.entries() if e["state"] == "loaded"]
        try:
            (prefs,) = await ha.ws({"type": "energy/get_prefs"})
        except ScreenshotError:
            prefs = {}
        grid = any(s.get("type") == "grid" for s in prefs.get("energy_sources", []))
        if len(loaded) >= len(VENDORS) and grid:
            return
        if time.monotonic() > deadline:
            raise ScreenshotError(
                f"demo not ready: {len(loaded)} entries loaded, energy dashboard "
                f"{'configured' if grid else 'not configured'}"
            )
        await asyncio.sleep(10)


async def pick_devices(ha: HomeAssistant) -> dict[str, dict[str, Any]]:
    """One device per vendor: the kind the README shows, with the most entities."""
    entries = {e["entry_id"]: e for e in await ha.entries()}
    devices, entities = await ha.ws(
        {"type": "config/device_registry/list"}, {"type": "config/entity_registry/list"}
    )
    counts: dict[str, int] = {}
    for entity in entities:
        if entity.get("device_id") and not entity.get("disabled_by"):
            counts[entity["device_id"]] = counts.get(entity["device_id"], 0) + 1
    # The entry's diagnostics name its vendor (an entry's title need not).
    vendor_of: dict[str, str] = {}
    for entry_id in entries:
        diagnostics = await ha.rest("GET", f"/api/diagnostics/config_entry/{entry_id}")
        vendor_of[entry_id] = diagnostics["data"]["entry"]["vendor"]

    def score(vendor: str, device: dict[str, Any]) -> tuple[bool, int]:
        described = f"{device.get('name')} {device.get('model')}".lower()
        return PREFERRED.get(vendor, "") in described, counts.get(device["id"], 0)

    chosen: dict[str, dict[str, Any]] = {}
    for device in devices:
        for entry_id in device.get("config_entries", []):
            vendor = vendor_of.get(entry_id)
            if vendor is None:
                continue
            best = chosen.get(vendor)
            if best is None or score(vendor, device) > score(vendor, best):
                chosen[vendor] = device
    return chosen


async def decode_lpp(ha: HomeAssistant, device: dict[str, Any]) -> None:
    """Set a Netemera end-device's decoder to Cayenne LPP, through the entry's options flow.

    The demo adds the application without decoders; the README's picture shows one decoded.
    """
    dev_eui = device.get("serial_number")
    entry_id = next(iter(device.get("config_entries", [])), None)
    if not dev_eui or entry_id is None:
        return
    base = "/api/config/config_entries/options/flow"
    step = await ha.rest("POST", base, {"handler": entry_id})
    for answer in ({"device": dev_eui}, {"decoder": "cayenne_lpp"}):
        if step.get("type") != "form":
            break
        step = await ha.rest("POST", f"{base}/{step['flow_id']}", answer)
    if step.get("type") != "create_entry":
        print(f"  warning: could not set the LPP decoder of {dev_eui}: {step}")


# --- the pictures ------------------------------------------------------------------------


async def shoot(page: Page, ha: HomeAssistant, out: Path, width: int, height: int) -> None:
    """Visit every page and save its picture."""
    entries = await ha.entries()
    await page.goto(f"{HA_URL}/config/integrations/integration/iot_bridge")
    await page.wait_text("IoT Bridge", *(e["title"] for e in entries))
    # One line per entry: collapse the device lists under them.
    await page.js(
        "window.__deep.all('ha-icon-button.expand-button.expanded').forEach((b) => b.click())"
    )
    await asyncio.sleep(1.5)
    bottom = await page.content_height()
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, bottom + 24)}
    save_png(await page.screenshot(clip), out / "integration-page.png")

    # The "Add integration" link: it asks first, then opens the flow.
    await page.goto(f"{HA_URL}/config/integrations/dashboard/add?domain=iot_bridge")
    await page.wait_text("Do you want to set up IoT Bridge?")
    await page.click_text("OK")
    await page.wait_text("Add a device platform", "eGauge energy meter")
    clip = await page.dialog_clip()
    shot = await page.screenshot(padded(clip, 12, width, height) if clip else None)
    save_png(shot, out / "config-flow-vendors.png")

    before = {e["entry_id"] for e in entries}
    await page.click_text("Efento gateway (wireless loggers)")
    await page.wait_text("Efento gateway", "Name")
    await page.type_into("input", "Cold room gateway")
    await page.click_text("Submit")
    try:
        await page.wait_text("Organization Token", "X-Api-Token")
        clip = await page.dialog_clip()
        shot = await page.screenshot(padded(clip, 12, width, height) if clip else None)
        save_png(shot, out / "efento-setup.png")
    finally:
        for entry in await ha.entries():
            if entry["entry_id"] not in before:
                await ha.rest("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")

    # Whole pages: a viewport taller than any of them, cropped below the last card.
    await page.resize(width, TALL)
    devices = await pick_devices(ha)
    if "netemera" in devices:
        await decode_lpp(ha, devices["netemera"])
    for vendor, device in sorted(devices.items()):
        await page.goto(f"{HA_URL}/config/devices/device/{device['id']}")
        name = device.get("name_by_user") or device["name"]
        await page.wait_text(name, "Sensors")
        await warn_states(page, f"device-{vendor}")
        bottom = await page.content_height()
        clip = {"x": 0, "y": 0, "width": width, "height": min(TALL, bottom + 16)}
        save_png(await page.screenshot(clip), out / f"device-{vendor}.png")

    await page.resize(width, height)
    await page.goto(f"{HA_URL}/energy")
    await page.wait_text("Energy distribution", "Grid")
    # The year the meter's history fills, not just today: the period picker's preset.
    today = datetime.now(UTC).astimezone()  # the browser shows the local date
    await page.click_text(f"{today:%b} {today.day}")
    await page.click_text("This year")
    await page.wait_text("Energy distribution", "Grid")
    await asyncio.sleep(5)  # charts draw after their data arrives
    bottom = await page.content_height()
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, bottom + 16)}
    save_png(await page.screenshot(clip), out / "energy-dashboard.png")


async def warn_states(page: Page, name: str) -> None:
    """Say when a page shows states a README picture should not."""
    text: str = await page.js("window.__deep.text()")
    for word in ("Unavailable", "unavailable", "Unknown"):
        if word in text:
            print(f"  warning: {name} shows {word!r}")


# --- Chromium ----------------------------------------------------------------------------


async def start_chromium(
    executable: str, profile: str, width: int, height: int
) -> tuple[asyncio.subprocess.Process, str]:
    """Start a headless Chromium; return it and its DevTools HTTP address."""
    process = await asyncio.create_subprocess_exec(
        executable,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--mute-audio",
        "--lang=en-US",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    async with asyncio.timeout(60):
        while line := (await process.stderr.readline()).decode():
            if line.startswith("DevTools listening on ws://"):
                address = line.split("ws://", 1)[1].split("/", 1)[0]
                # Keep draining stderr so Chromium never blocks on a full pipe.
                asyncio.get_running_loop().create_task(_drain(process.stderr))
                return process, f"http://{address}"
    raise ScreenshotError(f"{executable} did not start")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def open_page(
    session: aiohttp.ClientSession, devtools: str, tokens: dict[str, Any], width: int, height: int
) -> Page:
    """A tab logged in to Home Assistant (tokens as the frontend stores them)."""
    async with session.put(f"{devtools}/json/new?about:blank") as resp:
        target = await resp.json()
    ws = await session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
    page = Page(ws)
    await page.send("Page.enable")
    await page.send("Runtime.enable")
    await page.send("Page.addScriptToEvaluateOnNewDocument", source=DEEP_JS)
    await page.resize(width, height)
    await page.goto(f"{HA_URL}/robots.txt")  # same origin, nothing runs
    stored = {
        "hassUrl": HA_URL,
        "clientId": CLIENT_ID,
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_in": tokens["expires_in"],
        "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
        "token_type": "Bearer",
    }
    await page.js(
        f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(stored))});"
        "localStorage.setItem('selectedLanguage', JSON.stringify('en'));"
        "localStorage.setItem('dockedSidebar', JSON.stringify('always_hidden'));"
    )
    return page


# --- main --------------------------------------------------------------------------------


async def run(
    args: argparse.Namespace, chromium: str, develop: subprocess.Popen[bytes] | None
) -> int:
    """Wait for the demo, then take every picture."""
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + args.timeout
        while not await ha_answers(session):
            if time.monotonic() > deadline or (develop and develop.poll() is not None):
                raise ScreenshotError("Home Assistant did not come up")
            await asyncio.sleep(2)
        tokens = await _with_retries(lambda: login(session), deadline)
        ha = HomeAssistant(session, tokens["access_token"])
        await confirm_http_config(session, tokens["access_token"])
        print("Waiting for every vendor's entry and the Energy dashboard")
        await wait_for_demo(ha, max(60.0, deadline - time.monotonic()))
        if args.settle:
            print(f"Letting values arrive for {args.settle:.0f} s")
            await asyncio.sleep(args.settle)
        with tempfile.TemporaryDirectory(prefix="iot-bridge-chromium-") as profile:
            browser, devtools = await start_chromium(chromium, profile, args.width, args.height)
            try:
                page = await open_page(session, devtools, tokens, args.width, args.height)
                try:
                    await shoot(page, ha, args.out, args.width, args.height)
                finally:
                    await page.close()
            finally:
                browser.terminate()
                await browser.wait()
    return 0


def start_develop() -> subprocess.Popen[bytes]:
    """Start scripts/develop in its own process group, its output in a log file."""
    log = Path(tempfile.gettempdir()) / "iot-bridge-screenshots-develop.log"
    print(f"Starting scripts/develop (its output: {log})")
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(ROOT / "scripts" / "develop")],
            cwd=ROOT,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop_develop(develop: subprocess.Popen[bytes]) -> None:
    """Stop scripts/develop and everything it started (Ctrl-C, as a developer would)."""
    if develop.poll() is not None:
        return
    print("Stopping scripts/develop")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(develop.pid, signal.SIGINT)
    try:
        develop.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(develop.pid, signal.SIGKILL)


def ha_running() -> bool:
    """Whether a Home Assistant answers on HA_URL (before the event loop starts)."""
    try:
        with urllib.request.urlopen(f"{HA_URL}/manifest.json", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


async def _with_retries(
    call: Callable[[], Awaitable[dict[str, Any]]], deadline: float
) -> dict[str, Any]:
    """Retry while Home Assistant is still starting (the demo onboards the user first)."""
    while True:
        try:
            return await call()
        except (aiohttp.ClientError, KeyError, RuntimeError, ScreenshotError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs (%(default)s)")
    parser.add_argument("--chromium", help="the browser executable (default: chromium on PATH)")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=860)
    parser.add_argument(
        "--timeout", type=float, default=1200, help="seconds to wait for the demo (%(default)s)"
    )
    parser.add_argument(
        "--settle", type=float, default=0, help="extra seconds for values to arrive first"
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave a scripts/develop started here running"
    )
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("error: no Chromium (apt-get install chromium, or --chromium PATH)", file=sys.stderr)
        return 2
    develop = None
    if ha_running():
        print(f"Using the Home Assistant running on {HA_URL}")
    else:
        develop = start_develop()
    try:
        return asyncio.run(run(args, chromium, develop))
    except ScreenshotError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if develop is not None and not args.keep:
            stop_develop(develop)


if __name__ == "__main__":
    sys.exit(main())
