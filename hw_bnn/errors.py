"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class HwBnnError(Exception):
    """A user-facing error.  The message names the file, node or layer and what was expected."""


class CompileError(HwBnnError):
    """The compiler cannot turn a graph into the exact integer form."""


class VerifyError(HwBnnError):
    """Verification inputs are not what the model expects."""
