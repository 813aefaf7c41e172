"""The scheduler process: decides what is due and enqueues it."""
