"""The Faust application, settings, topics, topology and the embedded broker launcher."""
