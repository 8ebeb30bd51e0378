"""The one exception of the C extension the double needs."""


class RCLError(RuntimeError):
    pass
