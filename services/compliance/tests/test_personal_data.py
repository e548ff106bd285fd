"""Personal data in Chinese and English text: mobiles, resident IDs, bank cards, emails."""

from __future__ import annotations

import random
from datetime import date

import pytest
from lingxi_compliance.personal_data import Finding, find, redact

TODAY = date(2026, 11, 25)

# --- reference checksums, written independently of the module ------------------------------------


def id_check_code(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    codes = ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"]
    return codes[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def valid_id(area: str, born: str, sequence: str) -> str:
    first17 = area + born + sequence
    assert len(first17) == 17
    return first17 + id_check_code(first17)


def wrong_id(area: str, born: str, sequence: str) -> str:
    """Same shape as ``valid_id`` but with a check code that does not match."""
    first17 = area + born + sequence
    good = id_check_code(first17)
    return first17 + ("1" if good != "1" else "2")


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number][::-1]
    total = sum(d for d in digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def valid_card(prefix: str) -> str:
    """``prefix`` plus the one digit that makes it pass Luhn."""
    (digit,) = [d for d in "0123456789" if luhn_ok(prefix + d)]
    return prefix + digit


def wrong_card(prefix: str) -> str:
    good = valid_card(prefix)
    return prefix + str((int(good[-1]) + 1) % 10)


def group(number: str, sep: str, sizes: tuple[int, ...]) -> str:
    parts, position = [], 0
    for size in sizes:
        parts.append(number[position : position + size])
        position += size
    assert position == len(number)
    return sep.join(parts)


FULL_WIDTH = str.maketrans("0123456789@.Xx-+", "０１２３４５６７８９＠．Ｘｘ－＋")

ID_1949 = valid_id("110105", "19491231", "002")  # ends in X
ID_1990 = valid_id("440305", "19900307", "451")
assert ID_1949.endswith("X")
assert not ID_1990.endswith("X")
CARD_16 = valid_card("622202138001380")
CARD_19 = valid_card("621700000012345678")
VISA = valid_card("411111111111111")


def kinds(text: str) -> list[tuple[str, str]]:
    """(kind, original substring) for every finding."""
    return [(f.kind, text[f.start : f.end]) for f in find(text, today=TODAY)]


# --- what is found -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # mobiles
        ("13800138000", [("mobile", "13800138000")]),
        ("call 138 0013 8000 now", [("mobile", "138 0013 8000")]),
        ("call 138-0013-8000 now", [("mobile", "138-0013-8000")]),
        ("+8613800138000", [("mobile", "+8613800138000")]),
        ("tel: +86 138 0013 8000", [("mobile", "+86 138 0013 8000")]),
        ("tel: +86-139-1234-5678", [("mobile", "+86-139-1234-5678")]),
        ("0086 13800138000", [("mobile", "0086 13800138000")]),
        ("8619912345678", [("mobile", "8619912345678")]),
        ("我的手机号是13800138000，谢谢", [("mobile", "13800138000")]),
        ("电话：19912345678。", [("mobile", "19912345678")]),
        ("10086 13800138000", [("mobile", "13800138000")]),
        ("a,13800138000;b", [("mobile", "13800138000")]),
        # resident identity numbers
        (ID_1990, [("resident_id", ID_1990)]),
        (f"身份证号码是{ID_1949}，", [("resident_id", ID_1949)]),
        (f"身份证{ID_1949.lower()}。", [("resident_id", ID_1949.lower())]),
        (f"ID number {ID_1990}.", [("resident_id", ID_1990)]),
        # bank cards
        (CARD_16, [("bank_card", CARD_16)]),
        (CARD_19, [("bank_card", CARD_19)]),
        (f"卡号{group(CARD_16, ' ', (4, 4, 4, 4))}谢谢", [("bank_card", group(CARD_16, " ", (4, 4, 4, 4)))]),
        (f"card {group(VISA, '-', (4, 4, 4, 4))}", [("bank_card", group(VISA, "-", (4, 4, 4, 4)))]),
        (
            f"卡号 {group(CARD_19, ' ', (4, 4, 4, 4, 3))}",
            [("bank_card", group(CARD_19, " ", (4, 4, 4, 4, 3)))],
        ),
        # a valid 16-digit card followed by an unrelated short number
        (f"{group(CARD_16, ' ', (4, 4, 4, 4))} 100 元", [("bank_card", group(CARD_16, " ", (4, 4, 4, 4)))]),
        # emails
        ("write to zhang.san+ai@example.com.cn today", [("email", "zhang.san+ai@example.com.cn")]),
        ("邮箱：li_si@mail.qq.com。", [("email", "li_si@mail.qq.com")]),
        ("邮箱test@example.com谢谢", [("email", "test@example.com")]),
        ("Mail me: a@b.io.", [("email", "a@b.io")]),
        # several at once, in order
        (
            f"我的手机号是13800138000，身份证{ID_1990}，银行卡{CARD_16}，邮箱test@example.com。",
            [
                ("mobile", "13800138000"),
                ("resident_id", ID_1990),
                ("bank_card", CARD_16),
                ("email", "test@example.com"),
            ],
        ),
        ("13800138000 " + CARD_16, [("mobile", "13800138000"), ("bank_card", CARD_16)]),
    ],
)
def test_finds(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("１３８００１３８０００", [("mobile", "１３８００１３８０００")]),
        ("手机：１３８　００１３　８０００。", [("mobile", "１３８　００１３　８０００")]),
        ("＋８６－１３８－００１３－８０００", [("mobile", "＋８６－１３８－００１３－８０００")]),
        (f"身份证{ID_1949.translate(FULL_WIDTH)}", [("resident_id", ID_1949.translate(FULL_WIDTH))]),
        (f"卡号{CARD_16.translate(FULL_WIDTH)}", [("bank_card", CARD_16.translate(FULL_WIDTH))]),
        ("邮箱ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ。", [("email", "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ")]),
        ("邮箱john＠example.com", [("email", "john＠example.com")]),
        ("mixed 138００１３8000", [("mobile", "138００１３8000")]),
    ],
)
def test_full_width_forms_are_found_at_their_original_offsets(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # order numbers, invoices, tracking numbers (checked below to fail Luhn and the ID checksum)
        "订单号：2026112510300012345",
        "order 202611251030001234 shipped",
        "快递单号 7300 1234 5678 9012",
        # 11 digits that are not mobiles
        "10086123456",
        "12345678901",
        "11012345678",
        "电话 10012345678",
        # part of a longer digit run
        "138001380001",
        "913800138000",
        "订单 2026-13800138000",
        "13800138000-7",
        "58613800138000",
        # timestamps and dates
        "20261125103000",
        "时间戳 1764037800123",
        "2026-11-25 10:30:00",
        "2026/11/25",
        # prices and amounts
        "￥1,380.00",
        "售价13800.00元",
        "13,800,138,000 yuan",
        "总价 138001380 元",
        # a 16-digit number failing Luhn and an 18-digit run failing the ID checksum
        wrong_card("622202138001380"),
        f"卡号 {group(wrong_card('622202138001380'), ' ', (4, 4, 4, 4))}",
        wrong_id("440305", "19900307", "451"),
        f"身份证{wrong_id('110105', '19491231', '002')}",
        # version strings and identifiers
        "version 1.38.0013.8000",
        "v13.8.0-rc.1380013800",
        "build 10.0.19045.4170",
        "IP 138.0.13.80",
        "uuid 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        # not an email
        "a @ b.com",
        "user@localhost",
        "@mention",
        "name@domain.c0m",
        # 17 digits and 20 digits
        "13800138000138000",
        "62220213800138000000",
    ],
)
def test_look_alikes_are_not_flagged(text: str) -> None:
    assert kinds(text) == []


