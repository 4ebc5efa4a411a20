"""The error a setting a person chose can cause, in a module that imports nothing of the package."""


class ConfigError(ValueError):
    """A setting has a value that cannot work; the message says which and what to do."""
