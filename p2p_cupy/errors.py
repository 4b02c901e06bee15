"""The project's own error: a problem with the user's input, files or machine, whose message
is one line that names the file (or option) and the problem.

Everything a user can cause (a bad image, a torn checkpoint, a crafted archive, an option
out of range, a backend this machine lacks) raises P2PError or a subclass; the CLI's one
error boundary (`p2p_cupy.cli.main`) prints such errors as one line without a traceback.
Anything else escaping is a bug in the project and keeps its traceback.
"""


class P2PError(Exception):
    """A user-facing failure; str(error) is the whole message, one line."""


def describe_error(error: BaseException) -> str:
    """One line for a user-facing failure: an OSError names its file and the system's
    reason ("cannot write runs/x/latest.npz: No space left on device")."""
    if isinstance(error, OSError) and error.strerror:
        where = " -> ".join(str(f) for f in (error.filename, error.filename2) if f)
        return f"{where}: {error.strerror}" if where else error.strerror
    if isinstance(error, MemoryError):
        return f"out of memory{': ' + str(error) if str(error) else ''}"
    text = str(error) or type(error).__name__
    return " ".join(text.split())   # one line, whatever the message held


def some_of(names, shown: int = 4) -> str:
    """A list of names short enough for a one-line message: the first few and how many."""
    names = [str(n) for n in names]
    if len(names) <= shown:
        return ", ".join(names) or "none"
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"
