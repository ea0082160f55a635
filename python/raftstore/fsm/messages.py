"""Consul's FSM message types (agent/structs/structs.go): the first byte of every command in the Raft log and of
every record in an FSM snapshot.

The numbers are persisted in logs and snapshots, so they never change and are only ever added ("must only ever be
added", as Consul's source says). Names are Consul's `requestTypeStrings`, which `snapshot inspect` prints.
"""

from __future__ import annotations

import enum

IGNORE_UNKNOWN_TYPE_FLAG = 128
"""Set on a message type to say "skip me if you do not know me": lets a newer server add commands that an older
server replicating the same log ignores with a warning instead of stopping."""


class MessageType(enum.IntEnum):
    REGISTER = 0
    DEREGISTER = 1
    KVS = 2
    SESSION = 3
    DEPRECATED_ACL = 4
    TOMBSTONE = 5
    COORDINATE_BATCH_UPDATE = 6
    PREPARED_QUERY = 7
    TXN = 8
    AUTOPILOT = 9
    AREA = 10
    ACL_BOOTSTRAP = 11
    INTENTION = 12
    CONNECT_CA = 13
    CONNECT_CA_PROVIDER_STATE = 14
    CONNECT_CA_CONFIG = 15
    INDEX = 16
    ACL_TOKEN_SET = 17
    ACL_TOKEN_DELETE = 18
    ACL_POLICY_SET = 19
    ACL_POLICY_DELETE = 20
    CONNECT_CA_LEAF = 21
    CONFIG_ENTRY = 22
    ACL_ROLE_SET = 23
    ACL_ROLE_DELETE = 24
    ACL_BINDING_RULE_SET = 25
    ACL_BINDING_RULE_DELETE = 26
    ACL_AUTH_METHOD_SET = 27
    ACL_AUTH_METHOD_DELETE = 28
    CHUNKING_STATE = 29
    FEDERATION_STATE = 30
    SYSTEM_METADATA = 31
    SERVICE_VIRTUAL_IP = 32
    FREE_VIRTUAL_IP = 33
    KIND_SERVICE_NAMES = 34
    PEERING_WRITE = 35
    PEERING_DELETE = 36
    PEERING_TERMINATE_BY_ID = 37
    PEERING_TRUST_BUNDLE_WRITE = 38
    PEERING_TRUST_BUNDLE_DELETE = 39
    PEERING_SECRETS_WRITE = 40
    RAFT_LOG_VERIFIER_CHECKPOINT = 41
    RESOURCE_OPERATION = 42
    UPDATE_VIRTUAL_IP = 43

    @property
    def consul_name(self) -> str:
        """The name Consul's tools print for this type (e.g. in `snapshot inspect`)."""
        return _CONSUL_NAMES[self]


_CONSUL_NAMES: dict[MessageType, str] = {
    MessageType.REGISTER: "Register",
    MessageType.DEREGISTER: "Deregister",
    MessageType.KVS: "KVS",
    MessageType.SESSION: "Session",
    MessageType.DEPRECATED_ACL: "ACL",
    MessageType.TOMBSTONE: "Tombstone",
    MessageType.COORDINATE_BATCH_UPDATE: "CoordinateBatchUpdate",
    MessageType.PREPARED_QUERY: "PreparedQuery",
    MessageType.TXN: "Txn",
    MessageType.AUTOPILOT: "Autopilot",
    MessageType.AREA: "Area",
    MessageType.ACL_BOOTSTRAP: "ACLBootstrap",
    MessageType.INTENTION: "Intention",
    MessageType.CONNECT_CA: "ConnectCA",
    MessageType.CONNECT_CA_PROVIDER_STATE: "ConnectCAProviderState",
    MessageType.CONNECT_CA_CONFIG: "ConnectCAConfig",
    MessageType.INDEX: "Index",
    MessageType.ACL_TOKEN_SET: "ACLToken",
    MessageType.ACL_TOKEN_DELETE: "ACLTokenDelete",
    MessageType.ACL_POLICY_SET: "ACLPolicy",
    MessageType.ACL_POLICY_DELETE: "ACLPolicyDelete",
    MessageType.CONNECT_CA_LEAF: "ConnectCALeaf",
    MessageType.CONFIG_ENTRY: "ConfigEntry",
    MessageType.ACL_ROLE_SET: "ACLRole",
    MessageType.ACL_ROLE_DELETE: "ACLRoleDelete",
    MessageType.ACL_BINDING_RULE_SET: "ACLBindingRule",
    MessageType.ACL_BINDING_RULE_DELETE: "ACLBindingRuleDelete",
    MessageType.ACL_AUTH_METHOD_SET: "ACLAuthMethod",
    MessageType.ACL_AUTH_METHOD_DELETE: "ACLAuthMethodDelete",
    MessageType.CHUNKING_STATE: "ChunkingState",
    MessageType.FEDERATION_STATE: "FederationState",
    MessageType.SYSTEM_METADATA: "SystemMetadata",
    MessageType.SERVICE_VIRTUAL_IP: "ServiceVirtualIP",
    MessageType.FREE_VIRTUAL_IP: "FreeVirtualIP",
    MessageType.KIND_SERVICE_NAMES: "KindServiceName",
    MessageType.PEERING_WRITE: "Peering",
    MessageType.PEERING_DELETE: "PeeringDelete",
    MessageType.PEERING_TERMINATE_BY_ID: "PeeringTerminateByID",
    MessageType.PEERING_TRUST_BUNDLE_WRITE: "PeeringTrustBundle",
    MessageType.PEERING_TRUST_BUNDLE_DELETE: "PeeringTrustBundleDelete",
    MessageType.PEERING_SECRETS_WRITE: "PeeringSecret",
    MessageType.RAFT_LOG_VERIFIER_CHECKPOINT: "RaftLogVerifierCheckpoint",
    MessageType.RESOURCE_OPERATION: "Resource",
    MessageType.UPDATE_VIRTUAL_IP: "UpdateManualVirtualIPRequestType",
}
assert set(_CONSUL_NAMES) == set(MessageType), "every message type needs its Consul name"


def type_name(type_byte: int) -> str:
    """A printable name for any type byte, known or not (``Unknown 77``), with the ignore flag shown."""
    flag = type_byte & IGNORE_UNKNOWN_TYPE_FLAG
    base = type_byte & ~IGNORE_UNKNOWN_TYPE_FLAG
    try:
        name = MessageType(base).consul_name
    except ValueError:
        name = f"Unknown {base}"
    return f"{name} (ignore if unknown)" if flag else name
