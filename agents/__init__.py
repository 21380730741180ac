"""Source, stream and sink agents. Which agent reads and writes which topic: stream/topology.py."""
