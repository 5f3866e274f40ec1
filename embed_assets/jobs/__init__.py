"""One submission's life: plan → submit or re-attach → poll → cancel → land."""
