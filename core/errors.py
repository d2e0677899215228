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


def did_you_mean(word: object, choices) -> str:
    """' (did you mean 'hidden'?)' for a near miss among choices, else '': put right after the
    unknown word, so a message cut to one line still carries it."""
    import difflib

    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""
