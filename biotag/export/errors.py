"""The one error type the exporter raises for problems the user can fix."""


class ExportError(Exception):
    """A problem with the input or a failed check, explained in one line for the user."""
