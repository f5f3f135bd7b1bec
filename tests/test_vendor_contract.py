"""What every vendor must do, proven once for all five.

Each test runs against every vendor's harness (``tests/contract``): a simulator on
127.0.0.1, or for Efento an emulated gateway that POSTs to Home Assistant. The tests
see the integration only as Home Assistant does: config entries, flows, states,
diagnostics, storage and what the source sees; never a vendor package's internals.
Vendor test folders keep what is particular to a vendor.

The contract:
1. set-up: refused credentials end in SETUP_ERROR with a reauth flow (which brings
   the entry back); an unreachable or failing source in SETUP_RETRY until it is back;
   credentials refused later start a reauth flow too;
2. reauth: the ``<vendor>_reauth`` form; working credentials reload the entry with them;
3. reconfigure: the ``<vendor>_reconfigure`` form; another device or account aborts
   ``wrong_device`` and changes nothing; the same one keeps the entry;
4. diagnostics hold none of the entry's secrets (nor the session tokens it was given);
5. unload, also during an outage, leaves no task, timer, listener or stream behind;
6. removing the entry deletes every store file it kept;
7. entities are unavailable while their source is gone, and come back with it.

Where a point does not apply to a vendor, the test checks what that vendor does
instead: Efento presents no credentials (Home Assistant is the server its gateway
calls), so its reauth aborts and a wrong token is answered 401; its identity is
generated, so reconfigure keeps it; its set-up needs no source, and until the entry
is loaded its endpoint answers 503, which makes the gateway keep and resend.

The clock is frozen (``freezer``): time moves only when a test moves it, and the
sockets get real time to do their work in between (``contract.base.advance_until``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
import functools
import inspect
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory

# Diagnostics import this on demand; its models cannot be built under frozen time.
import homeassistant.components.hassio  # noqa: F401
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import CoreState, HassJob, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    get_scheduled_timer_handles,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.stream import StreamCoordinator
from custom_components.iot_bridge.vendors import VENDORS

from .contract import HARNESSES, VendorHarness
from .contract.base import Outage, advance, advance_until, settle

PACKAGE = "custom_components.iot_bridge"
PACKAGE_PATH = "custom_components/iot_bridge/"


@pytest.fixture(params=list(HARNESSES))
async def harness(
    request: pytest.FixtureRequest,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_client_no_auth: ClientSessionGenerator,
) -> AsyncGenerator[VendorHarness]:
    """The vendor's source, started; everything stopped again after the test."""
    # Moving the frozen clock inside a step would otherwise be reported as a slow callback.
    hass.loop.slow_callback_duration = timedelta(days=1).total_seconds()
    source = HARNESSES[request.param](hass, freezer, hass_client_no_auth)
    await source.async_start()
    yield source
    # Entries go first, so no stream follows a simulator that is shutting down.
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state.recoverable:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await source.async_close()
    # aiohttp (3.14) re-arms a closed websocket's heartbeat when the server's close frame
    # arrives during ``close()`` (a ping, then a pong timeout, both harmless); with the
    # clock frozen they would still be pending when the test ends.
    await advance(hass, freezer, timedelta(minutes=3), busy=source.busy, step=timedelta(seconds=30))


# --- helpers -------------------------------------------------------------------------


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def loaded_entry(hass: HomeAssistant, harness: VendorHarness) -> MockConfigEntry:
    """A loaded entry that follows its source live, its entity showing a value."""
    entry = harness.config_entry()
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    await harness.async_live(entry)
    assert state_of(hass, harness.entity_id) != STATE_UNAVAILABLE
    return entry


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} does not exist"
    return state.state


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[dict[str, Any]]:
    return [
        dict(flow)
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]


