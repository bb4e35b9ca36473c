"""Model registry, training, inference, embeddings and the work of the ``gpu`` workers."""
