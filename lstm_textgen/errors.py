"""Errors a user can act on. The CLI prints their message on one line; anything else is a bug."""


class LstmTextgenError(Exception):
    """Base class: the message alone tells the user what went wrong and where."""


class DataError(LstmTextgenError):
    """A headline file could not be read or held no usable headlines."""


class CheckpointError(LstmTextgenError):
    """A checkpoint could not be found, read, saved or trusted."""
