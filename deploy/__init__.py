"""Starting the system: the embedded development stack and service processes."""
