"""The ``treeframe`` command line: thin commands over the library."""
