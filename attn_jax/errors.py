"""The one exception type for problems a user can fix (bad input, missing or corrupted model)."""


class AttnJaxError(Exception):
    """A problem with the user's input or installation.

    The message is one line that says what is wrong and how to fix it; the command line prints it
    as is, without a traceback.
    """
