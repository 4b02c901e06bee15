"""The project's own error: a problem with the user's input, files or machine, whose message
is one line that names the file (or option) and the problem.

Everything a user can cause (a bad image, a torn checkpoint, a crafted archive, an option
out of range, a backend this machine lacks) raises P2PError or a subclass; the CLI's one
error boundary (`p2p_cupy.cli.main`) prints such errors as one line without a traceback.
Anything else escaping is a bug in the project and keeps its traceback.
"""


class P2PError(Exception):
    """A user-facing failure; str(error) is the whole message, one line."""
