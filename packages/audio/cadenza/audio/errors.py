"""cadenza.audio's exceptions."""

from cadenza.core.errors import CadenzaError


class AudioDecodeError(CadenzaError, ValueError):
    """Bytes or a file could not be decoded as audio; names the source and the reason."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"cannot decode audio from {source}: {reason}")
        self.source = source
        self.reason = reason
