"""The small values everything else is made of: run ids, names and versions, durations,
JSON values and their content address, and the clock that says what time it is."""
