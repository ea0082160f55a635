"""Autopilot configuration: Consul's defaults, validation, the HTTP and FSM wire forms, CAS semantics."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.autopilot import (
    AutopilotConfig,
    AutopilotConfigError,
    AutopilotSetConfigRequest,
    apply_set_config,
    decode_set_config_command,
    encode_set_config_command,
)
from raftstore.fsm import CommandDecodeError, CommandTable, MessageType, decode_body, encode, split
from raftstore.util.goduration import MILLISECOND, SECOND

pytestmark = pytest.mark.pure_python


def test_consul_defaults() -> None:
    config = AutopilotConfig()
    assert config.cleanup_dead_servers is True
    assert config.last_contact_threshold == 200 * MILLISECOND
    assert config.max_trailing_logs == 250
    assert config.min_quorum == 0
    assert config.server_stabilization_time == 10 * SECOND


def test_http_form_is_consuls() -> None:
    assert AutopilotConfig(create_index=4, modify_index=9).to_http() == {
        "CleanupDeadServers": True,
        "LastContactThreshold": "200ms",
        "MaxTrailingLogs": 250,
        "MinQuorum": 0,
        "ServerStabilizationTime": "10s",
        "RedundancyZoneTag": "",
        "DisableUpgradeMigration": False,
        "UpgradeVersionTag": "",
        "CreateIndex": 4,
        "ModifyIndex": 9,
    }


def test_http_put_accepts_go_strings_and_nanoseconds_and_zeroes_omitted_fields() -> None:
    config = AutopilotConfig.from_http(
        {"CleanupDeadServers": False, "LastContactThreshold": "1.5s", "ServerStabilizationTime": 30 * SECOND}
    )
    assert config.last_contact_threshold == 1500 * MILLISECOND
    assert config.server_stabilization_time == 30 * SECOND
    assert config.max_trailing_logs == 0 and config.min_quorum == 0 and config.cleanup_dead_servers is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a JSON object"),
        (
            {"LastContactThreshold": "5 parsecs"},
            'LastContactThreshold: time: unknown unit " parsecs" in duration "5 parsecs"',
        ),
        ({"LastContactThreshold": "-1s"}, "LastContactThreshold must be in 0.."),
        ({"ServerStabilizationTime": 1.5}, "ServerStabilizationTime must be a duration string"),
        ({"MaxTrailingLogs": -1}, "MaxTrailingLogs must be in 0.."),
        ({"MaxTrailingLogs": 1 << 64}, "MaxTrailingLogs must be in 0.."),
        ({"MinQuorum": "3"}, "MinQuorum must be an integer"),
        ({"MinQuorum": True}, "MinQuorum must be an integer"),
        ({"CleanupDeadServers": "yes"}, "CleanupDeadServers must be a boolean"),
        ({"RedundancyZoneTag": 5}, "RedundancyZoneTag must be a string"),
        ({"MaxTrailingLog": 5}, "unknown autopilot configuration field(s): MaxTrailingLog"),
    ],
)
def test_http_put_validation(body: Any, message: str) -> None:
    with pytest.raises(AutopilotConfigError) as caught:
        AutopilotConfig.from_http(body)
    assert message in str(caught.value)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(AutopilotConfigError):
        AutopilotConfig(last_contact_threshold=1 << 63)


configs = st.builds(
    AutopilotConfig,
    cleanup_dead_servers=st.booleans(),
    last_contact_threshold=st.integers(0, (1 << 63) - 1),
    max_trailing_logs=st.integers(0, (1 << 64) - 1),
    min_quorum=st.integers(0, 9),
    server_stabilization_time=st.integers(0, (1 << 63) - 1),
    redundancy_zone_tag=st.text(max_size=5),
    disable_upgrade_migration=st.booleans(),
    upgrade_version_tag=st.text(max_size=5),
    create_index=st.integers(0, (1 << 64) - 1),
    modify_index=st.integers(0, (1 << 64) - 1),
)


@given(configs)
def test_http_round_trip(config: AutopilotConfig) -> None:
    assert AutopilotConfig.from_http(config.to_http()) == config


@given(configs, st.booleans())
def test_fsm_command_round_trip_through_the_framing(config: AutopilotConfig, cas: bool) -> None:
    request = AutopilotSetConfigRequest(config, cas=cas, datacenter="dc1", token="t")
    message_type, _, body = split(encode(MessageType.AUTOPILOT, request.to_body()))
    assert message_type == MessageType.AUTOPILOT
    assert AutopilotSetConfigRequest.from_body(decode_body(body)) == request


def test_fsm_body_uses_go_names_and_nanoseconds() -> None:
    body = AutopilotSetConfigRequest(AutopilotConfig(), cas=True).to_body()
    assert body["CAS"] is True
    assert body["Config"]["LastContactThreshold"] == 200_000_000
    assert body["Config"]["ServerStabilizationTime"] == 10_000_000_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x", "must be a map"),
        ({"CAS": True}, "has no Config"),
        ({"Config": [], "CAS": False}, "Config must be a map"),
        ({"Config": {}, "CAS": 1}, "CAS must be a boolean"),
        ({"Config": {"MaxTrailingLogs": -5}}, "MaxTrailingLogs must be in"),
        ({"Config": {"LastContactThreshold": "200ms"}}, "LastContactThreshold must be an integer"),
    ],
)
def test_fsm_decode_errors(body: Any, message: str) -> None:
    with pytest.raises(AutopilotConfigError) as caught:
        AutopilotSetConfigRequest.from_body(body)
    assert message in str(caught.value)


def test_plain_set_stamps_indexes() -> None:
    first, ok = apply_set_config(None, AutopilotSetConfigRequest(AutopilotConfig(min_quorum=3)), index=7)
    assert ok and first is not None
    assert (first.create_index, first.modify_index, first.min_quorum) == (7, 7, 3)
    second, ok = apply_set_config(first, AutopilotSetConfigRequest(AutopilotConfig(min_quorum=5)), index=12)
    assert ok and second is not None and (second.create_index, second.modify_index, second.min_quorum) == (7, 12, 5)


def test_cas_set_needs_the_current_modify_index() -> None:
    stored = AutopilotConfig(create_index=7, modify_index=9)
    stale = AutopilotSetConfigRequest(AutopilotConfig(min_quorum=5, modify_index=8), cas=True)
    assert apply_set_config(stored, stale, index=20) == (None, False)
    fresh = AutopilotSetConfigRequest(AutopilotConfig(min_quorum=5, modify_index=9), cas=True)
    updated, ok = apply_set_config(stored, fresh, index=20)
    assert ok and updated is not None and (updated.create_index, updated.modify_index) == (7, 20)
    # Nothing stored yet: a CAS write has nothing to compare with and fails, as in Consul.
    assert apply_set_config(None, fresh, index=20) == (None, False)


def test_command_helpers_plug_into_the_fsm_dispatch_table() -> None:
    stored: dict[str, AutopilotConfig] = {}

    def handler(body: memoryview, index: int) -> bool:
        request = decode_set_config_command(body)
        new, ok = apply_set_config(stored.get("config"), request, index)
        if new is not None:
            stored["config"] = new
        return ok

    table = CommandTable()
    table.register(MessageType.AUTOPILOT, handler)
    command = encode_set_config_command(AutopilotSetConfigRequest(AutopilotConfig(min_quorum=3)))
    assert command[0] == 9
    assert table.apply(command, 5) is True and stored["config"].modify_index == 5
    cas = encode_set_config_command(AutopilotSetConfigRequest(AutopilotConfig(min_quorum=5, modify_index=4), cas=True))
    assert table.apply(cas, 6) is False and stored["config"].min_quorum == 3


@pytest.mark.parametrize("body", [b"", b"\xc1", b"\x93\x01\x02\x03", b"\x80\x00"])
def test_command_decode_refuses_broken_bytes(body: bytes) -> None:
    with pytest.raises((CommandDecodeError, AutopilotConfigError)):
        decode_set_config_command(body)
