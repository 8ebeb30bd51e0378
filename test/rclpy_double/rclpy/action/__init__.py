"""rclpy.action test double: the server side only (the node serves an action, it calls none)."""

from rclpy.action.server import ActionServer, CancelResponse, GoalResponse, ServerGoalHandle

__all__ = ["ActionServer", "CancelResponse", "GoalResponse", "ServerGoalHandle"]
