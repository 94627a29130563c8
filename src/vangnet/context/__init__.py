"""Context signals of paid live-streamed abuse: payments, chats and call records.

The pipeline's ``context`` stage. Payment, chat, call-session and account records come in
through `vangnet.sources.records` (parsers of the file formats) and `vangnet.context.ingest`
(validated, idempotent, all-or-nothing imports into the ``context_*`` tables); indicators turn
them into explainable reasons (`vangnet.context.findings`); the account graph links viewers,
facilitators, devices, handles and streams; what crosses a threshold is filed into the same
review queue as media matches and live alerts (`vangnet.cases.intake`, source ``context``).

The typed records every part shares are `vangnet.sources.records.model`; `stored` turns
table rows into them.
"""
