"""Payment, chat, call-session and account records: where the context stage's data comes
from. `model` holds the typed records every part shares; the parsers of each file format
(CSV, JSON Lines, ISO 20022, SWIFT MT103, chat exports) yield them.
"""
