"""rclpy.action.server test double: ActionServer and ServerGoalHandle with rcl_action's goal state machine.

Requests from a client are test hooks run in the caller's thread: `ActionServer.send_goal(goal, on_feedback)` does
what the executor does for a goal request (goal callback, then the accepted goal executed), and
`ServerGoalHandle.request_cancel()` what it does for a cancel request (cancel callback, then CANCELING).
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any, Callable

from rclpy._rclpy_pybind11 import RCLError
from rclpy.qos import QoSProfile, qos_profile_action_status_default, qos_profile_services_default


class GoalResponse(Enum):
    REJECT = 1
    ACCEPT = 2


class CancelResponse(Enum):
    REJECT = 1
    ACCEPT = 2


# action_msgs/msg/GoalStatus
STATUS_ACCEPTED, STATUS_EXECUTING, STATUS_CANCELING, STATUS_SUCCEEDED, STATUS_CANCELED, STATUS_ABORTED = range(1, 7)
_ACTIVE = (STATUS_ACCEPTED, STATUS_EXECUTING, STATUS_CANCELING)
# rcl_action goal events: the states each may start from, and where it leads.
_EVENTS = {
    "execute": ((STATUS_ACCEPTED,), STATUS_EXECUTING),
    "cancel_goal": ((STATUS_ACCEPTED, STATUS_EXECUTING), STATUS_CANCELING),
    "succeed": ((STATUS_EXECUTING, STATUS_CANCELING), STATUS_SUCCEEDED),
    "abort": ((STATUS_EXECUTING, STATUS_CANCELING), STATUS_ABORTED),
    "canceled": ((STATUS_CANCELING,), STATUS_CANCELED),
}


def default_goal_callback(goal_request: Any) -> GoalResponse:
    return GoalResponse.ACCEPT


def default_handle_accepted_callback(goal_handle: ServerGoalHandle) -> None:
    goal_handle.execute()


def default_cancel_callback(cancel_request: Any) -> CancelResponse:
    return CancelResponse.REJECT


class ServerGoalHandle:
    def __init__(self, action_server: ActionServer, goal_request: Any,
                 on_feedback: Callable[[ServerGoalHandle, Any], None] | None):
        self._server = action_server
        self._request = goal_request
        self._on_feedback = on_feedback
        self._status = STATUS_ACCEPTED
        self.goal_id = uuid.uuid4()  # rclpy: a unique_identifier_msgs/UUID
        self.feedback: list[Any] = []  # test hook: every feedback published
        self.result: Any = None  # test hook: what the execute callback returned

    @property
    def request(self) -> Any:
        return self._request

    @property
    def status(self) -> int:
        return self._status

    @property
    def is_active(self) -> bool:
        return self._status in _ACTIVE

    @property
    def is_cancel_requested(self) -> bool:
        return self._status == STATUS_CANCELING

    def _update_state(self, event: str) -> None:
        sources, goal = _EVENTS[event]
        if self._status not in sources:
            raise RCLError(f"goal_handle attempted invalid transition from state {self._status} with event {event}")
        self._status = goal

    def execute(self, execute_callback: Callable | None = None) -> None:
        self._update_state("execute")
        self._server._execute(self, execute_callback or self._server._execute_callback)

    def publish_feedback(self, feedback: Any) -> None:
        if not isinstance(feedback, self._server._action_type.Feedback):
            raise TypeError(f"Expected type {self._server._action_type.Feedback.__name__}, "
                            f"got {type(feedback).__name__}")
        self.feedback.append(feedback)
        if self._on_feedback is not None:
            self._on_feedback(self, feedback)

    def succeed(self) -> None:
        self._update_state("succeed")

    def abort(self) -> None:
        self._update_state("abort")

    def canceled(self) -> None:
        self._update_state("canceled")

    def request_cancel(self) -> CancelResponse:
        """Test hook: a client asks to cancel this goal."""
        response = self._server._cancel_callback(self)
        if response == CancelResponse.ACCEPT and self.is_active:
            self._update_state("cancel_goal")
        return response


class ActionServer:
    def __init__(self, node: Any, action_type: Any, action_name: str, execute_callback: Callable, *,
                 callback_group: Any = None, goal_callback: Callable = default_goal_callback,
                 handle_accepted_callback: Callable = default_handle_accepted_callback,
                 cancel_callback: Callable = default_cancel_callback,
                 goal_service_qos_profile: QoSProfile = qos_profile_services_default,
                 result_service_qos_profile: QoSProfile = qos_profile_services_default,
                 cancel_service_qos_profile: QoSProfile = qos_profile_services_default,
                 feedback_pub_qos_profile: QoSProfile = QoSProfile(depth=10),
                 status_pub_qos_profile: QoSProfile = qos_profile_action_status_default,
                 result_timeout: int = 900):
        self._node = node
        self._action_type = action_type
        self.action_name = node._expand(action_name)  # what rcl_action resolves ~ and the namespace to
        self._execute_callback = execute_callback
        self._goal_callback = goal_callback
        self._handle_accepted_callback = handle_accepted_callback
        self._cancel_callback = cancel_callback
        self.callback_group = callback_group or node.default_callback_group
        self.destroyed = False
        node.add_waitable(self)

    def send_goal(self, goal: Any,
                  on_feedback: Callable[[ServerGoalHandle, Any], None] | None = None) -> ServerGoalHandle | None:
        """Test hook: a client's goal. Returns the goal handle, executed (its `result` set), or None if rejected."""
        if self.destroyed:
            raise RuntimeError("InvalidHandle: action server destroyed")
        if not isinstance(goal, self._action_type.Goal):
            raise TypeError(f"Expected type {self._action_type.Goal.__name__}, got {type(goal).__name__}")
        if self._goal_callback(goal) != GoalResponse.ACCEPT:  # anything else is a rejection, as in rclpy
            return None
        handle = ServerGoalHandle(self, goal, on_feedback)
        self._handle_accepted_callback(handle)
        return handle

    def _execute(self, goal_handle: ServerGoalHandle, execute_callback: Callable) -> None:
        try:
            result = execute_callback(goal_handle)
        except Exception as error:  # rclpy logs it and sends an empty result
            self._node.get_logger().error(f"Error raised in execute callback: {error}")
            result = self._action_type.Result()
            if goal_handle.is_active:
                goal_handle.abort()
        if goal_handle.is_active:
            self._node.get_logger().warning("Goal state not set, assuming aborted. Goal ID: "
                                            f"{goal_handle.goal_id}")
            goal_handle.abort()
        if not isinstance(result, self._action_type.Result):
            raise TypeError(f"Expected type {self._action_type.Result.__name__} from the execute callback, got "
                            f"{type(result).__name__}")
        goal_handle.result = result

    def destroy(self) -> None:
        if not self.destroyed:
            self.destroyed = True
            self._node.remove_waitable(self)
