"""Answering: retrieve passages from the index, prompt an LLM, cite, refuse, evaluate.

Imports ``ingest`` (for data types and the index reader), never ``ui``.
"""
