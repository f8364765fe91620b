"""Fake external services for tests (model servers), real HTTP on 127.0.0.1."""
