"""Bank formats: round trips, the VICS shapes, error lines, sniffing, hostile input."""

from __future__ import annotations

import io
import json

import pytest

from vangnet.banks.categories import Category
from vangnet.banks.formats import formats, get_format, sniff
from vangnet.banks.formats.base import BankRecord
from vangnet.errors import ImportFormatError, NotFoundError, ValidationError

MD5 = "adebf3fa3c9be7f73825e1cb9e2dea09"
SHA1 = "2b037f69c566dfdb3a5a79e5360d085959bdde4c"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
BOM = b"\xef\xbb\xbf"


def read(name: str, data: bytes, **kw: str) -> list[BankRecord]:
    return list(get_format(name).read(io.BytesIO(data), **kw))


def write(name: str, records: list[BankRecord]) -> bytes:
    out = io.BytesIO()
    assert get_format(name).write(records, out) == len(records)
    return out.getvalue()


def sample_records() -> list[BankRecord]:
    vics1 = Category("vics", "1")
    return [
        BankRecord("md5", MD5, vics1, "NCMEC", "Series A", "seen 2024", True, "17"),
        BankRecord("sha1", SHA1, vics1, "NCMEC", "Series A", "seen 2024", True, "17"),
        BankRecord("sha256", SHA256, vics1, "NCMEC", "Series A", "seen 2024", True, "17"),
        BankRecord("pdq", PDQ, Category("vics", "2"), None, None, None, True, "18"),
        BankRecord("md5", "0" * 32, Category("vics", "0"), None, None, None, True, "19"),
    ]


# --- registry and sniffing --------------------------------------------------------------


def test_registry() -> None:
    assert set(formats()) == {"vics2", "vics1", "hma-csv", "plain"}
    for name, fmt in formats().items():
        assert fmt.name == name and fmt.description
    with pytest.raises(NotFoundError):
        get_format("xml")


@pytest.mark.parametrize("name", ["vics2", "vics1", "hma-csv", "plain"])
def test_sniff_own_output(name: str) -> None:
    assert sniff(write(name, sample_records())[:4096]) == name


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (BOM + b'{"@odata.context": "x#Media", "value": [', "vics2"),
        (
            b'  {"odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Cases"',
            "vics1",
        ),
        (b"signal_type,signal_value\n", "hma-csv"),
        (b"pdq," + PDQ.encode() + b"\n", "hma-csv"),
        (b"# list\n" + MD5.encode() + b"\n", "plain"),
        (PDQ.encode() + b",100\n", "plain"),
    ],
)
def test_sniff(head: bytes, name: str) -> None:
    assert sniff(head) == name


@pytest.mark.parametrize("head", [b"", b"hello world", b"\x00\x01\x02", b"[1, 2]"])
def test_sniff_unknown(head: bytes) -> None:
    with pytest.raises(ImportFormatError):
        sniff(head)


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vics2", "vics1", "hma-csv"])
def test_round_trip(name: str) -> None:
    records = sample_records()
    assert read(name, write(name, records)) == records


def test_round_trip_vics_keeps_extras() -> None:
    records = [
        BankRecord(
            "md5",
            MD5,
            Category("vics", "1"),
            external_id="5",
            extra={"is_distributed": True, "photodna": "QUJD", "tags": "t", "hash:Other": "x"},
        )
    ]
    assert read("vics2", write("vics2", records)) == records


def test_round_trip_csv_keeps_everything() -> None:
    records = [
        BankRecord("md5", MD5, Category("uk", "A"), "hotline, NL", "s", 'a "note"\nline 2', False)
    ]
    assert read("hma-csv", write("hma-csv", records)) == records


def test_round_trip_plain() -> None:
    records = [
        BankRecord("md5", MD5),
        BankRecord("pdq", PDQ, extra={"quality": 90}),
        BankRecord("sha256", SHA256),
        BankRecord("sha1", SHA1),
    ]
    assert read("plain", write("plain", records)) == records


def test_vics_without_media_id_writes_one_media_each() -> None:
    data = write("vics2", [BankRecord("md5", MD5), BankRecord("sha1", SHA1)])
    media = json.loads(data)["value"]
    assert media == [{"MD5": MD5.upper()}, {"SHA1": SHA1.upper()}]


def test_plain_refuses_values_with_separators() -> None:
    with pytest.raises(ValidationError):
        write("plain", [BankRecord("vpdq", "a,b")])


# --- VICS shapes ------------------------------------------------------------------------

MEDIA_2 = {
    "MediaID": 1,
    "Category": "1",
    "MD5": MD5.upper(),
    "SHA1": SHA1.upper(),
    "MediaSize": 2835,
    "DateUpdated": "2023-06-07T02:31:49.8300Z",
    "IsPrecategorized": "true",
    "IsDistributed": "false",
    "Series": "S",
    "Comments": "c",
    "PhotoDNA": "QUJD",
    "MediaFiles": [{"MD5": MD5.upper(), "SHA256": SHA256, "FileName": "a.jpg"}],
}
EXPECTED_EXTRA = {
    "is_precategorized": True,
    "is_distributed": False,
    "media_size": 2835,
    "date_updated": "2023-06-07T02:31:49.8300Z",
    "photodna": "QUJD",
}


