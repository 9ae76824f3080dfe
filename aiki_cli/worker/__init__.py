"""The worker: claiming ready runs and executing them with the engine, firing due timers
and schedules."""
