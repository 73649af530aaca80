"""Getting events in (files, publishers, importers) and results out (subscribers, sinks)."""
