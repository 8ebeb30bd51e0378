"""rclpy.node test double: parameters, publishers, subscriptions, services, timers, graph queries, clock, logger."""

from __future__ import annotations

import math
import re
import threading
from typing import Any, Callable

import yaml

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import ROSClock
from rclpy.exceptions import (InvalidNamespaceException, InvalidNodeNameException, InvalidParameterTypeException,
                              InvalidParameterValueException, NotInitializedException,
                              ParameterAlreadyDeclaredException, ParameterNotDeclaredException,
                              ParameterUninitializedException)
from rclpy.logging import RcutilsLogger
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_services_default
from rclpy.topic_endpoint_info import TopicEndpointInfo, TopicEndpointTypeEnum

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _qos(qos_profile: Any) -> QoSProfile:
    if isinstance(qos_profile, QoSProfile):
        return qos_profile
    if isinstance(qos_profile, int) and not isinstance(qos_profile, bool):
        if qos_profile < 0:
            raise ValueError("history depth must be greater than or equal to zero")
        return QoSProfile(depth=qos_profile)
    raise TypeError("Expected QoSProfile or int, but received {!r}".format(type(qos_profile)))


def _command_line_parameters(args: list[str] | None) -> dict[str, Parameter]:
    """`--ros-args -p name:=value ...` of rclpy.init(args=...); values are YAML, as rcl parses them."""
    if not args or "--ros-args" not in args:
        return {}
    ros_args = args[args.index("--ros-args") + 1:]
    parameters = {}
    for flag, value in zip(ros_args, ros_args[1:]):
        if flag in ("-p", "--param"):
            name, _, text = value.partition(":=")
            parameters[name] = Parameter(name, value=yaml.safe_load(text))
    return parameters


class _Entity:
    def __init__(self) -> None:
        self.destroyed = False

    def destroy(self) -> None:
        self.destroyed = True


class Publisher(_Entity):
    def __init__(self, node: Any, msg_type: type, topic: str, qos_profile: QoSProfile, event_callbacks: Any):
        super().__init__()
        self.node, self.msg_type, self.topic_name = node, msg_type, topic
        self.qos_profile, self.event_callbacks = qos_profile, event_callbacks
        self.published: list[Any] = []  # test hook
        self._condition = threading.Condition()  # publish() may be called from any thread, as in rclpy

    @property
    def topic(self) -> str:
        return self.topic_name

    def publish(self, msg: Any) -> None:
        if self.destroyed:
            raise RuntimeError("InvalidHandle: publisher destroyed")
        if not isinstance(msg, (self.msg_type, bytes)):
            raise TypeError(f"Expected {self.msg_type.__name__}, got {type(msg).__name__}")
        with self._condition:
            self.published.append(msg)
            self._condition.notify_all()

    def wait_for_published(self, count: int, timeout: float) -> bool:
        """Test hook: True once `count` messages were published (by any thread), False after `timeout` seconds."""
        with self._condition:
            return self._condition.wait_for(lambda: len(self.published) >= count, timeout)

    def get_subscription_count(self) -> int:
        return 0


class Subscription(_Entity):
    def __init__(self, msg_type: type, topic: str, callback: Callable, qos_profile: QoSProfile,
                 callback_group: Any, event_callbacks: Any, raw: bool):
        super().__init__()
        self.msg_type, self.topic_name, self.callback = msg_type, topic, callback
        self.qos_profile, self.callback_group, self.event_callbacks, self.raw = (
            qos_profile, callback_group, event_callbacks, raw)

    @property
    def topic(self) -> str:
        return self.topic_name

    def deliver(self, msg: Any) -> None:
        """Test hook: what the executor does when a message arrives. Exceptions propagate, as out of spin()."""
        if self.destroyed:
            raise RuntimeError("InvalidHandle: subscription destroyed")
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"{self.topic_name} carries {self.msg_type.__name__}, not {type(msg).__name__}")
        self.callback(msg)


