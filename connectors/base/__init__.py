"""What every connector shares: the error taxonomy, retry policy and emulator server plumbing."""