@pytest.mark.parametrize(
    "run",
    ["2026112510300012345", "202611251030001234", "7300123456789012", "62220213800138000000"],
)
def test_look_alike_fixtures_really_fail_the_checksums(run: str) -> None:
    # Guards the look-alike table: these would be real findings if they passed.
    assert not (16 <= len(run) <= 19 and luhn_ok(run))
    assert not (len(run) == 18 and id_check_code(run[:17]) == run[17])


# --- resident identity numbers: checksum and birth date ------------------------------------------


@pytest.mark.parametrize(
    ("number", "flagged"),
    [
        (valid_id("110105", "19491231", "002"), True),
        (wrong_id("110105", "19491231", "002"), False),
        (valid_id("320102", "20000229", "123"), True),  # leap day
        (valid_id("320102", "19000229", "123"), False),  # 1900 was no leap year
        (valid_id("320102", "19900230", "123"), False),
        (valid_id("320102", "19901301", "123"), False),
        (valid_id("320102", "19900100", "123"), False),
        (valid_id("320102", "18991231", "123"), False),
        (valid_id("320102", "20261125", "123"), True),  # born today
        (valid_id("320102", "20261126", "123"), False),  # born tomorrow
        (valid_id("320102", "20300101", "123"), False),
    ],
)
def test_resident_id_checksum_and_birth_date(number: str, flagged: bool) -> None:
    found = [kind for kind, _ in kinds(number)]
    if flagged:
        assert found == ["resident_id"]
    else:
        # Not an identity number; 18 digits that happen to pass Luhn are still a card candidate.
        assert found == (["bank_card"] if number.isdigit() and luhn_ok(number) else [])