class Service(_Entity):
    def __init__(self, srv_type: type, srv_name: str, callback: Callable, qos_profile: QoSProfile,
                 callback_group: Any):
        super().__init__()
        self.srv_type, self.srv_name, self.callback = srv_type, srv_name, callback
        self.qos_profile, self.callback_group = qos_profile, callback_group

    def call(self, request: Any) -> Any:
        """Test hook: a client's request, handled as the executor does. The callback gets the request and a fresh
        Response and must return a Response; anything else raises TypeError (in rclpy: out of spin())."""
        if self.destroyed:
            raise RuntimeError("InvalidHandle: service destroyed")
        if not isinstance(request, self.srv_type.Request):
            raise TypeError(f"{self.srv_name} takes {self.srv_type.Request.__name__}, not {type(request).__name__}")
        response = self.callback(request, self.srv_type.Response())
        if not isinstance(response, self.srv_type.Response):
            raise TypeError(f"Expected {self.srv_type.Response.__name__} from the {self.srv_name} callback, got "
                            f"{type(response).__name__}")
        return response


class Timer(_Entity):
    def __init__(self, period_sec: float, callback: Callable, callback_group: Any, clock: Any):
        super().__init__()
        self.timer_period_ns = int(period_sec * 1e9)
        self.callback, self.callback_group, self.clock = callback, callback_group, clock
        self._canceled = False

    def cancel(self) -> None:
        self._canceled = True

    def reset(self) -> None:
        self._canceled = False

    def is_canceled(self) -> bool:
        return self._canceled

    def fire(self) -> None:
        """Test hook: the period elapsed (callbacks take no arguments)."""
        if not self._canceled and not self.destroyed:
            self.callback()


