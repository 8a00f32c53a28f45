"""Problems a user can fix (bad input, missing or corrupted model), and how a command reports them.

:class:`AttnJaxError` is the one exception type for them. The project's commands
(``python -m attn_jax``, ``python -m build_scripts.view``) parse with :class:`ArgumentParser` and
run their work through :func:`run_command`, so each problem ends the program with one line on
stderr and status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class AttnJaxError(Exception):
    """A problem with the user's input or installation.

    The message is one line that says what is wrong and how to fix it; the command line prints it
    as is, without a traceback.
    """


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with the fix: ``error: ...; see `PROG --help```, status 2."""

    def error(self, message):
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def run_command(work: Callable[[], None]) -> int:
    """Run a command's ``work``; return its exit status.

    0 when it finishes; 2 with one line on stderr for an :class:`AttnJaxError` or a file that
    cannot be written (``OSError``); 130 when interrupted. Commands write their outputs atomically,
    so a failure leaves nothing half-written.
    """
    try:
        work()
    except AttnJaxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write: {e.strerror} ({e.filename}); choose another path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0
