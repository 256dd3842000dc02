"""Exceptions that the CLI turns into a one-line message and exit status 1."""


class NeurosortError(Exception):
    """Base class for errors caused by input, configuration or environment, not by a bug."""


class InputError(NeurosortError):
    """A recording, ground-truth, model or policy file is missing, unreadable or invalid."""
