"""What every interface writes to the audit log: each mutating HTTP route (POST, PUT, PATCH,
DELETE) and each CLI command, mapped to the audit action it records, or to the reason it
records none (it changes nothing that is not audited elsewhere).

`tests/security/test_audit_accountability.py` enumerates the app's route table and the
Typer app and fails when a route or command is missing here (or listed but gone), so a new
way to change state cannot be added without deciding what it audits.
"""

from __future__ import annotations

import enum
from typing import Literal


class Exempt(enum.StrEnum):
    """Why an interface writes no audit entry of its own."""

    READ_ONLY = "reads only: computes or shows an answer, changes nothing stored"
    SAMPLES = (
        "live sample ingestion: counted per stream (samples, matches, dropped); the stream's "
        "start and stop are audited, and alerts are records with evidence and custody"
    )
    PROCESS = (
        "runs a long-lived process: the changes it makes are audited where they are made "
        "(settings at start as config.change, streams it starts as stream.start)"
    )
    LOCAL = "local tool: changes nothing in the database"
    COUNTS = (
        "aggregate counts only: the day's count for the matched term list and the language "
        "goes up; no query, caller or time of day is kept (docs/deterrence.md)"
    )
    HALF_SIGN_IN = (
        "leaves a half-way sign-in (password given, second factor not): only that half-way "
        "session ends; the failed and completed sign-ins are audited"
    )


Method = Literal["POST", "PUT", "PATCH", "DELETE"]

# (method, path) -> the audit action written, or why none.
ROUTES: dict[tuple[Method, str], str | Exempt] = {
    ("POST", "/v1/deterrence/check"): Exempt.COUNTS,
    # OpenMediaMatch-compatible routes
    ("POST", "/h/hash"): Exempt.READ_ONLY,
    ("POST", "/m/lookup"): Exempt.READ_ONLY,
    ("POST", "/c/banks"): "bank.create",
    ("PUT", "/c/bank/{bank_name}"): "bank.update",
    ("DELETE", "/c/bank/{bank_name}"): "bank.delete",
    ("POST", "/c/bank/{bank_name}/content"): "bank.add",
    ("DELETE", "/c/bank/{bank_name}/content/{content_id}"): "content.delete",
    ("POST", "/c/bank/{bank_name}/signal"): "bank.add",
    # native API
    ("POST", "/v1/hash"): Exempt.READ_ONLY,
    ("POST", "/v1/classify"): Exempt.READ_ONLY,
    ("POST", "/v1/match"): "case.intake",
    ("POST", "/v1/lookup"): Exempt.READ_ONLY,
    ("POST", "/v1/lookup/batch"): Exempt.READ_ONLY,
    ("POST", "/v1/banks"): "bank.create",
    ("PATCH", "/v1/banks/{name}"): "bank.update",
    ("DELETE", "/v1/banks/{name}"): "bank.delete",
    ("POST", "/v1/banks/{name}/hashes"): "bank.add",
    ("DELETE", "/v1/banks/{name}/content/{content_id}"): "content.delete",
    ("POST", "/v1/context/{kind}/import"): "context.import",
    ("POST", "/v1/streams"): "stream.start",
    ("POST", "/v1/streams/{stream_id}/stop"): "stream.stop",
    ("POST", "/v1/streams/{stream_id}/frames"): Exempt.SAMPLES,
    ("POST", "/v1/streams/{stream_id}/hashes"): Exempt.SAMPLES,
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): "alert.acknowledge",
    ("POST", "/v1/webhooks/{delivery_id}/retry"): "webhook.retry",
    ("POST", "/v1/cases/{case_id}/decisions"): "case.",
    ("POST", "/v1/cases/{case_id}/decisions/preview"): Exempt.READ_ONLY,
    ("POST", "/v1/cases/{case_id}/decisions/undo"): "case.undo",
    ("POST", "/v1/cases/{case_id}/reports"): "report.",
    ("POST", "/v1/context/assess"): "context.assess",
    # web UI
    ("POST", "/ui/login"): "login",
    ("POST", "/ui/login/code"): "login",
    ("POST", "/ui/login/cancel"): Exempt.HALF_SIGN_IN,
    ("POST", "/ui/totp"): "user.totp.",
    ("POST", "/ui/logout"): "logout",
    ("POST", "/ui/settings"): "user.preferences",
    ("POST", "/ui/break"): "wellness.break",
    ("POST", "/ui/items/{item_id}/reveal"): "media.reveal",
    ("POST", "/ui/cases/{case_id}/decide"): "case.",
    ("POST", "/ui/cases/{case_id}/undo"): "case.undo",
    ("POST", "/ui/cases/{case_id}/context/reveal"): "context.message.reveal",
    ("POST", "/ui/cases/{case_id}/ncmec"): "report.ncmec.build",
    ("POST", "/ui/cases/{case_id}/ncmec/submit"): "report.ncmec.",
    ("POST", "/ui/reports/{report_id}/settle"): "report.ncmec.settle",
    ("POST", "/ui/cases/{case_id}/document"): "report.",
    ("POST", "/ui/cases/{case_id}/vics"): "report.vics",
    ("POST", "/ui/banks/content/{content_id}/enabled"): "content.",
    ("POST", "/ui/webhooks/{delivery_id}/retry"): "webhook.retry",
    ("POST", "/ui/audit/verify"): "audit.verify",
    ("POST", "/ui/audit/export"): "audit.export",
    ("POST", "/ui/users"): "user.create",
    ("POST", "/ui/users/{username}/disabled"): "user.",
    ("POST", "/ui/users/{username}/role"): "user.role",
    ("POST", "/ui/users/{username}/password"): "user.password",
    ("POST", "/ui/keys"): "key.create",
    ("POST", "/ui/keys/{key_id}/revoke"): "key.revoke",
    ("POST", "/ui/investigations/items/{item_id}/reveal"): "media.reveal",
    ("POST", "/ui/investigations/{case_id}/categorise"): "triage_item.categorise",
}

