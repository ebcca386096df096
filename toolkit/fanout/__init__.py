"""Fan-out: bounded concurrency, deadlines and retries across hosts."""