def fill_form(schema: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """A form's input: each field's override, else the value it is prefilled with.

    Fields inside a section are filled the same way, so the harnesses name fields
    only, however a vendor lays out its form.
    """
    filled: dict[str, Any] = {}
    for key, validator in schema.schema.items():
        name = str(getattr(key, "schema", key))
        if isinstance(validator, section):
            inner = fill_form(validator.schema, overrides)
            if inner:
                filled[name] = inner
            continue
        suggested = (getattr(key, "description", None) or {}).get("suggested_value")
        if name in overrides:
            filled[name] = overrides[name]
        elif suggested is not None:
            filled[name] = suggested
    return filled


async def submit(hass: HomeAssistant, result: Any, overrides: dict[str, Any]) -> Any:
    """Submit a form as prefilled plus ``overrides``; follow-up forms keep their defaults."""
    first_step = result["step_id"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], fill_form(result["data_schema"], overrides)
    )
    while result["type"] is FlowResultType.FORM and result["step_id"] != first_step:
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    return result


def _runs_our_code(obj: Any, depth: int = 0) -> bool:
    """Whether a callback, job or coroutine (or what it wraps) is the integration's code."""
    if obj is None or depth > 4:
        return False
    if inspect.iscoroutine(obj):
        frame_code = obj.cr_code
        if PACKAGE_PATH in frame_code.co_filename:
            return True
        return _runs_our_code(obj.cr_await, depth + 1)
    if inspect.isasyncgen(obj):
        return PACKAGE_PATH in obj.ag_code.co_filename or _runs_our_code(obj.ag_await, depth + 1)
    if isinstance(obj, HassJob):
        return _runs_our_code(obj.target, depth + 1)
    if isinstance(obj, functools.partial):
        return any(_runs_our_code(part, depth + 1) for part in (obj.func, *obj.args))
    if inspect.ismethod(obj):
        return _runs_our_code(obj.__func__, depth + 1) or _runs_our_code(obj.__self__, depth + 1)
    if inspect.isfunction(obj):
        return obj.__module__.startswith(PACKAGE)
    if type(obj).__module__.startswith(PACKAGE):
        return True
    if type(obj).__module__.startswith("homeassistant.helpers.event"):
        # Home Assistant's trackers hold the job they run.
        fields = getattr(type(obj), "__slots__", ()) or vars(obj)
        return any(
            _runs_our_code(getattr(obj, name, None), depth + 1)
            for name in fields
            if not name.startswith("__")
        )
    return False


def our_tasks(hass: HomeAssistant) -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks(hass.loop)
        if task is not current and not task.done() and _runs_our_code(task.get_coro())
    ]


def our_timers(hass: HomeAssistant) -> list[asyncio.TimerHandle]:
    return [
        handle
        for handle in get_scheduled_timer_handles(hass.loop)
        if not handle.cancelled()
        and (_runs_our_code(handle._callback) or any(_runs_our_code(a) for a in handle._args))
    ]


def stored_keys(hass_storage: dict[str, Any], entry: MockConfigEntry) -> set[str]:
    return {key for key in hass_storage if key.startswith(f"{DOMAIN}.") and entry.entry_id in key}


# --- the registry --------------------------------------------------------------------


def test_every_vendor_has_a_harness() -> None:
    assert list(HARNESSES) == list(VENDORS)
    for key, harness in HARNESSES.items():
        # The harness names the store files the vendor declares for deletion.
        assert harness.store_names == VENDORS[key].store_names, key


# --- 1. set-up failures --------------------------------------------------------------


async def test_setup_with_refused_credentials(hass: HomeAssistant, harness: VendorHarness) -> None:
    """Refused credentials: SETUP_ERROR and a reauth flow asking for new ones.

    Efento: Home Assistant presents nothing at set-up, so the entry loads; a gateway
    with a wrong token is answered 401, and that starts no reauth (the token is fixed
    on the gateway).
    """
    entry = harness.config_entry()
    harness.refuse_credentials()
    await set_up(hass, entry)
    if not harness.has_credentials:
        assert entry.state is ConfigEntryState.LOADED
        assert set(await harness.async_push(entry)) == {401}
        assert entry.state is ConfigEntryState.LOADED
        assert not reauth_flows(hass, entry)
        return
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = reauth_flows(hass, entry)
    assert len(flows) == 1
    assert flows[0]["step_id"] == f"{harness.key}_reauth"
    # The flow Home Assistant started brings the entry back with working credentials.
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], harness.new_credentials()
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await harness.async_live(entry)
    assert state_of(hass, harness.entity_id) != STATE_UNAVAILABLE


