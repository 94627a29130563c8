"""ISO 20022 pacs.008 / pain.001 XML and SWIFT MT103 text as payments: fields, countries,
refs, times; malformed messages reported; XML bombs and external entities refused."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from context import samples
from vangnet.sources.records.base import Parsed, ParseOptions, Row, RowError
from vangnet.sources.records.conformance import FormatCases, check_record_format
from vangnet.sources.records.iso20022 import Pacs008Format, Pain001Format
from vangnet.sources.records.model import Channel, Payment
from vangnet.sources.records.model import RecordKind as K
from vangnet.sources.records.mt103 import Mt103Format

MANILA = ZoneInfo("Asia/Manila")


def parse(
    fmt: Pacs008Format | Pain001Format | Mt103Format, data: bytes, **opts: object
) -> list[Parsed]:
    return list(fmt.parse(io.BytesIO(data), kind=K.PAYMENTS, options=ParseOptions(**opts)))  # type: ignore[arg-type]


def payments(items: list[Parsed]) -> list[Payment]:
    out = [p.record for p in items if isinstance(p, Row)]
    assert all(isinstance(p, Payment) for p in out)
    return out  # type: ignore[return-value]


def errors(items: list[Parsed]) -> list[tuple[int, str]]:
    return [(p.line, p.reason) for p in items if isinstance(p, RowError)]


def test_the_bank_formats_pass_the_conformance_kit() -> None:
    broken_xml = samples.PACS008.replace(b"</FIToFICstmrCdtTrf>", b"")
    check_record_format(
        Pacs008Format,
        FormatCases(
            kind=K.PAYMENTS,
            good=samples.PACS008,
            rows=2,
            bad=[broken_xml, samples.PAIN001, b"<a/>"],
        ),
    )
    check_record_format(
        Pain001Format,
        FormatCases(
            kind=K.PAYMENTS,
            good=samples.PAIN001,
            rows=2,
            bad=[samples.PACS008],
            options=ParseOptions(timezone=MANILA),
        ),
    )
    check_record_format(
        Mt103Format,
        FormatCases(
            kind=K.PAYMENTS, good=samples.MT103, rows=2, bad=[samples.MT103[:200], b":20:X\n"]
        ),
    )


def test_pacs008_one_payment_per_transaction() -> None:
    first, second = payments(parse(Pacs008Format(), samples.PACS008))
    assert first == Payment(
        ref="MSG-2026-11-03-1/E2E-1",
        at=datetime(2026, 11, 3, 22, 15, tzinfo=UTC),  # settlement date at CreDtTm's time
        sender="NL91ABNA0417164300",
        beneficiary="0012345678",
        amount=Decimal("25.00"),
        currency="EUR",
        channel=Channel.WIRE,
        sender_country="NL",  # IBAN prefix
        beneficiary_country="PH",  # creditor agent's BIC
        narrative="school uniform",
        details={
            "format": "pacs008",
            "msg_id": "MSG-2026-11-03-1",
            "end_to_end_id": "E2E-1",
            "debtor_name": "J. Example",
            "creditor_name": "M. Example",
            "debtor_bic": "ABNANL2A",
            "creditor_bic": "BOPIPHMM",
        },
    )
    assert second.ref == "MSG-2026-11-03-1/TX-2"  # NOTPROVIDED end-to-end id: the TxId
    assert (second.sender, second.beneficiary) == ("K. Example", "R. Example")  # names
    assert (second.sender_country, second.beneficiary_country) == ("DE", "PH")  # address, BIC
    assert second.at == datetime(2026, 11, 4, 22, 15, tzinfo=UTC)
    assert (second.amount, second.currency, second.narrative) == (
        Decimal("40"),
        "USD",
        "family support",
    )


def test_pain001_takes_the_debtor_of_its_payment_information() -> None:
    first, second = payments(parse(Pain001Format(), samples.PAIN001, timezone=MANILA))
    assert first.ref == "PAIN-1/PE-1"
    assert first.sender == second.sender == "NL91ABNA0417164300"
    assert first.sender_country == "NL" and first.beneficiary_country == "PH"
    assert second.beneficiary == "R. Example" and second.beneficiary_country == "PH"
    # requested execution date at CreDtTm's time of day, read in the given zone
    assert first.at == datetime(2026, 11, 4, 18, 10, tzinfo=UTC)
    assert first.amount == Decimal("15.00") and first.narrative == "medical bills"
    # CreDtTm without an offset and no time zone: every transaction is a bad row
    found = errors(parse(Pain001Format(), samples.PAIN001))
    assert len(found) == 2 and "has no offset" in found[0][1]


def test_iso20022_bad_transactions_and_wrong_messages() -> None:
    bad = samples.PACS008.replace(
        b'<IntrBkSttlmAmt Ccy="USD">40</IntrBkSttlmAmt>',
        b'<IntrBkSttlmAmt Ccy="US">4,0</IntrBkSttlmAmt>',
    )
    items = parse(Pacs008Format(), bad)
    assert len(payments(items)) == 1
    ((line, reason),) = errors(items)
    assert line == 23 and reason.startswith("transaction 2: amount")
    assert errors(parse(Pacs008Format(), samples.PAIN001)) == [
        (2, "this is a pain.001.001.03 document, not pacs.008.001.xx (pacs008)")
    ]
    other = b'<Document xmlns="urn:example:not-iso"><x/></Document>'
    assert "not an ISO 20022 document" in errors(parse(Pacs008Format(), other))[0][1]
    truncated = parse(Pacs008Format(), samples.PACS008[:900])
    assert errors(truncated)[-1][1].startswith("malformed XML")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>
<GrpHdr><MsgId>&f;</MsgId><CreDtTm>2026-11-03T23:15:00Z</CreDtTm></GrpHdr>
<CdtTrfTxInf><PmtId><EndToEndId>&f;</EndToEndId></PmtId></CdtTrfTxInf>
</FIToFICstmrCdtTrf></Document>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"><FIToFICstmrCdtTrf>
<GrpHdr><MsgId>&secret;</MsgId></GrpHdr></FIToFICstmrCdtTrf></Document>
"""
NETWORK_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"/>
"""


def test_xml_bombs_and_entities_are_refused_without_expanding_them() -> None:
    for hostile in (BILLION_LAUGHS, EXTERNAL_ENTITY, NETWORK_DTD):
        started = time.monotonic()
        items = parse(Pacs008Format(), hostile)
        assert time.monotonic() - started < 2  # nothing was expanded (a bound, not a timing)
        assert payments(items) == []
        ((_, reason),) = errors(items)
        assert "DTD is not allowed" in reason
        assert "root:" not in reason


def test_mt103_messages_as_payments() -> None:
    first, second = payments(
        parse(Mt103Format(), samples.MT103, timezone=ZoneInfo("Europe/Amsterdam"))
    )
    assert first == Payment(
        ref="REF0001",
        at=datetime(2026, 11, 3, 11, 0, tzinfo=UTC),  # noon of the value date, Amsterdam
        sender="NL91ABNA0417164300",
        beneficiary="0012345678",
        amount=Decimal("25.00"),
        currency="EUR",
        channel=Channel.WIRE,
        sender_country="NL",
        beneficiary_country="PH",  # :57A: BIC
        narrative="BIRTHDAY GIFT FOR NIECE",
        details={
            "format": "mt103",
            "at_precision": "day",
            "ordering_customer": "J EXAMPLE",
            "beneficiary_customer": "M EXAMPLE",
            "beneficiary_bic": "BOPIPHMM",
            "charges": "OUR",
            "instructed_currency": "EUR",
            "instructed_amount": "25",
            "uetr": "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
        },
    )
    assert second.ref == "REF0002" and second.amount == Decimal("100")
    assert second.sender == "DE89370400440532013000" and second.sender_country == "DE"
    assert second.beneficiary == "PH0987654321" and second.beneficiary_country == "PH"  # 59A BIC
    assert second.details["ordering_customer"] == "K EXAMPLE"
    assert second.at == datetime(2026, 11, 4, 11, 0, tzinfo=UTC)
    utc = payments(parse(Mt103Format(), samples.MT103))
    assert utc[1].at == datetime(2026, 11, 4, 12, 0, tzinfo=UTC)  # no zone given: UTC noon


def test_bad_mt103_messages_are_reported_at_their_first_line() -> None:
    bad = samples.MT103.replace(b":32A:261103EUR25,00", b":32A:261399EUR25,00").replace(
        b":59A:/PH0987654321\nBNORPHMM\n", b""
    )
    found = errors(parse(Mt103Format(), bad))
    assert found == [(1, ":32A: not a date: '261399'"), (17, "no :59a: field")]
    assert errors(parse(Mt103Format(), b"hello\n")) == [
        (1, "expected an MT103 message ({1:...}{4:)")
    ]
    unended = samples.MT103.rsplit(b"-}", 1)[0]
    assert errors(parse(Mt103Format(), unended))[-1] == (17, "message not ended by '-}'")
    twice = samples.MT103.replace(b":71A:OUR", b":71A:OUR\n:20:AGAIN")
    assert errors(parse(Mt103Format(), twice))[0][1] == "field :20: twice in one message"


def test_many_payment_informations_and_transactions_are_read_in_turn() -> None:
    """A pain.001 of 300 payment informations with 5 transactions each: each transaction
    takes the debtor of its own payment information."""
    head = samples.PAIN001.split(b"<PmtInf>", 1)[0]
    block = b"<PmtInf>" + samples.PAIN001.split(b"<PmtInf>", 1)[1].split(b"</PmtInf>", 1)[0]
    tx = block.split(b"<CdtTrfTxInf>", 1)[1].split(b"</CdtTrfTxInf>", 1)[0]
    parts = [head]
    for i in range(300):
        debtor = f"NL{i:02d}ABNA{i:010d}".encode()
        info = block.split(b"<CdtTrfTxInf>", 1)[0].replace(b"NL91ABNA0417164300", debtor)
        txs = b"".join(
            b"<CdtTrfTxInf>" + tx.replace(b"PE-1", f"PE-{i}-{j}".encode()) + b"</CdtTrfTxInf>"
            for j in range(5)
        )
        parts.append(info + txs + b"</PmtInf>")
    parts.append(b"</CstmrCdtTrfInitn></Document>")
    found = payments(parse(Pain001Format(), b"".join(parts), timezone=MANILA))
    assert len(found) == 1500 and len({p.ref for p in found}) == 1500
    assert found[-1].sender == "NL299ABNA0000000299" and found[-1].ref == "PAIN-1/PE-299-4"


def test_an_undeclared_namespace_prefix_is_malformed_xml_not_a_crash() -> None:
    for old, new in (
        (b"<Document ", b"<Docu:ment "),
        (b"<IntrBkSttlmDt>", b"<Intr:BkSttlmDt>"),
    ):
        hostile = samples.PACS008.replace(old, new, 1)
        assert hostile != samples.PACS008
        items = parse(Pacs008Format(), hostile)
        assert payments(items) == []
        [(_, reason)] = errors(items)
        assert reason.startswith("malformed XML: ") and "prefix" in reason


def test_mt103_headers_without_their_block_4_are_reported() -> None:
    # a file cut off (or spliced) right after a message's headers: that message is lost
    # unless it is reported
    header = b"{1:F01ABNANL2AXXXX0000000000}{2:I103BOPIPHMMXXXXN}\n"
    cut = samples.MT103 + b"\n" + header
    last = cut.count(b"\n")
    assert errors(parse(Mt103Format(), cut)) == [(last, "MT103 headers without a block 4 ({4:)")]
    assert len(payments(parse(Mt103Format(), cut))) == 2
    spliced = header + header + samples.MT103
    assert errors(parse(Mt103Format(), spliced)) == [(1, "MT103 headers without a block 4 ({4:)")]
