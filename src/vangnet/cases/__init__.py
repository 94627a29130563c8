"""Cases: every signal of every source lands in one, grouped by what a reviewer decides on
together.

- `intake`: the one way in: a typed `Intake` request (upload, live alert, triage; classifier
  and context signals to come) and `file_intake`, which files it into a case.
- `filing`: the grouping rule (which case a signal belongs to), the case row, its timeline.
- `ranges`: a live alert's matched frames in its case as time ranges; banked-item snapshots.
- `document`: the types of the case document (``docs/case-document.md``), the JSON every
  report format reads.

The review of a case (queue, priority, decisions, outcomes) is `vangnet.review`; its
evidence and chain of custody are `vangnet.evidence`.
"""
