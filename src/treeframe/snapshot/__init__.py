"""Snapshots: export a workspace at a root to an archive, verify it standalone, import it anywhere.

``format`` names the entries and limits, ``tar`` and ``streams`` are the
container (canonical ustar, whole-stream compression, a strict reader),
``export`` writes an archive from a store snapshot, ``verify`` checks one
with no store, ``importer`` loads a verified one into any backend and
``signing`` holds the ed25519 keys and signatures. docs/SCHEMAS.md §15 is
the format; docs/CLI.md the commands.
"""
