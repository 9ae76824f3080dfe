"""The authoring API: what a workflow's code calls — tasks, workflows and their versions,
the run context with its durable calls — and the replay that makes those calls durable."""
