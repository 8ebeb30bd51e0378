"""QoS of the image subscription, and why a publisher's QoS would never deliver to it, in words.

A QoS mismatch fails silently: the subscription simply never receives (a reliable subscription and a best-effort
camera driver, or a bag recorded from one). So the node subscribes best effort by default, and says so plainly when
a publisher it can see will not match what was configured.
"""

from __future__ import annotations

from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from motionllm_ros.config import InputConfig

RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def image_qos(config: InputConfig) -> QoSProfile:
    """Keep-last `qos_depth` (1: a late callback sees the newest frame, never a stale queue), volatile."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=config.qos_depth,
                      reliability=RELIABILITY[config.qos_reliability], durability=DurabilityPolicy.VOLATILE)


def describe_qos(profile: Any, offered: bool = False) -> str:
    """'reliability=best_effort durability=volatile history=keep_last depth=1' for a log line. A publisher's QoS
    as the ROS graph reports it (`offered`) carries no history or depth (rmw reports them as unknown and 0): only
    its reliability and durability are shown, the policies that decide whether it matches."""
    names = ("reliability", "durability") if offered else ("reliability", "durability", "history")
    text = " ".join(f"{name}={_policy_name(getattr(profile, name))}" for name in names)
    return text if offered else f"{text} depth={profile.depth}"


def qos_mismatch_hint(ours: Any, offered: Any) -> str | None:
    """Why a publisher offering `offered` never delivers to a subscription requesting `ours`; None if it does.

    Covers the two request-vs-offered rules that bite camera pipelines (reliability and durability). Deadline and
    liveliness are left at their defaults on both sides by every camera driver we know, and then always match.
    """
    problems = []
    if ours.reliability == ReliabilityPolicy.RELIABLE and offered.reliability == ReliabilityPolicy.BEST_EFFORT:
        problems.append("the publisher is best effort but this subscription requests reliable delivery, so no "
                        "message reaches it; set input.qos_reliability to best_effort (which matches every "
                        "publisher)")
    if ours.durability == DurabilityPolicy.TRANSIENT_LOCAL and offered.durability == DurabilityPolicy.VOLATILE:
        problems.append("the publisher is volatile but this subscription requests transient_local durability, so "
                        "no message reaches it; subscribe volatile")
    return "; ".join(problems) or None


def _policy_name(policy: Any) -> str:
    # Policies are enums in rclpy's QoSProfile; a raw int from elsewhere is shown as it is.
    return policy.name.lower() if hasattr(policy, "name") else str(policy)


def behavior_qos() -> QoSProfile:
    """~/behavior: reliable and transient local, depth 10, so that a planner that subscribes late (also transient
    local) still gets the last ten descriptions; a volatile subscriber matches too and gets new ones only."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def skeleton_qos() -> QoSProfile:
    """~/skeleton: reliable (what RViz's marker display requests by default), volatile, the newest array only."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