async def test_setup_with_source_down_retries(
    hass: HomeAssistant, harness: VendorHarness, freezer: FrozenDateTimeFactory
) -> None:
    """Unreachable or failing (5xx) at set-up: SETUP_RETRY, no reauth; loaded once it is back.

    Efento: set-up needs no source, so the entry loads; while it is not loaded (or
    Home Assistant is still starting) its endpoint answers 503, the gateway keeps the
    message and delivers it once the entry is ready.
    """
    entry = harness.config_entry()
    if harness.calls_home_assistant:
        await set_up(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        await harness.async_live(entry)
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert entry.state is ConfigEntryState.NOT_LOADED
        assert set(await harness.async_push(entry)) == {503}
        assert harness.undelivered(), "the gateway keeps what was answered 503"
        hass.set_state(CoreState.starting)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert set(await harness.async_push(entry)) == {503}
        hass.set_state(CoreState.running)
        assert set(await harness.async_push(entry)) == {201}
        assert not harness.undelivered()
        assert state_of(hass, harness.entity_id) != STATE_UNAVAILABLE
        return

    await harness.async_source_down("unreachable")
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    # Still down, now answering 503: the retries keep failing the same way.
    await harness.async_source_down("failing")
    requests = harness.source_requests()
    await advance_until(
        hass,
        freezer,
        lambda: harness.source_requests() > requests,
        busy=harness.busy,
        limit=timedelta(minutes=10),
    )
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not reauth_flows(hass, entry)
    await harness.async_source_up()
    await advance_until(
        hass,
        freezer,
        lambda: entry.state is ConfigEntryState.LOADED,
        busy=harness.busy,
        limit=timedelta(minutes=15),
    )
    await harness.async_live(entry)
    assert state_of(hass, harness.entity_id) != STATE_UNAVAILABLE


async def test_credentials_refused_while_running_start_reauth(
    hass: HomeAssistant, harness: VendorHarness, freezer: FrozenDateTimeFactory
) -> None:
    """Credentials refused later (at a poll, or when a stream reconnects): a reauth flow,
    and the entities are unavailable until new credentials arrive.

    Efento: a gateway presenting a token the entry does not hold is answered 401;
    the entry stays loaded and no reauth starts.
    """
    entry = await loaded_entry(hass, harness)
    harness.refuse_credentials()
    if not harness.has_credentials:
        assert set(await harness.async_push(entry)) == {401}
        assert entry.state is ConfigEntryState.LOADED
        assert not reauth_flows(hass, entry)
        return
    await harness.async_drop_connections()
    await advance_until(
        hass,
        freezer,
        lambda: bool(reauth_flows(hass, entry)),
        busy=harness.busy,
        limit=timedelta(minutes=10),
    )
    assert [flow["step_id"] for flow in reauth_flows(hass, entry)] == [f"{harness.key}_reauth"]
    assert state_of(hass, harness.entity_id) == STATE_UNAVAILABLE


# --- 2. reauth -----------------------------------------------------------------------


async def test_reauth(hass: HomeAssistant, harness: VendorHarness) -> None:
    """New working credentials end in reauth_successful; the entry reloads with them.

    Efento: nothing to re-authenticate, the flow aborts with reauth_not_supported.
    """
    entry = await loaded_entry(hass, harness)
    data = dict(entry.data)
    coordinator = entry.runtime_data.coordinator
    if not harness.has_credentials:
        result = await entry.start_reauth_flow(hass)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reauth_not_supported"
        assert dict(entry.data) == data
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.coordinator is coordinator
        return

    harness.refuse_credentials()
    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"{harness.key}_reauth"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], harness.refused_credentials()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert dict(entry.data) == data

    new = harness.new_credentials()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], new)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert {key: entry.data[key] for key in new} == new
    # Reloaded (a new coordinator) and loaded: the source accepted the new credentials,
    # since it refuses the old ones.
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator is not coordinator
    await harness.async_live(entry)
    assert state_of(hass, harness.entity_id) != STATE_UNAVAILABLE


