"""The local batch backend: Vertex's job lifecycle on this machine, with a real local model."""
