"""Built-in token embeddings."""