def check_media_1(records: list[BankRecord]) -> None:
    assert [(r.signal_type, r.value) for r in records] == [
        ("md5", MD5),
        ("sha1", SHA1),
        ("sha256", SHA256),
    ]
    for r in records:
        assert r.category == Category("vics", "1")
        assert (r.external_id, r.series, r.note) == ("1", "S", "c")
        assert r.extra == EXPECTED_EXTRA


def test_vics2_media_shape_with_bom() -> None:
    doc = {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml"
        "/US/$metadata#Media",
        "value": [MEDIA_2, {"MediaID": 2, "Category": None, "MD5": "", "SHA1": SHA1}],
    }
    records = read("vics2", BOM + json.dumps(doc, indent=2).encode())
    check_media_1(records[:3])
    assert records[3] == BankRecord("sha1", SHA1, None, external_id="2")


def test_vics2_cases_shape() -> None:
    doc = {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml"
        "/UK/$metadata#Cases",
        "value": [
            {"CaseID": "{1}", "Media": [MEDIA_2], "SourceApplicationName": "x"},
            {"CaseID": "{2}", "Media": [], "CaseNumber": "9"},
            {"Media": [{"MediaID": 3, "Category": 3, "MD5": "1" * 32}]},
        ],
    }
    records = read("vics2", BOM + json.dumps(doc, indent=1).encode())
    check_media_1(records[:3])
    assert records[3].external_id == "3" and records[3].category == Category("vics", "3")
    assert len(records) == 4


def test_vics1_cases_shape() -> None:
    doc = {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Cases",
        "value": [
            {
                "odata.id": "",
                "Media": [
                    {
                        "MediaID": "42",
                        "Category": "2",
                        "MD5": MD5,
                        "SHA1": "",
                        "VictimIdentified": "false",
                        "IsDistributed": None,
                        "AlternativeHashes": [
                            {"HashName": "PhotoDNA", "HashValue": "QUJD"},
                            {"HashName": "PDQ", "HashValue": PDQ.upper()},
                        ],
                        "MediaFiles": [{"MD5": MD5, "FileName": "x"}],
                    }
                ],
            }
        ],
    }
    records = read("vics1", BOM + json.dumps(doc).encode())
    assert [(r.signal_type, r.value) for r in records] == [("md5", MD5), ("pdq", PDQ)]
    assert records[0].extra == {"victim_identified": False, "photodna": "QUJD"}
    assert records[0].category == Category("vics", "2") and records[0].external_id == "42"


def test_vics_unknown_top_level_keys_are_skipped() -> None:
    data = b'{"x": {"deep": [1, 2, {"a": null}]}, "value": [{"MD5": "' + MD5.encode() + b'"}]}'
    assert read("vics2", data) == [BankRecord("md5", MD5)]


# --- errors with line numbers -----------------------------------------------------------

BAD = "zz" + MD5[2:]


def test_bad_hash_line_vics() -> None:
    data = (
        b'{"@odata.context": "x#Media",\n'  # 1
        b' "value": [\n'  # 2
        b'  {"MediaID": 1, "MD5": "' + MD5.encode() + b'"},\n'  # 3
        b'  {"MediaID": 2,\n'  # 4
        b'   "Category": 1,\n'  # 5
        b'   "MD5": "' + BAD.encode() + b'"}\n'  # 6
        b"]}\n"
    )
    with pytest.raises(ImportFormatError) as info:
        read("vics2", data)
    assert info.value.line == 6
    assert "MediaID 2" in info.value.message and "md5" in info.value.message


def test_bad_category_line_vics() -> None:
    data = b'{"value": [\n{"MD5": "' + MD5.encode() + b'",\n "Category": 7}\n]}'
    with pytest.raises(ImportFormatError) as info:
        read("vics2", data)
    assert info.value.line == 3 and "category" in info.value.message


def test_bad_hash_line_csv() -> None:
    data = f"signal_type,signal_value\nmd5,{MD5}\n\nmd5,{BAD}\n".encode()
    with pytest.raises(ImportFormatError) as info:
        read("hma-csv", data)
    assert info.value.line == 4


def test_bad_hash_line_plain() -> None:
    data = f"# comment\n{MD5}\n\n{BAD}\n".encode()
    with pytest.raises(ImportFormatError) as info:
        read("plain", data)
    assert info.value.line == 4


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"signal_type,signal_value\nfoo," + MD5.encode() + b"\n", 2),  # unknown type
        (b"signal_type,signal_value\nmd5\n", 2),  # missing value
        (b"signal_type,signal_value\nmd5," + MD5.encode() + b",x,y,z,w,v,u,t\n", 2),
        (b"signal_type,signal_value,category\nmd5," + MD5.encode() + b",vics:9\n", 2),
        (b"signal_type,signal_value,enabled\nmd5," + MD5.encode() + b",maybe\n", 2),
        (b'signal_type,signal_value\nmd5,"' + MD5.encode() + b"\n\n", 2),  # open quote
        (b"signal_value\n" + MD5.encode() + b"\n", 1),  # header lacks signal_type
    ],
)
def test_csv_errors(data: bytes, line: int) -> None:
    with pytest.raises(ImportFormatError) as info:
        read("hma-csv", data)
    assert info.value.line == line