# CLI command ("group command") -> the audit action written, or why none.
COMMANDS: dict[str, str | Exempt] = {
    "hash": Exempt.READ_ONLY,
    "match": Exempt.READ_ONLY,
    "classify": Exempt.READ_ONLY,
    "serve": Exempt.PROCESS,
    "demo": Exempt.PROCESS,
    "plugins": Exempt.READ_ONLY,
    "watch": "stream.start",
    "triage": "triage.run",
    "worker": Exempt.PROCESS,
    "version": Exempt.READ_ONLY,
    "streams start": "stream.start",
    "streams list": Exempt.READ_ONLY,
    "streams show": Exempt.READ_ONLY,
    "streams stop": "stream.stop",
    "alerts list": Exempt.READ_ONLY,
    "alerts show": Exempt.READ_ONLY,
    "alerts ack": "alert.acknowledge",
    "webhooks listen": Exempt.LOCAL,
    "webhooks dead": Exempt.READ_ONLY,
    "webhooks retry": "webhook.retry",
    "bank create": "bank.create",
    "bank list": Exempt.READ_ONLY,
    "bank show": Exempt.READ_ONLY,
    "bank update": "bank.update",
    "bank disable": "bank.disable",
    "bank enable": "bank.enable",
    "bank delete": "bank.delete",
    "bank import": "bank.import",
    "bank export": Exempt.READ_ONLY,
    "bank add": "bank.add",
    "bank rehash": "bank.rehash",
    "key create": "key.create",
    "key list": Exempt.READ_ONLY,
    "key revoke": "key.revoke",
    "db upgrade": "db.upgrade",
    "db current": Exempt.READ_ONLY,
    "config show": Exempt.READ_ONLY,
    "user create": "user.create",
    "user list": Exempt.READ_ONLY,
    "user disable": "user.disable",
    "user enable": "user.enable",
    "user totp-reset": "user.totp.reset",
    "case list": Exempt.READ_ONLY,
    "case show": "case.view",
    "case decide": "case.",
    "case undo": "case.undo",
    "case export": "case.export.",
    "report ncmec": "report.ncmec.",
    "report settle": "report.ncmec.settle",
    "report vics": "report.vics",
    "report html": "report.html",
    "report pdf": "report.pdf",
    "report render": "report.",
    "report formats": Exempt.READ_ONLY,
    "audit verify": Exempt.READ_ONLY,
    "audit export": "audit.export",
    "audit list": Exempt.READ_ONLY,
    "classifiers evaluate": "classifier.calibrate",
    "classifiers calibration": "classifier.calibration.clear",
    "context chats train": Exempt.LOCAL,
    "context chats evaluate": Exempt.LOCAL,
    "context chats scan": Exempt.LOCAL,
    "deterrence check": Exempt.LOCAL,
    "deterrence stats": Exempt.READ_ONLY,
    "context assess": "context.assess",
    "context accounts": "context.accounts.list",
    "context account": "context.account.view",
    "context graph": "context.graph.view",
    "context import": "context.import",
    "context scan": "context.scan",
    "context generate": Exempt.LOCAL,
    "context imports": Exempt.READ_ONLY,
}
