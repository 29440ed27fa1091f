"""Errors a user can act on. Every message names the file, column or key, and the fix."""


class LeadscoreError(Exception):
    """Base of every error the command line reports as a one-paragraph message (exit code 1)."""


class SpecError(LeadscoreError, ValueError):
    """A dataset spec that cannot be used."""


class DataError(LeadscoreError, ValueError):
    """Input data that cannot be read or does not match its spec."""
