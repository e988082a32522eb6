"""Ingestion: turn the documents in ``corpus/`` (and cited papers) into an on-disk index.

Data flows one way: load -> clean -> chunk -> embed -> write the index. Nothing here
imports ``rag`` or ``ui``.
"""