# --- 3. reconfigure ------------------------------------------------------------------


async def test_reconfigure_to_another_device_is_refused(
    hass: HomeAssistant, harness: VendorHarness
) -> None:
    """Settings that reach another device or account abort wrong_device; nothing changes.

    Efento: the identity (webhook id) and the token are generated; reconfigure keeps
    both whatever is submitted, and shows the unchanged gateway settings again.
    """
    entry = await loaded_entry(hass, harness)
    before = (dict(entry.data), entry.title, entry.unique_id, dict(entry.options))
    coordinator = entry.runtime_data.coordinator
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"{harness.key}_reconfigure"

    if not harness.reaches_other_devices:
        secrets = harness.secrets(entry)
        result = await submit(hass, result, {"name": "Another gateway"})
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == f"{harness.key}_reconfigured"
        await hass.async_block_till_done()
        assert entry.unique_id == before[2]
        assert harness.secrets(entry) == secrets
        assert set(secrets) <= set(entry.data.values())
        assert entry.state is ConfigEntryState.LOADED
        # The gateway goes on as it was, without new settings.
        assert set(await harness.async_push(entry)) == {201}
        return

    other = await harness.async_other_device()
    result = await submit(hass, result, other)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    await hass.async_block_till_done()
    assert (dict(entry.data), entry.title, entry.unique_id, dict(entry.options)) == before
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator is coordinator


async def test_reconfigure_same_device_keeps_the_entry(
    hass: HomeAssistant, harness: VendorHarness
) -> None:
    """The prefilled form, submitted as is, reaches the same device: the entry stays."""
    entry = await loaded_entry(hass, harness)
    data, unique_id = dict(entry.data), entry.unique_id
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] in ("reconfigure_successful", f"{harness.key}_reconfigured")
    await hass.async_block_till_done()
    assert entry.unique_id == unique_id
    assert dict(entry.data) == data
    assert entry.state is ConfigEntryState.LOADED
    await harness.async_live(entry)
    assert state_of(hass, harness.entity_id) != STATE_UNAVAILABLE


# --- 4. diagnostics ------------------------------------------------------------------


async def test_diagnostics_hold_no_secret(
    hass: HomeAssistant, harness: VendorHarness, hass_client: ClientSessionGenerator
) -> None:
    """No secret value of the entry appears anywhere in its diagnostics."""
    # Before any client starts Home Assistant's HTTP app (Efento's gateway does).
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await loaded_entry(hass, harness)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert entry.title in text  # the entry is there, only its secrets are not
    secrets = harness.secrets(entry)
    assert secrets
    # Session tokens the source issued are as secret as the credentials they came from.
    secrets += harness.issued_tokens()
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"diagnostics contain {leaked}"


# --- 5. unload -----------------------------------------------------------------------


async def test_unload_leaves_nothing_running(
    hass: HomeAssistant, harness: VendorHarness, freezer: FrozenDateTimeFactory
) -> None:
    """Unloaded: no task, timer, listener or stream of the entry; the source hears nothing.

    Efento: its endpoint stays and answers 503 (the gateway keeps its messages).
    """
    entry = await loaded_entry(hass, harness)
    await assert_unload_leaves_nothing(hass, harness, freezer, entry)


