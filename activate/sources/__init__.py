"""Warehouse readers behind one protocol: a query in, Arrow record batches out."""
