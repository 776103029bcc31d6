"""Time-based work: the market calendar, key-date reminders and the one scheduler (APScheduler) that runs the jobs."""
