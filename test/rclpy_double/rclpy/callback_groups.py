"""rclpy.callback_groups test double (the double runs callbacks one at a time, so groups only label)."""


class CallbackGroup:
    pass


class MutuallyExclusiveCallbackGroup(CallbackGroup):
    pass


class ReentrantCallbackGroup(CallbackGroup):
    pass
