"""rclpy.exceptions test double (the ones the double raises)."""

from __future__ import annotations


class NotInitializedException(Exception):
    def __init__(self, *args):
        super().__init__("rclpy.init() has not been called", *args)


class InvalidNodeNameException(ValueError):
    pass


class InvalidNamespaceException(ValueError):
    pass


class ParameterException(Exception):
    def __init__(self, error_msg, parameters, *args):
        super().__init__(f"{error_msg}: {parameters}", *args)


class ParameterNotDeclaredException(ParameterException):
    def __init__(self, parameters, *args):
        super().__init__("Invalid access to undeclared parameter(s)", parameters, *args)


class ParameterAlreadyDeclaredException(ParameterException):
    def __init__(self, parameters, *args):
        super().__init__("Parameter(s) already declared", parameters, *args)


class InvalidParameterTypeException(ParameterException):
    def __init__(self, desired_parameter, expected_type, *args):
        super().__init__(f"Trying to set parameter '{desired_parameter.name}' to '{desired_parameter.value}' of "
                         f"type '{desired_parameter.type_.name}', expecting type '{expected_type}'",
                         desired_parameter.name, *args)


class InvalidParameterValueException(ParameterException):
    def __init__(self, parameter, value, reason, *args):
        super().__init__(f"Invalid parameter value ({value}) for parameter. Reason: {reason}", parameter, *args)


class ParameterUninitializedException(ParameterException):
    def __init__(self, parameter_name, *args):
        super().__init__(f"The parameter '{parameter_name}' is not initialized", parameter_name, *args)
