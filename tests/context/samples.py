"""Small benign sample files of every record format, written as literals, for the parser,
import, CLI and API tests. Names, accounts and amounts are made up; the narratives are
the cover phrases public guidance lists (AUSTRAC 2022, FATF 2025), nothing explicit."""

from __future__ import annotations

import json

PAYMENTS_CSV = (
    b"ref,at,sender,beneficiary,amount,currency,channel,sender_country,beneficiary_country,"
    b"narrative,merchant_category,bank\n"
    b"p-1,2026-11-03T22:41:05+01:00,acct-nl-1,acct-ph-1,25.00,EUR,remittance,NL,PH,"
    b"school uniform,,ING\n"
    b'p-2,2026-11-04T01:10:00Z,acct-nl-1,acct-ph-2,15,eur,p2p,nl,ph,"medical bills, rent",,\n'
    b"p-3,2026-11-04T09:00:00+08:00,acct-nl-2,vpn-shop,9.99,EUR,card,NL,,,vpn,\n"
)
MESSAGES_CSV = (
    b"ref,conversation,at,sender,text,recipients,platform,language\n"
    b"m-1,c-1,2026-11-03T22:41:05Z,acct-nl-1,hello,acct-ph-1,chatapp,en\n"
    b"m-2,c-1,2026-11-03T22:42:05Z,acct-ph-1,send the fee first,acct-nl-1;acct-ph-9,chatapp,en\n"
)
SESSIONS_CSV = (
    b"ref,platform,started_at,participants,ended_at,countries,stream\n"
    b"s-1,videoapp,2026-11-03T23:00:00Z,acct-nl-1;acct-ph-1,2026-11-03T23:20:00Z,NL;PH,\n"
    b"s-2,videoapp,2026-11-04T23:00:00Z,acct-nl-2;acct-ph-1,,;PH,stream-7\n"
)
ACCOUNTS_CSV = (
    b"ref,kind,name,country,timezone,birth_year,sex,platform,created_at,handles,devices,risk\n"
    b"acct-nl-1,person,J. Example,NL,Europe/Amsterdam,1990,m,bank,2020-01-01T00:00:00Z,"
    b"@jexample;jex99,dev-1,low\n"
    b"acct-ph-1,person,,PH,Asia/Manila,,,,,,,\n"
)
PAYMENTS_JSONL = (
    b'{"ref": "j-1", "at": "2026-11-03T22:41:05+01:00", "sender": "acct-nl-1", '
    b'"beneficiary": "acct-ph-1", "amount": "25.00", "currency": "EUR", "channel": "remittance",'
    b' "details": {"fee": 2.5, "agent": "outlet-3"}}\n'
    b"\n"
    b'{"ref": "j-2", "at": "2026-11-04T01:10:00Z", "sender": "acct-nl-1", '
    b'"beneficiary": "acct-ph-2", "amount": 15.5, "currency": "EUR"}\n'
)
MESSAGES_JSONL = (
    b'{"ref": "jm-1", "conversation": "c-2", "at": "2026-11-03T22:41:05Z", "sender": "a", '
    b'"text": "how much", "recipients": ["b"], "platform": "chatapp", "language": "en"}\n'
    b'{"ref": "jm-2", "conversation": "c-2", "at": "2026-11-03T22:43:05Z", "sender": "b", '
    b'"text": "1500 pesos", "recipients": ["a"]}\n'
)
SESSIONS_JSONL = (
    b'{"ref": "js-1", "platform": "videoapp", "started_at": "2026-11-03T23:00:00Z", '
    b'"participants": ["a", "b"], "ended_at": "2026-11-03T23:30:00Z", "countries": ["NL", null]}\n'
)
ACCOUNTS_JSONL = (
    b'{"ref": "a", "country": "NL", "timezone": "Europe/Amsterdam", "handles": ["@a"], '
    b'"devices": ["d-1", "d-2"], "birth_year": 1999}\n'
    b'{"ref": "b", "kind": "handle", "platform": "chatapp"}\n'
)

