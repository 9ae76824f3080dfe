"""`aiki doctor` for the file store: check every run and index, and rebuild the derived."""

from .runs import Finding, Report, examine

__all__ = ["Finding", "Report", "examine"]
