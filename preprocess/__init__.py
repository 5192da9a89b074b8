"""Offline preprocessing: raw media -> aligned windows -> features -> sharded TFRecords (Apache Beam)."""
