"""rclpy.lifecycle test double: the managed-node state machine, run synchronously by the trigger_* methods."""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

from rclpy._rclpy_pybind11 import RCLError
from rclpy.node import Node, Publisher


class TransitionCallbackReturn(Enum):
    SUCCESS = 97  # lifecycle_msgs/Transition TRANSITION_CALLBACK_SUCCESS
    FAILURE = 98
    ERROR = 99


class LifecycleState(NamedTuple):
    label: str
    state_id: int


_STATES = {"unconfigured": 1, "inactive": 2, "active": 3, "finalized": 4}
# transition -> (states it may start from, state on SUCCESS)
_TRANSITIONS = {
    "configure": (("unconfigured",), "inactive"),
    "cleanup": (("inactive",), "unconfigured"),
    "activate": (("inactive",), "active"),
    "deactivate": (("active",), "inactive"),
    "shutdown": (("unconfigured", "inactive", "active"), "finalized"),
}


class _StateMachine:
    def __init__(self) -> None:
        self.label = "unconfigured"

    @property
    def current_state(self) -> tuple[int, str]:  # rclpy's private attribute of the same name
        return _STATES[self.label], self.label


class LifecyclePublisher(Publisher):
    """Drops messages silently until the node's base on_activate has run."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._enabled = False

    @property
    def is_activated(self) -> bool:
        return self._enabled

    def publish(self, msg: Any) -> None:
        if self._enabled:
            super().publish(msg)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._enabled = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._enabled = False
        return TransitionCallbackReturn.SUCCESS


class LifecycleNode(Node):
    def __init__(self, node_name: str, *, enable_communication_interface: bool = True, **node_kwargs: Any):
        super().__init__(node_name, **node_kwargs)
        self._state_machine = _StateMachine()
        self._managed_entities: list[Any] = []

    def create_lifecycle_publisher(self, msg_type: type, topic: str, qos_profile: Any, *,
                                   callback_group: Any = None, event_callbacks: Any = None,
                                   qos_overriding_options: Any = None) -> LifecyclePublisher:
        publisher = self.create_publisher(msg_type, topic, qos_profile, callback_group=callback_group,
                                          event_callbacks=event_callbacks, publisher_class=LifecyclePublisher)
        self._managed_entities.append(publisher)
        return publisher

    # The base callbacks forward to the managed entities; overriding ones must call them.
    def _forward(self, name: str, state: LifecycleState) -> TransitionCallbackReturn:
        for entity in self._managed_entities:
            callback = getattr(entity, "on_" + name, None)
            if callback is not None and callback(state) != TransitionCallbackReturn.SUCCESS:
                return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._forward("configure", state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._forward("cleanup", state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._forward("activate", state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._forward("deactivate", state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._forward("shutdown", state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._forward("error", state)

    def trigger_configure(self) -> TransitionCallbackReturn:
        return self._trigger("configure")

    def trigger_cleanup(self) -> TransitionCallbackReturn:
        return self._trigger("cleanup")

    def trigger_activate(self) -> TransitionCallbackReturn:
        return self._trigger("activate")

    def trigger_deactivate(self) -> TransitionCallbackReturn:
        return self._trigger("deactivate")

    def trigger_shutdown(self) -> TransitionCallbackReturn:
        return self._trigger("shutdown")

    def _trigger(self, transition: str) -> TransitionCallbackReturn:
        start = self._state_machine.label
        sources, goal = _TRANSITIONS[transition]
        if start not in sources:
            raise RCLError(f"Transition '{transition}' is not registered from state '{start}'")
        try:
            result = getattr(self, "on_" + transition)(LifecycleState(start, _STATES[start]))
        except Exception:  # rclpy swallows it (not even logged) and processes an error
            result = TransitionCallbackReturn.ERROR
        if result == TransitionCallbackReturn.SUCCESS:
            self._state_machine.label = goal
        elif result == TransitionCallbackReturn.FAILURE:
            self._state_machine.label = start
        else:
            try:
                recovered = self.on_error(LifecycleState("errorprocessing", 15))
            except Exception:
                recovered = TransitionCallbackReturn.ERROR
            ok = recovered == TransitionCallbackReturn.SUCCESS
            self._state_machine.label = "unconfigured" if ok else "finalized"
        return result
