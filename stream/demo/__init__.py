"""`paystream demo`: the whole pipeline on the embedded broker and the emulators."""
