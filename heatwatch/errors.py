"""Errors the command line turns into one clear line and a non-zero exit."""


class UserError(Exception):
    """A mistake the operator can fix; printed as one line."""
