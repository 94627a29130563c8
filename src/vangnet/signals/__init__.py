"""Signal types (hashes): the plug-in interface, registry and built-ins; `hashing`: hash one
file or blob with every installed signal type."""
