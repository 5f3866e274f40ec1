"""Request and prediction lines of batch embedding jobs, and the readers of prediction files."""
