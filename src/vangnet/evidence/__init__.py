"""Evidence: the media a case holds, sealed in the vault, read back, revealed, and its chain
of custody.

- `sealing`: encrypt bytes into the vault (`vangnet.store.vault` is the storage primitive)
  under the context that binds them to their record, and write the ``evidence_items`` row
  with its hashes and its ``captured`` custody entry.
- `frames`: the frames of a live alert (matched frames and the samples around them).
- `reading`: decrypt an item (checking its SHA-256, custody ``accessed``); an alert's items.
- `reveal`: show an item in the clear to one person (audited ``media.reveal``, custody).
- `custody`: the one function that writes a chain-of-custody entry.
- `hashes`: an item's hashes of every signal type (columns and typed rows).
- `previews`: blurred, greyscale thumbnails of held media (and the clear picture of a
  reveal), made in memory for the review pages and the case reports.

Suspect media never reaches the disk unencrypted: bytes are sealed before the transaction
that records them, and a sealed file no row points at is removed again.
"""
