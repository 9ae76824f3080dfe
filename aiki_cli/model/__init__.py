"""What is stored and read back: journal entries, the run's start record and the view of
it, statuses and their transitions, what a parked run waits for, and schedules."""