async def test_unload_during_an_outage_leaves_nothing_running(
    hass: HomeAssistant, harness: VendorHarness, freezer: FrozenDateTimeFactory
) -> None:
    """The same, unloaded while the source is gone: polls failing, a stream between
    reconnect attempts with its grace period running, a gateway past its heartbeat.
    """
    entry = await loaded_entry(hass, harness)
    await harness.async_source_down("unreachable")
    await advance(hass, freezer, timedelta(seconds=90), busy=harness.busy)
    assert entry.state is ConfigEntryState.LOADED
    await assert_unload_leaves_nothing(hass, harness, freezer, entry)


async def assert_unload_leaves_nothing(
    hass: HomeAssistant,
    harness: VendorHarness,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
) -> None:
    coordinator = entry.runtime_data.coordinator
    # While loaded, the integration's work is seen: a poll timer, a deadline, a stream task.
    assert our_tasks(hass) or our_timers(hass)
    assert list(coordinator.async_contexts())
    stream_task = coordinator.stream_task if isinstance(coordinator, StreamCoordinator) else None
    assert stream_task is None or not stream_task.done()

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    # Home Assistant finds nothing left to wait for (bounded in real time: a task that
    # never ends would otherwise hang the test).
    settled = asyncio.ensure_future(hass.async_block_till_done())
    try:
        await settle(settled.done)
    finally:
        settled.cancel()
    assert not entry._background_tasks
    assert not list(coordinator.async_contexts())
    assert not coordinator._listeners
    assert not our_tasks(hass)
    assert not our_timers(hass)
    assert stream_task is None or stream_task.done()
    await settle(lambda: harness.stream_connections() == 0)

    requests = harness.source_requests()
    await advance(hass, freezer, timedelta(hours=1), busy=harness.busy, step=timedelta(minutes=1))
    assert harness.source_requests() == requests
    assert harness.stream_connections() == 0
    if harness.calls_home_assistant:
        assert set(await harness.async_push(entry)) == {503}


# --- 6. remove -----------------------------------------------------------------------


async def test_remove_deletes_stored_state(
    hass: HomeAssistant,
    harness: VendorHarness,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Removing the entry deletes every store file it kept; none comes back later."""
    entry = await loaded_entry(hass, harness)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # What the entry keeps on disk is exactly what its vendor declares.
    expected = {f"{DOMAIN}.{name}.{entry.entry_id}" for name in harness.store_names}
    assert stored_keys(hass_storage, entry) == expected

    # Removed while loaded, the usual way: unloading writes the state once more first.
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await harness.async_live(entry)
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not stored_keys(hass_storage, entry)
    await advance(hass, freezer, timedelta(hours=1), busy=harness.busy, step=timedelta(minutes=1))
    assert not stored_keys(hass_storage, entry)


# --- 7. availability -----------------------------------------------------------------


async def test_entities_unavailable_while_source_is_gone(
    hass: HomeAssistant, harness: VendorHarness, freezer: FrozenDateTimeFactory
) -> None:
    """Source gone: entities unavailable (in time), and back with the source.

    Gone means: polls failing (eGauge, Enapter), the stream down past its grace period
    (Instathings, Netemera) - first unreachable, then answering 503 - or, for Efento,
    the gateway silent past its loggers' deadline.
    """
    entry = await loaded_entry(hass, harness)
    outages: tuple[Outage, ...] = ("unreachable",)
    if not harness.calls_home_assistant:
        outages += ("failing",)
    for outage in outages:
        await harness.async_source_down(outage)
        await advance_until(
            hass,
            freezer,
            lambda: state_of(hass, harness.entity_id) == STATE_UNAVAILABLE,
            busy=harness.busy,
            limit=harness.outage,
        )
        assert entry.state is ConfigEntryState.LOADED
        await harness.async_source_up()
        await advance_until(
            hass,
            freezer,
            lambda: state_of(hass, harness.entity_id) != STATE_UNAVAILABLE,
            busy=harness.busy,
            limit=timedelta(minutes=15),
        )
        assert entry.state is ConfigEntryState.LOADED
