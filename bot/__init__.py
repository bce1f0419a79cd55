"""frontdesk: the IT help desk's chat-ops colleague."""

__version__ = "0.1.0"
