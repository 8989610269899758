"""release-bot: announces releases of projects that ship through release channels."""

__version__ = "0.1.0"
