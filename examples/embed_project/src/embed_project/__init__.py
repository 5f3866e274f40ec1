"""An example dg project: embedding pipelines declared as components in `defs/`."""
