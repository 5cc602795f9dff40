"""The `oms` command line: run the system locally, demo it, inspect orders."""
