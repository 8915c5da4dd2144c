"""Indexes: the store protocol, where an index lives, embeddings, records, adding and removing documents."""
