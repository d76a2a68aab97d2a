"""Destinations: the writer protocol, the plugin registry, and one package per vendor."""
