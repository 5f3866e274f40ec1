"""Batch backends: where batch embedding jobs run (this machine, or Vertex AI)."""
