"""Local embedding models used by the local batch backend (and the Vertex emulator)."""