def test_the_birth_date_bound_follows_today() -> None:
    number = valid_id("320102", "20261126", "123")
    assert find(number, today=TODAY) == []
    assert [f.kind for f in find(number, today=date(2026, 11, 26))] == ["resident_id"]


def test_an_id_that_is_also_a_valid_card_number_is_reported_once_as_an_id() -> None:
    rng = random.Random(7)
    while True:
        number = valid_id("110105", f"19{rng.randrange(50, 99)}0101", f"{rng.randrange(1000):03d}")
        if luhn_ok(number):
            break
    assert kinds(number) == [("resident_id", number)]


# --- overlaps ------------------------------------------------------------------------------------


def test_longest_candidate_wins() -> None:
    # +86 with a mobile wins over a bare mobile, and a grouped 19-digit card over its 16-digit head.
    assert kinds("+86 13800138000") == [("mobile", "+86 13800138000")]
    grouped = group(CARD_19, " ", (4, 4, 4, 4, 3))
    assert kinds(grouped) == [("bank_card", grouped)]


# --- findings do not leak the value --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "preview"),
    [
        ("13800138000", "138****8000"),
        ("+86 138-0013-8000", "138****8000"),
        (ID_1949, f"11{'*' * 14}2X"),
        (CARD_16, f"6222****{CARD_16[-4:]}"),
        ("zhang.san@example.com", "z***@example.com"),
    ],
)
def test_findings_show_a_masked_preview_only(text: str, preview: str) -> None:
    (finding,) = find(text, today=TODAY)
    assert finding.preview == preview
    digits = "".join(c for c in text if c.isdigit())
    for shown in (repr(finding), str(finding)):
        assert text not in shown
        if digits:
            assert digits[-11:] not in shown
    assert "zhang.san" not in repr(finding)


def test_finding_is_immutable() -> None:
    (finding,) = find("13800138000", today=TODAY)
    with pytest.raises(AttributeError):
        finding.start = 0  # type: ignore[misc]


# --- redaction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            f"我的手机号是13800138000，身份证{ID_1990}，银行卡{CARD_16}，邮箱test@example.com。",
            "我的手机号是[手机号]，身份证[身份证号]，银行卡[银行卡号]，邮箱[邮箱]。",
        ),
        (
            f"My phone is +86 138 0013 8000, ID {ID_1949}, card {VISA}, mail test@example.com.",
            "My phone is [phone], ID [ID number], card [card number], mail [email].",
        ),
        ("手机：１３８　００１３　８０００。", "手机：[手机号]。"),
        ("邮箱ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ，谢谢", "邮箱[邮箱]，谢谢"),
        # the letters of the email itself do not make a Chinese sentence English
        ("我的邮箱是 zhangsanfeng.longname@example.com", "我的邮箱是 [邮箱]"),
        # no letters at all: English placeholders
        ("13800138000", "[phone]"),
        ("nothing here 12345", "nothing here 12345"),
        ("", ""),
    ],
)
def test_redact(text: str, redacted: str) -> None:
    result, findings = redact(text, today=TODAY)
    assert result == redacted
    assert findings == find(text, today=TODAY)


def test_redaction_keeps_everything_else_byte_identical() -> None:
    text = (
        "前言 🙂 café\u0301 ＡＢＣ ①②③ ㈱ ﬁ\n"
        f"手机：１３８　００１３　８０００，身份证 {ID_1990}\t卡 {group(CARD_19, '-', (4, 4, 4, 4, 3))}\r\n"
        "邮箱 ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ ✓ 结束\u200b"
    )
    result, findings = redact(text, today=TODAY)
    assert [f.kind for f in findings] == ["mobile", "resident_id", "bank_card", "email"]
    expected, position = [], 0
    for finding, placeholder in zip(
        findings, ["[手机号]", "[身份证号]", "[银行卡号]", "[邮箱]"], strict=True
    ):
        expected.append(text[position : finding.start])
        expected.append(placeholder)
        position = finding.end
    expected.append(text[position:])
    assert result == "".join(expected)
    assert result.encode() == "".join(expected).encode()
    assert result.startswith("前言 🙂 café\u0301 ＡＢＣ ①②③ ㈱ ﬁ\n手机：[手机号]，")
    assert result.endswith(" ✓ 结束\u200b")


