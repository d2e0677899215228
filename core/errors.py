"""A small error hierarchy; every message says what the user should change."""


class AblabError(Exception):
    """Base class of every error ablab raises on purpose."""


class ConfigError(AblabError, ValueError):
    """A configuration value is missing, unknown or out of range."""


class PluginError(AblabError):
    """A plugin could not be loaded or registered."""


class UnknownPluginError(AblabError, KeyError):
    """A (kind, name) lookup found nothing; the message lists the available names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
