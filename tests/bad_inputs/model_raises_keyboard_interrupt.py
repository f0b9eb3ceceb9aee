"""KeyboardInterrupt raised by the model's own code (not a Ctrl-C)."""
raise KeyboardInterrupt
