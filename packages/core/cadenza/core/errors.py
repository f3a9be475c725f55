"""cadenza.core's exceptions: one base class, specific errors subclass what they resemble."""


class CadenzaError(Exception):
    """Base class of every error Cadenza raises on purpose."""


class MessageDecodeError(CadenzaError, ValueError):
    """Bytes received as a message could not be decoded; says what arrived and why."""


class NotAnUploadEvent(MessageDecodeError):
    """A storage notification that is not an object upload (e.g. a delete)."""


class ConfigError(CadenzaError, ValueError):
    """A job config is invalid; the message starts with the file and the dotted key."""


class DagError(CadenzaError, ValueError):
    """The jobs do not form a valid DAG (cycle, missing upstream, mismatched data)."""
