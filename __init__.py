"""ablab: an ablation lab for recurrent and deep networks, in numpy with exact BPTT."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("ablab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
