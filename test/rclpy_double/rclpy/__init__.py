"""rclpy test double: init / ok / shutdown / try_shutdown on the default context (see ../__init__.py)."""

from __future__ import annotations

from rclpy.context import Context

_default_context = Context()


def get_default_context() -> Context:
    return _default_context


def init(*, args=None, context=None, domain_id=None, signal_handler_options=None) -> None:
    (context or _default_context).init(args)


def ok(*, context=None) -> bool:
    return (context or _default_context).ok()


def shutdown(*, context=None, uninstall_handlers=None) -> None:
    (context or _default_context).shutdown()


def try_shutdown(*, context=None) -> None:
    context = context or _default_context
    if context.ok():
        context.shutdown()