def test_csv_headerless_and_bom() -> None:
    data = BOM + f"md5,{MD5.upper()},vics:1\r\npdq,{PDQ}\r\n".encode()
    assert read("hma-csv", data) == [
        BankRecord("md5", MD5, Category("vics", "1")),
        BankRecord("pdq", PDQ),
    ]


def test_plain_64_hex_needs_signal_type() -> None:
    data = f"{PDQ},87\n".encode()
    with pytest.raises(ImportFormatError) as info:
        read("plain", data)
    assert info.value.line == 1 and "signal_type" in info.value.message
    assert read("plain", data, signal_type="pdq") == [BankRecord("pdq", PDQ, extra={"quality": 87})]
    with pytest.raises(ImportFormatError):
        read("plain", data, signal_type="sha256")  # sha256 has no quality
    assert read("plain", f"{SHA256}\n".encode(), signal_type="sha256")[0].value == SHA256
    with pytest.raises(ImportFormatError):
        read("plain", b"", signal_type="nope")


@pytest.mark.parametrize("bad", [b"# signal_type: nope\n", f"{PDQ},101\n".encode()])
def test_plain_errors(bad: bytes) -> None:
    with pytest.raises(ImportFormatError) as info:
        read("plain", b"# x\n" + bad, signal_type="pdq" if b"," in bad else None)  # type: ignore[arg-type]
    assert info.value.line == 2


# --- malformed and hostile input --------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"value": [{"MD5": "' + MD5.encode() + b'"}, {"MD5": "',  # truncated
        b'{"value": [{"MD5": "' + MD5.encode() + b'"}',  # truncated
        b"[1, 2, 3]",  # top-level list
        b"42",  # top-level number
        b'"value"',
        b"",  # empty
        b"   \n\n",  # only whitespace
        b'{"value": 3}',
        b'{"value": [1]}',
        b'{"value": [{"Media": {"MD5": 1}}]}',
        b'{"@odata.context": "x#Media"}',  # no value array
        b'{"value": [{"MD5": 12}]}',
        b'{"value": [{"MD5": "' + MD5.encode() + b'", "IsDistributed": "perhaps"}]}',
        b'{"value": [{"MD5": "' + MD5.encode() + b'", "MediaFiles": 3}]}',
        b"\xff\xfe\x00g\x00a\x00r\x00b\x00a\x00g\x00e",  # UTF-16 / not UTF-8
        b'{"value": [{"Series": "\xff\xfe", "MD5": "' + MD5.encode() + b'"}]}',
        b'{"value": [{"MD5": "' + MD5.encode() + b'"}]} trailing',
    ],
)
def test_vics_malformed(data: bytes) -> None:
    with pytest.raises(ImportFormatError) as info:
        read("vics2", data)
    assert info.value.line is not None and info.value.line >= 1


@pytest.mark.parametrize(
    ("name", "head"), [("hma-csv", b"signal_type,signal_value\n"), ("plain", b"# list\n")]
)
def test_text_formats_reject_garbage(name: str, head: bytes) -> None:
    with pytest.raises(ImportFormatError) as info:
        read(name, head + b"\xff\xfe\xfd garbage\n")
    assert info.value.line == 2


@pytest.mark.parametrize("name", ["vics2", "hma-csv", "plain"])
def test_empty_text_lists_are_empty(name: str) -> None:
    if name == "vics2":
        assert read(name, b'{"value": []}') == []
    else:
        assert read(name, b"") == []


def test_deeply_nested_json_is_rejected() -> None:
    data = b'{"value": [{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    with pytest.raises(ImportFormatError) as info:
        read("vics2", data)
    assert "nested" in info.value.message


def test_ten_megabyte_single_line() -> None:
    big = b"a" * (10 * 1024 * 1024)
    with pytest.raises(ImportFormatError) as info:
        read("plain", big)
    assert info.value.line == 1
    with pytest.raises(ImportFormatError):
        read("hma-csv", b"signal_type,signal_value\nmd5," + big + b"\n")
    # In JSON a long string is legal; it is held once, then the record is read.
    data = b'{"value": [{"Comments": "' + big + b'", "MD5": "' + MD5.encode() + b'"}]}'
    [record] = read("vics2", data)
    assert record.value == MD5 and record.note is not None and len(record.note) == len(big)


def test_reading_is_deterministic() -> None:
    data = write("vics2", sample_records())
    assert read("vics2", data) == read("vics2", data)


def test_format_aliases() -> None:
    from vangnet.banks.formats import get_format

    assert get_format("vics").name == "vics2"
    assert get_format("csv").name == "hma-csv"
    with pytest.raises(NotFoundError):
        get_format("xml")