PACS008 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
 <FIToFICstmrCdtTrf>
  <GrpHdr>
   <MsgId>MSG-2026-11-03-1</MsgId>
   <CreDtTm>2026-11-03T23:15:00+01:00</CreDtTm>
   <NbOfTxs>2</NbOfTxs>
   <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>
  </GrpHdr>
  <CdtTrfTxInf>
   <PmtId><InstrId>I-1</InstrId><EndToEndId>E2E-1</EndToEndId><TxId>TX-1</TxId></PmtId>
   <IntrBkSttlmAmt Ccy="EUR">25.00</IntrBkSttlmAmt>
   <IntrBkSttlmDt>2026-11-03</IntrBkSttlmDt>
   <ChrgBr>SHAR</ChrgBr>
   <Dbtr><Nm>J. Example</Nm></Dbtr>
   <DbtrAcct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></DbtrAcct>
   <DbtrAgt><FinInstnId><BICFI>ABNANL2A</BICFI></FinInstnId></DbtrAgt>
   <CdtrAgt><FinInstnId><BICFI>BOPIPHMM</BICFI></FinInstnId></CdtrAgt>
   <Cdtr><Nm>M. Example</Nm></Cdtr>
   <CdtrAcct><Id><Othr><Id>0012345678</Id></Othr></Id></CdtrAcct>
   <RmtInf><Ustrd>school uniform</Ustrd></RmtInf>
  </CdtTrfTxInf>
  <CdtTrfTxInf>
   <PmtId><EndToEndId>NOTPROVIDED</EndToEndId><TxId>TX-2</TxId></PmtId>
   <IntrBkSttlmAmt Ccy="USD">40</IntrBkSttlmAmt>
   <IntrBkSttlmDt>2026-11-04</IntrBkSttlmDt>
   <ChrgBr>SHAR</ChrgBr>
   <Dbtr><Nm>K. Example</Nm><PstlAdr><Ctry>DE</Ctry></PstlAdr></Dbtr>
   <DbtrAgt><FinInstnId><BICFI>DEUTDEFF</BICFI></FinInstnId></DbtrAgt>
   <CdtrAgt><FinInstnId><BICFI>BOPIPHMM</BICFI></FinInstnId></CdtrAgt>
   <Cdtr><Nm>R. Example</Nm></Cdtr>
   <RmtInf><Ustrd>family</Ustrd><Ustrd>support</Ustrd></RmtInf>
  </CdtTrfTxInf>
 </FIToFICstmrCdtTrf>
</Document>
"""

PAIN001 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">
 <CstmrCdtTrfInitn>
  <GrpHdr><MsgId>PAIN-1</MsgId><CreDtTm>2026-11-04T02:10:00</CreDtTm><NbOfTxs>2</NbOfTxs></GrpHdr>
  <PmtInf>
   <PmtInfId>BATCH-1</PmtInfId>
   <PmtMtd>TRF</PmtMtd>
   <ReqdExctnDt>2026-11-05</ReqdExctnDt>
   <Dbtr><Nm>J. Example</Nm></Dbtr>
   <DbtrAcct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></DbtrAcct>
   <DbtrAgt><FinInstnId><BIC>ABNANL2A</BIC></FinInstnId></DbtrAgt>
   <CdtTrfTxInf>
    <PmtId><EndToEndId>PE-1</EndToEndId></PmtId>
    <Amt><InstdAmt Ccy="EUR">15.00</InstdAmt></Amt>
    <Cdtr><Nm>M. Example</Nm></Cdtr>
    <CdtrAcct><Id><IBAN>PH12BOPI00000000000012</IBAN></Id></CdtrAcct>
    <RmtInf><Ustrd>medical bills</Ustrd></RmtInf>
   </CdtTrfTxInf>
   <CdtTrfTxInf>
    <PmtId><EndToEndId>PE-2</EndToEndId></PmtId>
    <Amt><InstdAmt Ccy="EUR">20.00</InstdAmt></Amt>
    <CdtrAgt><FinInstnId><BIC>BNORPHMM</BIC></FinInstnId></CdtrAgt>
    <Cdtr><Nm>R. Example</Nm></Cdtr>
   </CdtTrfTxInf>
  </PmtInf>
 </CstmrCdtTrfInitn>
</Document>
"""

