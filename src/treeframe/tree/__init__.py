"""The filesystem Merkle tree: node records, path rules, ignore rules and scanning."""
