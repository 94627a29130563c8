"""What Vangnet does about an alert: signed webhooks to the platform (outbox + deliverer)."""
