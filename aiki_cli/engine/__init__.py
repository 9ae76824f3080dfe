"""The engine: executing one claimed run, its status transitions, and the commands that
change a run from outside (cancel, pause, resume, wake, retry, send)."""
