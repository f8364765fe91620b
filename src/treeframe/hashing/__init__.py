"""Canonical byte encodings and the hash functions over them (see docs/SCHEMAS.md)."""
