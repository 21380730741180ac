"""One sub-package per external system: client, errors, emulator, settings."""
