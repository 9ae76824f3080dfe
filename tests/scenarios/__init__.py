"""Scenario tier: the example workflows of `workflows/`, driven end to end in-process."""
