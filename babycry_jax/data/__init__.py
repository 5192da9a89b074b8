"""The data contract: what a record is and how raw media becomes one.

The record schema and every key, storage (local paths and gs://), the one
TFRecord codec, media decoding and the features. Preprocessing, training,
evaluation and detection all import this floor; it imports nothing of theirs.
"""