MT103 = (
    (
        b"{1:F01ABNANL2AXXXX0000000000}{2:I103BOPIPHMMXXXXN}"
        b"{3:{121:e3b0c442-98fc-4c14-9afb-f4c8996fb924}}"
    )
    + b"""{4:
:20:REF0001
:23B:CRED
:32A:261103EUR25,00
:33B:EUR25,
:50K:/NL91ABNA0417164300
J EXAMPLE
AMSTERDAM
:57A:BOPIPHMM
:59:/0012345678
M EXAMPLE
CEBU
:70:BIRTHDAY GIFT
FOR NIECE
:71A:OUR
-}
{1:F01DEUTDEFFXXXX0000000000}{2:I103BNORPHMMXXXXN}{4:
:20:REF0002
:32A:261104USD100,
:50F:/DE89370400440532013000
1/K EXAMPLE
3/DE/BERLIN
:59A:/PH0987654321
BNORPHMM
:70:INVOICE 7
:71A:SHA
-}
"""
)

WHATSAPP_IOS = (
    "[03/11/2026, 22:41:05] Messages and calls are end-to-end encrypted. No one outside of "
    "this chat can read them.\n"
    "[03/11/2026, 22:41:05] Jan: hello\n"
    "are you there\n"
    "[03/11/2026, 22:42:00] \u200eMaria: \u200e<attached: 00000012-PHOTO.jpg>\n"
    "[03/11/2026, 22:43:10] Maria: ok\n"
    "[03/11/2026, 22:43:10] Maria: ok\n"
).encode()
WHATSAPP_ANDROID = (
    b"03/11/2026, 10:41 pm - Jan: hi\n"
    b"03/11/26, 22:42 - Maria: <Media omitted>\n"
    b"03/11/2026, 22:43 - Jan added Bob\n"
    b"04/11/2026, 07:05 - Bob: good morning\n"
)

TELEGRAM_CHAT = {
    "name": "Maria",
    "type": "personal_chat",
    "id": 4242,
    "messages": [
        {"id": 1, "type": "service", "date": "2026-11-03T22:40:00", "action": "phone_call"},
        {
            "id": 2,
            "type": "message",
            "date": "2026-11-03T22:41:05",
            "date_unixtime": "1793742065",
            "from": "Jan",
            "from_id": "user101",
            "text": ["hi ", {"type": "bold", "text": "there"}],
        },
        {
            "id": 3,
            "type": "message",
            "date": "2026-11-03T22:42:05",
            "date_unixtime": "1793742125",
            "from": "Maria",
            "from_id": "user202",
            "text": "",
            "photo": "photos/photo_1.jpg",
            "reply_to_message_id": 2,
        },
    ],
}
TELEGRAM = json.dumps(TELEGRAM_CHAT, indent=1).encode()
TELEGRAM_ACCOUNT = json.dumps(
    {
        "about": "export",
        "chats": {
            "about": "chats",
            "list": [
                TELEGRAM_CHAT,
                {
                    "name": "Group",
                    "type": "private_group",
                    "id": 77,
                    "messages": [
                        {
                            "id": 1,
                            "type": "message",
                            "date": "2026-11-05T10:00:00",
                            "from": "Bob",
                            "from_id": "user303",
                            "text": "morning",
                        }
                    ],
                },
            ],
        },
    }
).encode()


def payments_csv(n: int, *, start: int = 0) -> bytes:
    """A payments CSV of ``n`` generated rows (refs ``g-<i>``)."""
    head = b"ref,at,sender,beneficiary,amount,currency,channel\n"
    rows = (
        f"g-{i},2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,s-{i % 97},b-{i % 13},"
        f"{10 + i % 90}.00,EUR,remittance\n".encode()
        for i in range(start, start + n)
    )
    return head + b"".join(rows)
