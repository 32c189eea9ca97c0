"""Exception types. Every error a user can cause derives from LamigoError; the CLI prints its
message on one line and exits with status 2."""


class LamigoError(Exception):
    """Base class of all errors caused by bad input, configuration or missing files."""


class MessageError(LamigoError):
    """A GO message is malformed, truncated, of an unknown version or inconsistent."""


class ConfigError(LamigoError):
    """An unknown policy, coder or model name, or parameters out of range."""


class WeightsError(LamigoError):
    """A checkpoint is missing, or its keys or shapes differ from the architecture."""


class WeightsFolderError(WeightsError, ConfigError):
    """A model set's weights folder is not given or not there: files missing (a WeightsError)
    that an option or setting points to (a ConfigError)."""


class RunError(LamigoError):
    """Something that was set up right failed while running: a service that did not start or
    answer in time, a message lost on the link, a process that exited with an error."""


class PacketError(LamigoError):
    """A link-layer packet is malformed, truncated or fails its CRC."""


class MessageIdError(MessageError):
    """A message id is not what the packet format carries: an unsigned 16-bit integer."""


class Cancelled(Exception):
    """Work stopped because its caller asked it to (a service shutting down), not because of
    bad input: it is no LamigoError."""
