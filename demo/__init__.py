"""`make demo`: a live page that shows delegation while it happens, under load and faults."""
