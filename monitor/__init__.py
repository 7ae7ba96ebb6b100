"""newsmonitor: watch news sources and alert a team when a prisoner-swap or diplomacy story breaks."""

__version__ = "0.1.0"
