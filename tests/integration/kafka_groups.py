"""Consumer-group surgery the embedded broker needs in crash tests."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.protocol.group import LeaveGroupRequest


async def evict_group_members(bootstrap: str, group: str) -> None:
    """What Kafka's session timeout does to a vanished member, done at once.

    noida-db 0.2.3 never expires a member that stops heartbeating: a SIGKILLed worker stays
    in its group (and stays its leader), so a successor loops JoinGroup/SyncGroup forever.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    # DescribeGroups v2 rows: (error_code, group, state, protocol_type, protocol, members);
    # each member row starts with its member_id.
    members = [member[0] for resp in described for row in resp.groups for member in row[5]]
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        coordinator = await client.coordinator_lookup(CoordinationType.GROUP, group)
        for member_id in members:
            await client.send(coordinator, LeaveGroupRequest(group, member_id))
    finally:
        await client.close()
