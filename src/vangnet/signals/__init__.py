"""Signal types (hashes): the plug-in interface, registry and built-ins."""
