"""The sandbox of isolated grading: the kernel entry point and its audit-hook policy."""
