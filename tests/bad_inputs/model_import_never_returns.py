"""An import that never returns."""
while True:
    pass