# --- generated numbers ---------------------------------------------------------------------------

SENTENCES = [
    "我的号码是{}，请联系。",
    "Please reach me at {} tomorrow.",
    "{}",
    "（{}）",
    "信息：{}。谢谢",
]


def random_mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def random_id(rng: random.Random) -> str:
    born = date.fromordinal(rng.randrange(date(1900, 1, 1).toordinal(), TODAY.toordinal() + 1))
    area = f"{rng.randrange(11, 66)}{rng.randrange(10000):04d}"
    return valid_id(area, born.strftime("%Y%m%d"), f"{rng.randrange(1000):03d}")


def random_card(rng: random.Random) -> str:
    length = rng.randrange(16, 20)
    prefix = rng.choice(["62", "4", "5", "35", "6"])
    prefix += "".join(rng.choice("0123456789") for _ in range(length - 1 - len(prefix)))
    return valid_card(prefix)


def test_generated_valid_numbers_are_found() -> None:
    rng = random.Random(20261125)
    for _ in range(300):
        kind, value = rng.choice(
            [
                ("mobile", random_mobile(rng)),
                ("resident_id", random_id(rng)),
                ("bank_card", random_card(rng)),
            ]
        )
        if rng.random() < 0.3:
            value = value.translate(FULL_WIDTH)
        sentence = rng.choice(SENTENCES)
        text = sentence.format(value)
        start = sentence.index("{}")
        (finding,) = find(text, today=TODAY)
        assert (finding.kind, finding.start, finding.end) == (kind, start, start + len(value)), text
        result, _ = redact(text, today=TODAY)
        assert result[:start] == text[:start]
        assert value not in result


def test_generated_invalid_numbers_are_not_found() -> None:
    rng = random.Random(11643)
    checked = 0
    while checked < 300:
        choice = rng.randrange(4)
        if choice == 0:  # an ID with a wrong check code, sometimes also passing Luhn: skip those
            good = random_id(rng)
            value = wrong_id(good[:6], good[6:14], good[14:17])
            if luhn_ok(value):
                continue
        elif choice == 1:  # a card with a wrong check digit
            value = wrong_card(random_card(rng)[:-1])
        elif choice == 2:  # 11 digits starting 10, 11 or 12
            value = "1" + rng.choice("012") + "".join(rng.choice("0123456789") for _ in range(9))
        else:  # a mobile inside a longer digit run
            value = rng.choice("0123456789") + random_mobile(rng)
        text = rng.choice(SENTENCES).format(value)
        assert find(text, today=TODAY) == [], text
        checked += 1


def test_random_digit_noise_only_yields_checked_findings() -> None:
    rng = random.Random(3)
    for _ in range(300):
        text = "".join(rng.choice("0123456789 -，。a中@.") for _ in range(rng.randrange(1, 60)))
        for finding in find(text, today=TODAY):
            value = text[finding.start : finding.end]
            digits = "".join(c for c in value if c.isdigit() or c in "Xx")
            if finding.kind == "bank_card":
                assert 16 <= len(digits) <= 19
                assert luhn_ok(digits)
            elif finding.kind == "resident_id":
                assert id_check_code(digits[:17]) == digits[17].upper()
            elif finding.kind == "mobile":
                assert digits[-11:-9] in {f"1{d}" for d in "3456789"}


# --- size sanity ---------------------------------------------------------------------------------


def test_a_long_mixed_text_and_pathological_inputs_complete() -> None:
    # Not timed: these only have to finish and give the obvious answer (no runaway backtracking).
    text = (f"我的手机号是13800138000，身份证{ID_1990}，订单号2026112510300012345，邮箱a@b.cn。" * 10)[:500]
    assert len(text) == 500
    found = find(text, today=TODAY)
    assert {f.kind for f in found} == {"mobile", "resident_id", "email"}
    for _ in range(200):
        assert find(text, today=TODAY) == found
    for pathological in ["1" * 5000, "1 " * 2500, "1234-" * 1000, "a" * 5000 + "@", "a." * 2500 + "@x"]:
        assert find(pathological, today=TODAY) == []


def test_finding_fields() -> None:
    (finding,) = find("x 13800138000", today=TODAY)
    assert finding == Finding(kind="mobile", start=2, end=13, preview="138****8000")
