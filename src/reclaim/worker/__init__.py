"""The outbox worker: turns outbox rows into deliveries, sends them, and runs scheduled jobs."""
