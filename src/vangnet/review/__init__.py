"""Cases: what reviewers decide on. Intake of matches and alerts, priority, decisions."""
