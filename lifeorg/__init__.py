"""Life Organiser: a personal organiser you talk to through a Telegram bot."""

__version__ = "0.1.0"
