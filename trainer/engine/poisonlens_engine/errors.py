"""The one error type for the caller's mistakes: `main` prints it as one line and exits 2."""


class EngineError(Exception):
    def __init__(self, message: str, code: str = "bad_input"):
        super().__init__(message)
        self.code = code