class Node:
    PARAM_REL_TOL = 1e-6

    def __init__(self, node_name: str, *, context: Any = None, cli_args: Any = None, namespace: str | None = None,
                 use_global_arguments: bool = True, enable_rosout: bool = True,
                 start_parameter_services: bool = True, parameter_overrides: list[Parameter] | None = None,
                 allow_undeclared_parameters: bool = False,
                 automatically_declare_parameters_from_overrides: bool = False):
        self._context = context or rclpy.get_default_context()
        if not self._context.ok():
            raise NotInitializedException("cannot create node")
        if not _NAME.match(node_name):
            raise InvalidNodeNameException(node_name)
        namespace = namespace or "/"
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        if namespace != "/" and not all(_NAME.match(part) for part in namespace[1:].split("/")):
            raise InvalidNamespaceException(namespace)
        self._name, self._namespace = node_name, namespace
        self._logger = RcutilsLogger(node_name)
        self._clock = ROSClock()
        self._destroyed = False
        self.default_callback_group = MutuallyExclusiveCallbackGroup()
        self.publishers: list[Publisher] = []
        self.subscriptions: list[Subscription] = []
        self.services: list[Service] = []
        self.timers: list[Timer] = []
        self.waitables: list[Any] = []  # action servers register themselves here
        self._parameters: dict[str, Parameter] = {}
        self._descriptors: dict[str, ParameterDescriptor] = {}
        self._overrides = _command_line_parameters(self._context.args) if use_global_arguments else {}
        self._overrides.update({p.name: p for p in parameter_overrides or []})
        self._allow_undeclared = allow_undeclared_parameters
        self._on_set_callbacks: list[Callable] = []
        self.declare_parameter("use_sim_time", False)
        if automatically_declare_parameters_from_overrides:
            for name, parameter in self._overrides.items():
                if name not in self._parameters:
                    self.declare_parameter(name, parameter.value)

    # ---------------------------------------------------------------------------------------------- basics
    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def get_fully_qualified_name(self) -> str:
        return self._namespace.rstrip("/") + "/" + self._name

    def get_logger(self) -> RcutilsLogger:
        return self._logger

    def get_clock(self) -> ROSClock:
        return self._clock

    @property
    def context(self) -> Any:
        return self._context

    def _expand(self, topic: str) -> str:
        if topic == "~" or topic.startswith("~/"):
            return self.get_fully_qualified_name() + topic[1:]
        if topic.startswith("/"):
            return topic
        return self._namespace.rstrip("/") + "/" + topic

    def _check_alive(self) -> None:
        if self._destroyed:
            raise RuntimeError("InvalidHandle: node destroyed")

    # ------------------------------------------------------------------------------------------- entities
    def create_publisher(self, msg_type: type, topic: str, qos_profile: Any, *, callback_group: Any = None,
                         event_callbacks: Any = None, qos_overriding_options: Any = None,
                         publisher_class: type = Publisher) -> Any:
        self._check_alive()
        publisher = publisher_class(self, msg_type, self._expand(topic), _qos(qos_profile), event_callbacks)
        self.publishers.append(publisher)
        self._context.publishers.append(publisher)
        return publisher

    def create_subscription(self, msg_type: type, topic: str, callback: Callable, qos_profile: Any, *,
                            callback_group: Any = None, event_callbacks: Any = None,
                            qos_overriding_options: Any = None, raw: bool = False) -> Subscription:
        self._check_alive()
        subscription = Subscription(msg_type, self._expand(topic), callback, _qos(qos_profile),
                                    callback_group or self.default_callback_group, event_callbacks, raw)
        self.subscriptions.append(subscription)
        return subscription

    def create_service(self, srv_type: type, srv_name: str, callback: Callable, *,
                       qos_profile: QoSProfile = qos_profile_services_default, callback_group: Any = None) -> Service:
        self._check_alive()
        service = Service(srv_type, self._expand(srv_name), callback, _qos(qos_profile),
                          callback_group or self.default_callback_group)
        self.services.append(service)
        return service

    def add_waitable(self, waitable: Any) -> None:
        self.waitables.append(waitable)

    def remove_waitable(self, waitable: Any) -> None:
        self.waitables.remove(waitable)

    def create_timer(self, timer_period_sec: float, callback: Callable, callback_group: Any = None,
                     clock: Any = None) -> Timer:
        self._check_alive()
        timer = Timer(timer_period_sec, callback, callback_group or self.default_callback_group,
                      clock or self._clock)
        self.timers.append(timer)
        return timer

    def destroy_publisher(self, publisher: Publisher) -> bool:
        return self._destroy(publisher, self.publishers)

    def destroy_subscription(self, subscription: Subscription) -> bool:
        return self._destroy(subscription, self.subscriptions)

    def destroy_service(self, service: Service) -> bool:
        return self._destroy(service, self.services)

    def destroy_timer(self, timer: Timer) -> bool:
        return self._destroy(timer, self.timers)

    def _destroy(self, entity: Any, entities: list) -> bool:
        if entity not in entities:
            return False
        entities.remove(entity)
        if entity in self._context.publishers:
            self._context.publishers.remove(entity)
        entity.destroy()
        return True

    def destroy_node(self) -> None:
        for entities in (self.publishers, self.subscriptions, self.services, self.timers):
            for entity in list(entities):
                self._destroy(entity, entities)
        self._destroyed = True

    def get_publishers_info_by_topic(self, topic_name: str, no_mangle: bool = False) -> list[TopicEndpointInfo]:
        topic = self._expand(topic_name)
        return [TopicEndpointInfo(node_name=p.node.get_name(), node_namespace=p.node.get_namespace(),
                                  topic_type=p.msg_type.__msgtype__, endpoint_type=TopicEndpointTypeEnum.PUBLISHER,
                                  qos_profile=p.qos_profile)
                for p in self._context.publishers if p.topic_name == topic]

    def count_publishers(self, topic_name: str) -> int:
        return len(self.get_publishers_info_by_topic(topic_name))

    # ----------------------------------------------------------------------------------------- parameters
    def declare_parameter(self, name: str, value: Any = None, descriptor: ParameterDescriptor | None = None,
                          ignore_override: bool = False) -> Parameter:
        if name in self._parameters:
            raise ParameterAlreadyDeclaredException(name)
        descriptor = descriptor if descriptor is not None else ParameterDescriptor()
        if isinstance(value, Parameter.Type):
            if value == Parameter.Type.NOT_SET:
                raise ValueError("Cannot declare a parameter of type NOT_SET")
            declared_type, value = value, None
        else:
            declared_type = Parameter.Type.from_parameter_value(value)
            if declared_type == Parameter.Type.NOT_SET:
                descriptor.dynamic_typing = True  # rclpy: deprecated, dynamically typed
        override = None if ignore_override else self._overrides.get(name)
        parameter = Parameter(name, value=override.value) if override else Parameter(name, declared_type, value)
        if (not descriptor.dynamic_typing and parameter.type_ != declared_type
                and parameter.type_ != Parameter.Type.NOT_SET):
            raise InvalidParameterTypeException(parameter, declared_type.name)
        descriptor.name = name
        descriptor.type = declared_type.value
        result = self._accept(parameter, descriptor, declaring=True)
        if not result.successful:
            raise InvalidParameterValueException(name, parameter.value, result.reason)
        self._store(parameter, descriptor)
        return parameter

    def has_parameter(self, name: str) -> bool:
        return name in self._parameters

    def get_parameter(self, name: str) -> Parameter:
        if name not in self._parameters:
            if self._allow_undeclared:
                return Parameter(name, Parameter.Type.NOT_SET, None)
            raise ParameterNotDeclaredException(name)
        parameter = self._parameters[name]
        if parameter.type_ == Parameter.Type.NOT_SET and not self._descriptors[name].dynamic_typing:
            raise ParameterUninitializedException(name)
        return parameter

    def describe_parameter(self, name: str) -> ParameterDescriptor:
        if name not in self._descriptors:
            raise ParameterNotDeclaredException(name)
        return self._descriptors[name]

    def set_parameters(self, parameter_list: list[Parameter]) -> list[SetParametersResult]:
        results = []
        for parameter in parameter_list:
            if parameter.name not in self._parameters:
                raise ParameterNotDeclaredException(parameter.name)
            descriptor = self._descriptors[parameter.name]
            result = self._accept(parameter, descriptor, declaring=False)
            if result.successful:
                self._store(parameter, descriptor)
            results.append(result)
        return results

    def add_on_set_parameters_callback(self, callback: Callable) -> None:
        self._on_set_callbacks.insert(0, callback)  # newest first

    def remove_on_set_parameters_callback(self, callback: Callable) -> None:
        self._on_set_callbacks.remove(callback)

    def _store(self, parameter: Parameter, descriptor: ParameterDescriptor) -> None:
        self._parameters[parameter.name] = parameter
        self._descriptors[parameter.name] = descriptor
        if parameter.name == "use_sim_time":
            self._clock._set_ros_time_is_active(parameter.value)

    def _accept(self, parameter: Parameter, descriptor: ParameterDescriptor, declaring: bool) -> Any:
        def refuse(reason: str) -> Any:
            return SetParametersResult(successful=False, reason=reason)

        declared = Parameter.Type(descriptor.type)
        if not descriptor.dynamic_typing and parameter.type_ != declared and (
                declaring or parameter.type_ != Parameter.Type.NOT_SET):
            return refuse(f"Wrong parameter type, parameter {{{parameter.name}}} is of type {{{declared.name}}}, "
                          f"setting it to {{{parameter.type_.name}}} is not allowed.")
        if descriptor.read_only and not declaring:
            return refuse(f"Trying to set a read-only parameter: {parameter.name}.")
        value = parameter.value
        for ranges, kind in ((descriptor.integer_range, int), (descriptor.floating_point_range, float)):
            if ranges and isinstance(value, kind) and not isinstance(value, bool):
                low, high, step = ranges[0].from_value, ranges[0].to_value, ranges[0].step
                tolerance = self.PARAM_REL_TOL * max(abs(low), abs(high), 1.0) if kind is float else 0
                if not low - tolerance <= value <= high + tolerance:
                    return refuse(f"Parameter {parameter.name} out of range. Min: {low}, Max: {high}, "
                                  f"value: {value}")
                if step and value != high and not math.isclose((value - low) / step,
                                                               round((value - low) / step)):
                    return refuse(f"The parameter value ({value}) is not close enough to a valid step.")
        for callback in self._on_set_callbacks:
            result = callback([parameter])
            if not result.successful:  # a callback returning None fails here, as in rclpy
                return result
        return SetParametersResult(successful=True, reason="")
