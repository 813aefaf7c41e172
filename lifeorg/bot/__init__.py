"""The thin Telegram bot process: checks the allowlist and enqueues updates."""
