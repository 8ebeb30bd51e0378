"""launch_ros.actions test double: Node and LifecycleNode, recording what they would start."""

from __future__ import annotations

from typing import Any

from launch.actions import ExecuteProcess


class Node(ExecuteProcess):
    def __init__(self, *, executable: Any, package: Any = None, name: Any = None, namespace: Any = None,
                 exec_name: Any = None, parameters: list | None = None, remappings: list | None = None,
                 ros_arguments: list | None = None, arguments: list | None = None, **kwargs: Any):
        if parameters is not None and not isinstance(parameters, list):
            raise TypeError("parameters must be a list")  # of dicts, file paths or ParameterFile
        super().__init__(cmd=[executable], **kwargs)
        self.executable, self.package, self.node_name, self.node_namespace = executable, package, name, namespace
        self.exec_name, self.parameters, self.remappings = exec_name, parameters, remappings
        self.ros_arguments, self.arguments = ros_arguments, arguments


class LifecycleNode(Node):
    def __init__(self, *, name: Any, namespace: Any, **kwargs: Any):  # both required, in Humble and Jazzy
        super().__init__(name=name, namespace=namespace, **kwargs)
