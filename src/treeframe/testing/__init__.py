"""Test support shipped with treeframe: the storage conformance suite and its builders.

Only test runs import this package (it needs pytest and hypothesis, the
``testing`` extra); nothing else in treeframe imports it.
"""
