"""External blob stores: content bytes outside the record database.

One module per store (:mod:`.filesystem`, :mod:`.s3`), each opened by URL
through :func:`treeframe.storage.registry.open_blob_store`. Every stored
object is self-describing (:mod:`.objects`: a magic header naming the codec
that packed it), so a store written under one codec stays readable after
the default changes and a copied bucket or directory needs no side table.
"""
