"""rclpy.topic_endpoint_info test double."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class TopicEndpointTypeEnum(IntEnum):
    INVALID = 0
    PUBLISHER = 1
    SUBSCRIPTION = 2


class TopicEndpointInfo:
    def __init__(self, node_name: str = "", node_namespace: str = "", topic_type: str = "",
                 endpoint_type: TopicEndpointTypeEnum = TopicEndpointTypeEnum.INVALID, endpoint_gid: Any = None,
                 qos_profile: Any = None):
        self.node_name = node_name
        self.node_namespace = node_namespace
        self.topic_type = topic_type
        self.endpoint_type = endpoint_type
        self.endpoint_gid = endpoint_gid or []
        self.qos_profile = qos_profile
