"""Context frames: immutable frames, per-node Merkle sets, heads and bounded views."""
