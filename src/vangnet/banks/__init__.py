"""Hash lists (banks): their content and signals, categories, formats, imports.

- `bank` and `contents`: banks and their content items (create, read, change, delete);
  `views` what they return, `validation` what they accept.
- `changes`: the index change log every change to what is matchable appends to;
  `matchable`: what the indexes read.
- `records`: import and export of format records (`formats`) in the caller's transaction.
- `imports`: the staged import (`staging`, `publish`, `discard`, `pending`), which holds
  the write lock only briefly.
- `bulk`: the bulk SQL that differs between SQLite and PostgreSQL.

Functions take a `Session` (or, for staged imports, an `Engine`) first and keyword
arguments after; with a session, the caller owns the transaction (nothing commits).
"""
