"""The `nohaven` command line: one module per command group, every command with --json."""
