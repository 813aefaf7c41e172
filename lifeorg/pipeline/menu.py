"""The bot's command menu: plain data, so the thin bot process can import it."""

# For setMyCommands: (name, description) in the order Telegram's menu shows them.
COMMANDS: list[tuple[str, str]] = [
    ("start", "Set up: choose your time zone"),
    ("help", "What I do, and the commands"),
    ("tasks", "Your open tasks"),
    ("reminders", "Your coming reminders"),
    ("events", "Your upcoming events"),
    ("pinned", "Your pinned notes"),
    ("search", "Search what you saved"),
    ("tags", "Your tags; /tags merge OLD NEW"),
    ("settings", "Time zone, default time, quiet hours"),
    ("undo", "Undo your last change"),
    ("export", "All your data, as a zip file"),
    ("forget", "Delete all your data (asks first)"),
]
