"""One module per command: the work behind it, callable from Python too."""
