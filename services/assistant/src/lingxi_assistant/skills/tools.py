"""Tool skills: translate a phrase, do arithmetic, convert units and currencies.

Pure domain code. Arithmetic is parsed by a small recursive-descent parser over ``+ - * / ^ % ( )`` and
``sqrt`` and evaluated with exact fractions (``eval`` is never used); the unit converter knows exact
factors; the currency skill never states a rate (the phone shows the live one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

import cn2an

from lingxi_assistant.lang import Lang, Utterance, has_han
from lingxi_assistant.model import Action, SlotValue
from lingxi_assistant.skills import Skill, Slots
from lingxi_assistant.slots import Context, Fill

# ---------------------------------------------------------------------------------------------- numbers

_ZH_NUMERAL = "零〇一二两三四五六七八九十百千万亿"
_ZH_NUM = rf"[{_ZH_NUMERAL}](?:[{_ZH_NUMERAL}]|点(?=[{_ZH_NUMERAL}])){{0,23}}"
_AR_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_SCALE = {"万": 10_000, "亿": 100_000_000, "千": 1000, "k": 1000, "thousand": 1000, "million": 1_000_000}
_AR_SCALED = rf"(?:{_AR_NUM})(?:\s*(?:万|亿|千|k\b|thousand\b|million\b))?"

MAX_COMMAND_CHARS = 200
"""Longer text is not a spoken calculation or conversion (and the parsers need not be fast on it)."""
MAX_TRANSLATE_CHARS = 1000

_TAIL_PUNCT = " \t,，。.!！?？:：;；、~～…"


def _zh_number(token: str) -> Fraction | None:
    """A Chinese numeral, possibly with a decimal 点 (三点五) or a colloquial tail (两万五)."""
    if len(token) > 24:  # not a number anyone says
        return None
    try:
        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None


def _ar_number(token: str) -> Fraction | None:
    m = re.fullmatch(rf"({_AR_NUM})\s*(万|亿|千|k|thousand|million)?", token.strip())
    if m is None:
        return None
    value = Fraction(m.group(1).replace(",", ""))
    if m.group(2):
        value *= _SCALE[m.group(2)]
    return value


def _json_number(value: Fraction, places: int = 6) -> int | float:
    """An int when whole, else a float rounded to ``places`` decimals (a JSON number either way)."""
    if value.denominator == 1:
        return int(value)
    rounded = round(float(value), places)
    return int(rounded) if rounded.is_integer() else rounded


def _said(value: SlotValue) -> str:
    """A number from the slots as the user said it (5, 1.5, 42.195)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rounded(value: Fraction) -> tuple[str, bool]:
    """A computed number for a reply, at most two decimals (three significant digits when it is tiny),
    and whether that is exact."""
    if value.denominator == 1:
        return str(value.numerator), True
    number = float(value)
    text = f"{number:.2f}" if abs(number) >= 0.01 else f"{number:.3g}"
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    try:
        exact = Fraction(text) == value
    except ValueError:
        exact = False
    return text, exact


_LETTER_EDGE = r"(?:(?<![a-z])(?=[a-z])|(?<=[a-z])(?![a-z]))"


def _letters(pattern: str) -> str:
    """``pattern`` with each ``\\b`` read as the edge of a run of Latin letters, so that units and
    currencies written against digits or Chinese ("10km", "165cm合多少ft") are still words."""
    return pattern.replace(r"\b", _LETTER_EDGE)


def _clean(value: str) -> str:
    return value.strip(_TAIL_PUNCT)


# -------------------------------------------------------------------------------------------- translate

_LANGS: tuple[tuple[str, str], ...] = (
    ("es", r"西班牙语|西班牙文|西语|spanish|espanol|español"),
    ("en", r"英语|英文|english"),
    ("zh", r"中文|汉语|普通话|国语|chinese|mandarin"),
    ("ja", r"日语|日文|japanese"),
    ("ko", r"韩语|韩文|韩国语|朝鲜语|korean"),
    ("fr", r"法语|法文|french"),
    ("de", r"德语|德文|german"),
    ("ru", r"俄语|俄文|russian"),
)
_LANG_WORD = "|".join(words for _, words in _LANGS)
_L = rf"(?P<lang>{_LANG_WORD})"
_SAY = r"(?:说|讲|写|表达|翻译|翻|念|读|拼)"
_INTO = r"(?:翻译|翻|译)(?:一下)?(?:成|为|到|出|作)"
_T = r"(?P<text>.+?)"
_TEND = r"(?P<text>.+)"

# (pattern, target when the pattern itself implies one), first match wins; ``text`` is the phrase.
_ZH_TRANSLATE: tuple[tuple[re.Pattern[str], str | None], ...] = tuple(
    (re.compile(p, re.I), target)
    for p, target in (
        (rf"(?:英译中|英译汉|英翻中)[:：\s]*{_TEND}", "zh"),
        (rf"(?:中译英|汉译英|中翻英)[:：\s]*{_TEND}", "en"),
        (rf"把{_T}{_INTO}{_L}", None),
        (rf"{_INTO}{_L}(?:的话)?(?:吗|呢|吧)?[:：,，\s]+{_TEND}", None),
        (rf"{_INTO}{_L}(?:的话)?(?:吗|呢|吧)?[:：]\s*{_TEND}", None),
        (rf"{_T}[\s,，]*{_INTO}{_L}", None),
        (rf"(?:怎么|如何)?用{_L}(?:怎么|如何|该怎么)?(?:{_SAY}|表达)(?:一下)?[:：,，\s]*{_TEND}", None),
        (rf"(?:什么|啥)意思[:：]\s*{_TEND}", "zh"),
        (rf"{_T}[\s,，]*(?:用|的|在)?{_L}(?:里|中|里面)?(?:该|应该|要)?(?:怎么|如何|咋)?{_SAY}", None),
        (rf"{_L}(?:里|中|里面)?(?:的|里|中)?{_T}(?:该|应该|要)?(?:怎么|如何|咋){_SAY}", None),
        (rf"{_L}(?:翻译|翻)[:：\s]*{_TEND}", None),
        (rf"(?:翻译|翻)(?:一下)?[:：\s]*{_T}[\s,，]+(?:成|到)?{_L}$", None),
        (rf"^{_L}(?:里|中)?(?:的){_TEND}", None),
        (rf"{_T}(?:的|用)?{_L}(?:是什么|是啥|叫什么|怎么说)?$", None),
        (rf"{_T}[\s,，]+{_L}$", None),
        (rf"{_T}(?:用|的)?(?:中文|汉语)?(?:是)?(?:什么|啥)意思", "zh"),
        (rf"{_T}(?:的)?中文(?:意思|含义)?$", "zh"),
        (rf"(?:翻译|翻)(?:一下)?[:：\s]*{_TEND}", None),
        (rf"{_T}(?:怎么|如何)(?:翻译|翻)", None),
    )
)

_EN_TRANSLATE: tuple[tuple[re.Pattern[str], str | None], ...] = tuple(
    (re.compile(p, re.I | re.ASCII), target)
    for p, target in (
        (rf"\btranslate\s+(?:this\s+)?(?:in)?to\s+{_L}\s*[:,]?\s+{_TEND}", None),
        (rf"(?:\btranslate|翻译|翻)\s*(?:this\s*[:,]?\s+)?{_T}\s+(?:in)?to\s+{_L}\b", None),
        (rf"\btranslate\s+(?:this\s*[:,]?\s+)?{_T}\s+from\s+\w+\s+(?:in)?to\s+{_L}\b", None),
        (rf"\btranslate\s+(?:from\s+\w+\s+)?(?:in)?to\s+{_L}\s*[:,]?\s+{_TEND}", None),
        (
            rf"\bhow\s+(?:do|would|can|should)\s+(?:you|i|we|one)\s+(?:say|write|spell)\s+{_T}\s+in\s+{_L}\b",
            None,
        ),
        (rf"\bhow\s+to\s+(?:say|write|spell)\s+{_T}\s+in\s+{_L}\b", None),
        (rf"\bwhat\s+(?:do|would)\s+(?:you|i|we|they)\s+call\s+{_T}\s+in\s+{_L}\b", None),
        (rf"\bwhat(?:'s|\s+is)\s+the\s+{_L}\s+(?:word\s+|phrase\s+)?for\s+{_TEND}", None),
        (rf"\bsay\s+{_T}\s+in\s+{_L}\b", None),
        (rf"\bwhat\s+does\s+{_T}\s+mean\s+in\s+{_L}\b", None),
        (rf"\bwhat\s+does\s+{_T}\s+mean\b", None),
        (
            rf"(?:.*\b(?:saying|says|said|called)\s+)?{_T}[,，]?\s*what(?:'s|\s+is|\s+does)\s+"
            rf"(?:that|it|this)\s+(?:mean\s+)?in\s+{_L}\b",
            None,
        ),
        (rf"\b{_L}\s+(?:translation|word|phrase|version|equivalent)\s+(?:of|for)\s+{_TEND}", None),
        (rf"\b(?:the\s+)?{_L}\s+(?:word\s+|phrase\s+|term\s+)?for\s+{_TEND}", None),
        (rf"\bwhat(?:'s|\s+is)\s+{_T}\s+in\s+{_L}\b", None),
        (rf"\bin\s+{_L}\s*[:,]?\s+(?:how\s+do\s+(?:you|i)\s+say\s+)?{_TEND}", None),
        (rf"\bhow\s+(?:do|would|can)\s+(?:you|i|we)\s+say\s+{_TEND}", None),
        (rf"\btranslate\s+(?:this\s*[:,]?\s+)?{_TEND}", None),
        (rf"^{_T}\s+in\s+{_L}\b", None),
    )
)

_QUOTES = (("“", "”"), ('"', '"'), ("'", "'"), ("‘", "’"), ("「", "」"), ("『", "』"), ("《", "》"))
_TEXT_NOISE = re.compile(
    r"^(?:请问|请|麻烦你?|帮我|帮忙|给我|你(?:能|可以)?|能不能|可不可以|可以|能)+(?=把|翻|用)"
    r"|^(?:please|can you|could you|would you|help me|i want to|i'd like to|kindly)\s+"
    r"|^(?:这句话|这句|这个词|这个)[:：]"
    r"|^(?:the\s+)?(?:word|phrase|sentence)\s+"
    r"|(?:这句话|这句|这个词)$"
    r"|\s+(?:please|for me|pls|plz)$",
    re.I | re.ASCII,
)
_TEXT_NOT_WORDS = re.compile(
    r"(?:这句话|这段话|这句|这个词|这个|一下|它|把|用|翻译|翻|译|成|为|到|说|讲|怎么|帮我|请|吗|呢|吧|啊|\s"
    rf"|this|it|that|something|for\s+me|{_LANG_WORD})*",
    re.I,
)


def _lang_code(word: str) -> str | None:
    for code, words in _LANGS:
        if re.fullmatch(words, word, re.I):
            return code
    return None


def _unquote(text: str) -> str:
    """The text without one pair of quotes around all of it ("'I'm fine'" → "I'm fine")."""
    text = _clean(text)
    for left, right in _QUOTES:
        if len(text) > 2 and text.startswith(left) and text.endswith(right):
            inner = text[len(left) : -len(right)]
            if left == right == "'":
                nested = re.search(r"(?:^|\s)'|'(?:\s|$)", inner) is not None
            else:
                nested = left in inner or right in inner
            if not nested:
                return _clean(inner)
    return text


def _phrase(raw: str) -> str:
    """The words to translate: a quoted phrase as quoted, else the words without politeness."""
    text = _clean(raw)
    unquoted = _unquote(text)
    if unquoted != text:
        return unquoted
    while True:
        shorter = _unquote(_TEXT_NOISE.sub("", text))
        if shorter == text:
            break
        text = shorter
    # a quoted phrase inside the remaining words is the phrase itself
    quoted = re.search(r"[“\"「『‘](?P<q>[^”\"」』’]+)[”\"」』’]", text)
    if quoted is not None and len(quoted.group("q")) < len(text):
        return _clean(quoted.group("q"))
    return text


def _translate_parts(utt: Utterance) -> tuple[str | None, str | None]:
    """(text, explicit target) from the sentence; either may be None."""
    sentence = utt.text.rstrip(_TAIL_PUNCT)
    target: str | None = None
    for pattern, implied in (*_EN_TRANSLATE, *_ZH_TRANSLATE):
        m = pattern.search(sentence)
        if m is None:
            continue
        said = m.groupdict().get("lang")
        text = _phrase(m.group("text"))
        if _TEXT_NOT_WORDS.fullmatch(text) or _lang_code(text):
            target = target or (_lang_code(said) if said else implied)
            continue
        return text, (_lang_code(said) if said else implied)
    if target is None:
        m = re.search(rf"(?:成|为|到|to|into|in)\s*{_L}", sentence, re.I)
        target = _lang_code(m.group("lang")) if m else None
    return None, target


def fill_translate(utt: Utterance, ctx: Context) -> Fill:
    if len(utt.text) > MAX_TRANSLATE_CHARS:
        return Fill(False)
    text, target = _translate_parts(utt)
    slots: dict[str, SlotValue] = {}
    if text is None:
        if target:
            slots["target_lang"] = target
        return Fill(False, slots)
    slots["text"] = text
    slots["target_lang"] = target or ("en" if has_han(text) else "zh")
    return Fill(True, slots, Action("translate.show", dict(slots)), names=(text,))


_LANG_NAME_ZH = {
    "zh": "中文",
    "en": "英文",
    "ja": "日语",
    "ko": "韩语",
    "fr": "法语",
    "de": "德语",
    "es": "西班牙语",
    "ru": "俄语",
}
_LANG_NAME_EN = {
    "zh": "Chinese",
    "en": "English",
    "ja": "Japanese",
    "ko": "Korean",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "ru": "Russian",
}


def confirm_translate(slots: Slots, lang: Lang, now: datetime) -> str:
    text, target = str(slots["text"]), str(slots["target_lang"])
    if lang == "zh":
        return f"好的，正在把“{text}”翻译成{_LANG_NAME_ZH.get(target, target)}"
    return f"Translating “{text}” into {_LANG_NAME_EN.get(target, target)}."


def ask_translate(slots: Slots, lang: Lang) -> str:
    target = slots.get("target_lang")
    if lang == "zh":
        into = f"成{_LANG_NAME_ZH[str(target)]}" if target in _LANG_NAME_ZH else ""
        return f"好的，你想把什么翻译{into}？"
    into = f" into {_LANG_NAME_EN[str(target)]}" if target in _LANG_NAME_EN else ""
    return f"Sure, what would you like me to translate{into}?"


# -------------------------------------------------------------------------------------------- calculate


class _CalcError(Exception):
    """Not an expression, or one without a value (division by zero, a root of a negative number)."""


@dataclass(frozen=True)
class _Node:
    kind: str  # num, neg, bin, pct, sqrt, group
    text: str = ""  # num: the number as written in the expression
    op: str = ""  # bin: + - * / ^
    args: tuple[_Node, ...] = ()


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}
_OPS = "+-*/^"


class _Parser:
    """expr := term (+|- term)* ; term := unary (*|/ unary)* ; unary := - unary | power ;
    power := postfix (^ unary)? ; postfix := primary (% | √post)* ; primary := num | ( expr ) | √ unary"""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _CalcError("unexpected end")
        self.pos += 1
        return token

    def parse(self) -> _Node:
        node = self.expr()
        if self.peek() is not None:
            raise _CalcError(f"unexpected {self.peek()!r}")
        return node

    def expr(self) -> _Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = _Node("bin", op=op, args=(node, self.term()))
        return node

    def term(self) -> _Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()
            node = _Node("bin", op=op, args=(node, self.unary()))
        return node

    def unary(self) -> _Node:
        if self.peek() == "-":
            self.take()
            return _Node("neg", args=(self.unary(),))
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> _Node:
        node = self.postfix()
        if self.peek() == "^":
            self.take()
            node = _Node("bin", op="^", args=(node, self.unary()))
        return node

    def postfix(self) -> _Node:
        node = self.primary()
        while self.peek() in ("%", "√post"):
            if self.take() == "%":  # a percentage is written out as a division: 15% → 15/100
                node = _Node("bin", op="/", args=(node, _Node("num", text="100")))
            else:
                node = _Node("sqrt", args=(node,))
        return node

    def primary(self) -> _Node:
        token = self.take()
        if token == "(":
            node = self.expr()
            if self.take() != ")":
                raise _CalcError("unbalanced parentheses")
            return _Node("group", args=(node,))
        if token == "⦅":  # a spoken fraction (三分之一): grouped, but shown without parentheses
            node = self.expr()
            if self.take() != "⦆":
                raise _CalcError("unbalanced fraction")
            return node
        if token == "√":
            return _Node("sqrt", args=(self.power_operand(),))
        if re.fullmatch(r"\d+(?:\.\d+)?", token):
            return _Node("num", text=token)
        raise _CalcError(f"unexpected {token!r}")

    def power_operand(self) -> _Node:
        if self.peek() == "-":
            self.take()
            return _Node("neg", args=(self.power_operand(),))
        return self.postfix()


_NODE_PRECEDENCE = {"neg": 3, "pct": 6, "num": 7, "group": 7, "sqrt": 7}
# the least precedence each side of a binary operator takes without parentheses
_SIDES = {"+": (1, 1), "-": (1, 2), "*": (2, 2), "/": (2, 3), "^": (5, 4)}


def _show(node: _Node, least: int = 0, right: bool = False) -> str:
    """The node as an ASCII expression, with only the parentheses it needs (and those the user said)."""
    if node.kind == "num":
        text = node.text
    elif node.kind == "group":
        text = f"({_show(node.args[0])})"
    elif node.kind == "neg":
        text = f"-{_show(node.args[0], 3)}"
    elif node.kind == "pct":
        text = f"{_show(node.args[0], 6)}%"
    elif node.kind == "sqrt":
        text = f"sqrt({_show(node.args[0])})"
    else:
        left, right_least = _SIDES[node.op]
        text = f"{_show(node.args[0], left)}{node.op}{_show(node.args[1], right_least, True)}"
    own = _PRECEDENCE[node.op] if node.kind == "bin" else _NODE_PRECEDENCE[node.kind]
    if own < least or (node.kind == "neg" and right):
        return f"({text})"
    return text


_MAX_EXPONENT = 512
_MAX_MAGNITUDE = Fraction(10) ** 30


def _value(node: _Node) -> Fraction:
    if node.kind == "num":
        return Fraction(node.text)
    if node.kind == "group":
        return _value(node.args[0])
    if node.kind == "neg":
        return -_value(node.args[0])
    if node.kind == "pct":
        return _value(node.args[0]) / 100
    if node.kind == "sqrt":
        inner = _value(node.args[0])
        if inner < 0:
            raise _CalcError("square root of a negative number")
        num, den = math.isqrt(inner.numerator), math.isqrt(inner.denominator)
        if num * num == inner.numerator and den * den == inner.denominator:
            return Fraction(num, den)
        return Fraction(math.sqrt(inner))
    left, right = _value(node.args[0]), _value(node.args[1])
    if node.op == "+":
        result = left + right
    elif node.op == "-":
        result = left - right
    elif node.op == "*":
        result = left * right
    elif node.op == "/":
        if right == 0:
            raise _CalcError("division by zero")
        result = left / right
    else:
        result = _power(left, right)
    if abs(result) > _MAX_MAGNITUDE:
        raise _CalcError("too large")
    return result


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if base == 0 and exponent < 0:
        raise _CalcError("division by zero")
    if exponent.denominator == 1 and abs(exponent) <= _MAX_EXPONENT:
        if abs(base) > 1 and abs(exponent) * math.log10(float(abs(base))) > 30:
            raise _CalcError("too large")
        return base ** int(exponent)
    if base < 0:
        raise _CalcError("fractional power of a negative number")
    try:
        return Fraction(math.pow(float(base), float(exponent)))
    except (OverflowError, ValueError) as error:
        raise _CalcError("no value") from error


_DIGIT = r"[一二三四五六七八九\d]"


def _two_digit_discount(m: re.Match[str]) -> str:
    """打八五折 → × 85/100."""
    digits = "".join(c if c.isdigit() else str(_zh_number(c)) for c in m["d"])
    return f" {m['n']} * {digits} / 100 "


# Words to operators. Applied in order to the lower-cased sentence with spelled numbers as digits.
_N = rf"(?:{_AR_SCALED}|{_ZH_NUM})"
_CALC_REWRITES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(p, re.ASCII), r)
    for p, r in (
        # filler that contains numerals
        (r"一下|一共|总共|一起|一个|一道|一题", " "),
        # English verbs with two operands
        (rf"\b(?:add|sum)\s+(?P<a>{_N})\s+(?:and|to|with|plus)\s+(?P<b>{_N})", r" \g<a> + \g<b> "),
        (rf"\bsum\s+of\s+(?P<a>{_N})\s+and\s+(?P<b>{_N})", r" \g<a> + \g<b> "),
        (rf"\bsubtract\s+(?P<a>{_N})\s+from\s+(?P<b>{_N})", r" \g<b> - \g<a> "),
        (rf"\b(?P<a>{_N})\s+less\s+than\s+(?P<b>{_N})", r" \g<b> - \g<a> "),
        (rf"\bmultiply\s+(?P<a>{_N})\s+(?:by|and|with|times)\s+(?P<b>{_N})", r" \g<a> * \g<b> "),
        (rf"\bproduct\s+of\s+(?P<a>{_N})\s+and\s+(?P<b>{_N})", r" \g<a> * \g<b> "),
        (rf"\bdivide\s+(?P<a>{_N})\s+(?:by|over)\s+(?P<b>{_N})", r" \g<a> / \g<b> "),
        (rf"\bsubtract\s+(?P<a>{_N})(?!\s+from)", r" - \g<a> "),
        (rf"\badd\s+(?P<a>{_N})(?!\s+(?:and|to|with|plus))", r" + \g<a> "),
        (rf"\bmultiply\s+(?:it\s+|that\s+|the\s+result\s+)?by\s+(?P<a>{_N})", r" * \g<a> "),
        (rf"\bdivide\s+(?:it\s+|that\s+|the\s+result\s+)?by\s+(?P<a>{_N})", r" / \g<a> "),
        (
            rf"\bsplit\s+(?:a\s+|the\s+|an\s+)?(?P<a>{_N})\D{{0,24}}?\s+(?:between|among|amongst|by|into|for)"
            rf"\s+(?P<b>{_N})\b",
            r" \g<a> / \g<b> ",
        ),
        (
            rf"(?P<a>{_N})\s+[a-z]+\s+(?:at|for)\s+(?P<b>{_N})\s*(?:[a-z]+\s+)?(?:each|apiece|a\s+piece)\b",
            r" \g<a> * \g<b> ",
        ),
        (rf"\bdifference\s+between\s+(?P<a>{_N})\s+and\s+(?P<b>{_N})", r" \g<a> - \g<b> "),
        (rf"(?P<a>{_N})\s*(?:和|与|跟)\s*(?P<b>{_N})\s*的(?:和|总和)", r" \g<a> + \g<b> "),
        (
            rf"(?P<a>{_N})\s*(?:块钱|块|元|个)?\D{{0,6}}?(?P<b>{_N})\s*(?:个人|人|个)\s*(?:平分|均分|分摊|aa|AA|平摊|分)",
            r" \g<a> / \g<b> ",
        ),
        (rf"(?P<a>{_N})\s*(?:和|与|跟)\s*(?P<b>{_N})\s*的(?:乘积|积)", r" \g<a> * \g<b> "),
        (rf"(?P<a>{_N})\s*(?:和|与|跟)\s*(?P<b>{_N})\s*的差", r" \g<a> - \g<b> "),
        (rf"(?P<a>{_N})\s*(?:和|与|跟)\s*(?P<b>{_N})\s*的商", r" \g<a> / \g<b> "),
        # fractions and percent
        (rf"百分之\s*(?P<n>{_N})", r" \g<n> % "),
        (rf"(?P<den>{_N})\s*分之\s*(?P<num>{_N})", r" ⦅ \g<num> / \g<den> ⦆ "),
        (r"\bper\s*cent\b|\bpercent\b|\bpct\b", " % "),
        (rf"(?P<p>{_N})\s*%\s*off\s+(?:of\s+)?(?P<n>{_N})", r" \g<n> * ( 100 - \g<p> ) / 100 "),
        (r"%\s*(?:of|on)\b", "% *"),
        (rf"(?P<n>{_N})\s*(?:块钱|块|元)?\s*打\s*(?P<d>{_DIGIT})\s*折", r" \g<n> * \g<d> / 10 "),
        (rf"(?P<n>{_N})\s*(?:块钱|块|元)?\s*打\s*(?P<d>{_DIGIT}{_DIGIT})\s*折", _two_digit_discount),
        (rf"\b(?:a|one|1)\s*(?:half|2nd)\s+of\s+(?P<n>{_N})", r" \g<n> / 2 "),
        (rf"\bhalf\s+(?:of\s+)?(?P<n>{_N})", r" \g<n> / 2 "),
        (rf"\b(?:a|one|1)\s*(?:third|3rd)\s+of\s+(?P<n>{_N})", r" \g<n> / 3 "),
        (rf"\b(?:a|one|1)\s*(?:quarter|fourth|4th)\s+of\s+(?P<n>{_N})", r" \g<n> / 4 "),
        (rf"\b(?P<a>\d+)\s*(?P<b>\d+)(?:st|nd|rd|th)s?\s+of\s+(?P<n>{_N})", r" \g<n> * \g<a> / \g<b> "),
        (rf"\b(?P<a>\d+)\s*quarters\s+of\s+(?P<n>{_N})", r" \g<n> * \g<a> / 4 "),
        (rf"(?P<n>{_N})\s*的\s*一半", r" \g<n> / 2 "),
        # powers and roots
        (r"\bsquare\s+root\s+of\b|\bsqrt(?:\s+of)?\b|\broot\s+of\b|根号|√", " √ "),
        (r"的?(?:平方根|算术平方根)|开(?:平方|根号|方)", " √post "),
        (rf"的\s*(?P<n>{_N})\s*次(?:方|幂)", r" ^ \g<n> "),
        (rf"(?P<n>{_N})\s*次(?:方|幂)", r" ^ \g<n> "),
        (r"的?平方(?!根)|\bsquared\b", " ^ 2 "),
        (r"的?立方(?!根)|\bcubed\b", " ^ 3 "),
        (rf"\bto\s+the\s+(?P<n>{_N})(?:st|nd|rd|th)?(?:\s+power\b)?", r" ^ \g<n> "),
        (r"\bto\s+the\s+power\s+of\b|\braised\s+to(?:\s+the\s+power\s+of)?\b|\*\*", " ^ "),
        # the four operations
        (r"乘以|乘上|乘于|乘|×|✕|✖|\btimes\b|\bmultiplied\s+by\b", " * "),
        (r"(?<=[\d\s])x(?=[\s\d])", " * "),
        (r"除以|除去|除上|除|÷|\bdivided\s+by\b|\bover\b", " / "),
        (r"加上|加|\bplus\b|\band\b(?=\s*\d)", " + "),
        (r"减去|减掉|减|\bminus\b|\btake\s+away\b", " - "),
        (r"负|\bnegative\b", " - "),
        (rf"的\s*(?P<n>{_N})\s*倍", r" * \g<n> "),
        (r"的(?=\s*(?:\d|[零〇一二两三四五六七八九十百千万亿]))", " * "),
        (r"\band\s+then\b|再|然后|\bthen\b", " ⟲ "),
    )
)
_CALC_TOKEN = re.compile(
    rf"(?P<num>{_AR_SCALED}|{_ZH_NUM})|(?P<op>√post|[-+*/^%()√⟲⦅⦆])|(?P<space>\s+)|(?P<other>.)", re.I
)


def _calc_tokens(text: str) -> list[list[str]]:
    """The sentence as runs of expression tokens; a word that is not part of an expression ends a run."""
    for pattern, replacement in _CALC_REWRITES:
        text = pattern.sub(replacement, text)
    runs: list[list[str]] = [[]]
    for m in _CALC_TOKEN.finditer(text):
        if m.group("num"):
            number = _ar_number(m.group("num")) if m.group("num")[0] in "0123456789." else None
            if number is None:
                number = _zh_number(m.group("num")) if m.group("num")[0] not in "0123456789." else None
            if number is None:
                runs.append([])
                continue
            runs[-1].append(_number_text(number))
        elif m.group("op"):
            op = m.group("op")
            if op == "⟲":
                current = runs[-1]
                if any(t in _OPS for t in current):
                    runs[-1] = ["⦅", *current, "⦆"]
                continue
            runs[-1].append(op)
        elif m.group("other") and runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _number_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.10f}".rstrip("0").rstrip(".")
    return text


def _trim(run: list[str]) -> list[str]:
    """Drop dangling operators at the ends of a run ("what's 3+4 =" → 3+4)."""
    while run and run[-1] in ("+", "-", "*", "/", "^", "(", "√"):
        run = run[:-1]
    while run and run[0] in ("+", "*", "/", "^", ")", "%", "√post"):
        run = run[1:]
    while run.count("(") > run.count(")") and run[0] == "(":
        run = run[1:]
    while run.count(")") > run.count("(") and run[-1] == ")":
        run = run[:-1]
    return run


@dataclass(frozen=True)
class _Calculation:
    expression: str
    result: int | float | None  # None: the expression has no value


def _calculate(utt: Utterance) -> _Calculation | None:
    best: tuple[int, _Node] | None = None
    for run in _calc_tokens(utt.numeric):
        run = _trim(run)
        if not any(t in _OPS or t in ("%", "√", "√post") for t in run):
            continue
        try:
            node = _Parser(run).parse()
        except _CalcError:
            continue
        if best is None or len(run) > best[0]:
            best = (len(run), node)
    if best is None:
        return None
    node = best[1]
    while node.kind == "group":
        node = node.args[0]
    expression = _show(node)
    try:
        return _Calculation(expression, _json_number(_value(node)))
    except (_CalcError, ZeroDivisionError, OverflowError, ValueError):
        return _Calculation(expression, None)


def fill_calculate(utt: Utterance, ctx: Context) -> Fill:
    if len(utt.text) > MAX_COMMAND_CHARS:
        return Fill(False)
    calc = _calculate(utt)
    if calc is None:
        return Fill(False)
    if calc.result is None:
        return Fill(False, {"expression": calc.expression})
    slots: dict[str, SlotValue] = {"expression": calc.expression, "result": calc.result}
    return Fill(True, slots, Action("calculator.show", dict(slots)))


_EXPRESSION_TOKEN = re.compile(r"\d+(?:\.\d+)?|sqrt\(|[-+*/^%()]")


def _evaluate(expression: str) -> tuple[Fraction | None, str | None]:
    """An expression from the slots, evaluated again: (exact value, None), or (None, why it has none:
    "zero", "root" or "large")."""
    tokens: list[str] = []
    for token in _EXPRESSION_TOKEN.findall(expression):
        tokens.extend(("√", "(") if token == "sqrt(" else (token,))
    try:
        return _value(_Parser(tokens).parse()), None
    except _CalcError as error:
        message = str(error)
        if "zero" in message:
            return None, "zero"
        return None, "root" if "negative" in message else "large"


def _pretty(expression: str) -> str:
    expression = re.sub(r"sqrt\((\d+(?:\.\d+)?)\)", r"√\1", expression).replace("sqrt(", "√(")
    return expression.replace("*", "×").replace("/", "÷")


def confirm_calculate(slots: Slots, lang: Lang, now: datetime) -> str:
    expression, result = str(slots["expression"]), slots["result"]
    shown = _said(result)
    exact, _ = _evaluate(expression)
    rounded = exact is not None and Fraction(shown) != exact
    if lang == "zh":
        return f"{_pretty(expression)}{'约' if rounded else ''}等于{shown}"
    return f"{_pretty(expression)} is {'about ' if rounded else ''}{shown}."


_REASONS_ZH = {"zero": "除数不能为0", "root": "负数不能开平方", "large": "结果太大了"}
_REASONS_EN = {
    "zero": "you can't divide by zero",
    "root": "a negative number has no square root",
    "large": "the result is too large",
}


def ask_calculate(slots: Slots, lang: Lang) -> str:
    expression = slots.get("expression")
    if expression:
        reason = _evaluate(str(expression))[1] or "large"
        shown = _pretty(str(expression))
        if lang == "zh":
            return f"{shown}算不出来：{_REASONS_ZH[reason]}。你想算什么？"
        return f"I can't work out {shown}: {_REASONS_EN[reason]}. What should I calculate?"
    return "好的，你想算什么？" if lang == "zh" else "Sure, what would you like me to calculate?"


# ----------------------------------------------------------------------------------------- convert_unit

_UNIT_WORDS: tuple[tuple[str | None, str], ...] = (
    # Chinese, longest first inside the alternation built below
    ("km", r"公里|千米"),
    ("mi", r"英里|迈"),
    ("cm", r"厘米|公分"),
    (None, r"毫米|毫升|海里|平方米|立方米|平方公里|米饭|大米|玉米|小米|克服|克拉|千瓦|吨"),
    ("m", r"米"),
    ("ft", r"英尺|呎"),
    ("in", r"英寸|吋"),
    ("kg", r"公斤|千克"),
    ("lb", r"磅"),
    ("jin", r"市斤|斤"),
    ("g", r"克"),
    ("oz", r"盎司|安士|英两"),
    ("f", r"华氏度|华氏|°f|℉"),
    ("c", r"摄氏度|摄氏|°c|℃"),
    ("deg", r"度"),
    ("l", r"公升|升"),
    ("gal", r"加仑"),
    # English
    ("km", r"\b(?:km|kms|kilometers?|kilometres?|kilo\s?meters?)\b"),
    ("mi", r"\b(?:mi|miles?)\b"),
    ("cm", r"\b(?:cm|cms|centimeters?|centimetres?)\b"),
    (None, r"\b(?:mm|ml|millimeters?|milliliters?|millilitres?|yards?|tons?|tonnes?)\b"),
    ("m", r"\b(?:meters?|metres?)\b"),
    ("ft", r"\b(?:ft|foot|feet)\b"),
    ("in", r"\b(?:inch|inches)\b"),
    ("kg", r"\b(?:kg|kgs|kilos?|kilograms?|kilogrammes?)\b"),
    ("lb", r"\b(?:lb|lbs|pounds?)\b"),
    ("jin", r"\b(?:jin|catty|catties)\b"),
    ("g", r"\b(?:grams?|grammes?)\b"),
    ("oz", r"\b(?:oz|ounces?)\b"),
    ("f", r"\b(?:degrees?\s+)?fahrenheit\b"),
    ("c", r"\b(?:degrees?\s+)?(?:celsius|centigrade)\b"),
    ("deg", r"\bdegrees?\b"),
    ("l", r"\b(?:liters?|litres?)\b"),
    ("gal", r"\b(?:gal|gals|gallons?)\b"),
)
_UNIT_MENTION = re.compile(
    "|".join(f"(?P<u{i}>{_letters(words)})" for i, (_, words) in enumerate(_UNIT_WORDS)), re.I | re.ASCII
)
# one-letter units only right after a number: 5m, 500 g, 2 l, 30c, 5 in (when "to ..." follows)
_SHORT_UNIT = re.compile(r"(?<=[\d\s])(?P<u>m|g|l|c|f|in)\b(?!')", re.I | re.ASCII)
_SHORT_CODES = {"m": "m", "g": "g", "l": "l", "c": "c", "f": "f", "in": "in"}

_FACTORS: dict[str, tuple[str, Fraction]] = {
    "km": ("length", Fraction(1000)),
    "mi": ("length", Fraction("1609.344")),
    "m": ("length", Fraction(1)),
    "ft": ("length", Fraction("0.3048")),
    "cm": ("length", Fraction(1, 100)),
    "in": ("length", Fraction("0.0254")),
    "kg": ("mass", Fraction(1000)),
    "lb": ("mass", Fraction("453.59237")),
    "jin": ("mass", Fraction(500)),
    "g": ("mass", Fraction(1)),
    "oz": ("mass", Fraction("28.349523125")),
    "l": ("volume", Fraction(1)),
    "gal": ("volume", Fraction("3.785411784")),
    "c": ("temperature", Fraction(1)),
    "f": ("temperature", Fraction(1)),
}

_NEGATIVE = r"(?:零下|负|-|minus\s+|negative\s+)"
_NUM_BEFORE = re.compile(
    rf"(?P<neg>{_NEGATIVE})?(?:(?P<ar>{_AR_SCALED})|(?P<zh>{_ZH_NUM})|(?P<a>\ban?\b|\bone\b))"
    r"(?P<and_half>\s+and\s+a\s+half)?\s*(?:个|多)?\s*$",
    re.I | re.ASCII,
)
_HALF_BEFORE = re.compile(r"(?:\bhalf\s+an?\b|半)\s*$", re.I | re.ASCII)


@dataclass(frozen=True)
class _Mention:
    unit: str | None
    start: int
    end: int
    value: Fraction | None = None


def _unit_mentions(text: str) -> list[_Mention]:
    found: list[_Mention] = []
    for m in _UNIT_MENTION.finditer(text):
        index = next(i for i, group in enumerate(m.groups()) if group is not None)
        found.append(_Mention(_UNIT_WORDS[index][0], m.start(), m.end()))
    for m in _SHORT_UNIT.finditer(text):
        if any(f.start <= m.start() < f.end for f in found):
            continue
        before = text[: m.start()]
        after = text[m.end() :]
        numbered = re.search(r"\d\s*$", before) is not None
        targeted = re.search(r"\b(?:to|into|in)\s+$", before) is not None and not after.strip(_TAIL_PUNCT)
        code = _SHORT_CODES[m.group("u").lower()]
        if code == "in" and not (numbered and re.match(r"\s+(?:to|into|in)\b", after)):
            continue
        if numbered or targeted:
            found.append(_Mention(code, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def _value_before(text: str, start: int) -> Fraction | None:
    before = text[:start]
    if _HALF_BEFORE.search(before):
        return Fraction(1, 2)
    m = _NUM_BEFORE.search(before)
    if m is None:
        return None
    if m.group("ar"):
        value = _ar_number(m.group("ar"))
    elif m.group("zh"):
        value = _zh_number(m.group("zh"))
    else:
        value = Fraction(1)
    if value is None:
        return None
    if m.group("and_half"):
        value += Fraction(1, 2)
    return -value if m.group("neg") else value


def _prepare_units(text: str) -> str:
    # a 5k run → 5 km
    text = re.sub(r"(?<![\d.])(\d+(?:\.\d+)?)\s*k(?=\s+(?:runs?|races?)\b)", r"\1 km", text, flags=re.ASCII)
    # 华氏100度 → 100华氏度 ; 一米八 → 一点八米 ; 一斤半 → 一点五斤
    text = re.sub(rf"(华氏|摄氏)\s*(?P<n>{_NEGATIVE}?(?:{_AR_NUM}|{_ZH_NUM}))\s*度?", r"\g<n>\1度", text)
    text = re.sub(
        rf"(?P<n>{_AR_NUM}|{_ZH_NUM})米(?P<d>[一二三四五六七八九\d][零一二三四五六七八九\d]?)(?![\d{_ZH_NUMERAL}]|厘|公|米|英)",
        r"\g<n>点\g<d>米",
        text,
    )
    text = re.sub(r"(?P<n>\d+)米(?P<d>\d\d?)(?!\d)", r"\g<n>.\g<d>米", text)
    # 三十八度五 → 三十八点五度 (a temperature said like a fever)
    text = re.sub(
        rf"(?P<n>{_AR_NUM}|{_ZH_NUM})度(?P<d>[一二三四五六七八九\d])(?![\d{_ZH_NUMERAL}])",
        lambda m: f"{m['n']}{'.' if m['n'][-1].isdigit() else '点'}{m['d']}度",
        text,
    )
    text = re.sub(rf"(?P<n>{_ZH_NUM})(?P<u>公斤|市斤|斤|公里|英里|米|磅|升|加仑)半", r"\g<n>点五\g<u>", text)
    text = re.sub(r"(?P<n>\d+)\s*(?P<u>公斤|市斤|斤|公里|英里|米|磅|升|加仑)半", r"\g<n>.5\g<u>", text)
    return text


_TARGET_MARK = re.compile(
    r"(?:多少|几|成|为|到|换算|转换|转|合|等于|\bto|\binto|\bin|\bhow\s+many|\bhow\s+much)\s*$",
    re.I | re.ASCII,
)


def _convert_parts(utt: Utterance) -> tuple[Fraction | None, str | None, str | None]:
    text = _prepare_units(utt.numeric)
    mentions = _unit_mentions(text)
    if not mentions:
        return None, None, None
    valued = [
        _Mention(m.unit, m.start, m.end, _value_before(text, m.start)) for m in mentions if m.unit is not None
    ]
    source = next((m for m in valued if m.value is not None), None)
    if any(m.unit is None and _value_before(text, m.start) is not None for m in mentions):
        return None, None, None  # a number with a unit outside the contract (500毫升)
    if source is None:  # "英里和公里怎么换算": units but no number
        known = [m for m in valued if m.unit]
        first = known[0] if known else None
        rest = [m for m in known if first is not None and m.unit != first.unit]
        return None, first.unit if first else None, rest[-1].unit if rest else None
    others = [m for m in valued if m is not source and m.unit != source.unit]
    marked = [m for m in others if _TARGET_MARK.search(text[: m.start])]
    target = (marked or others)[-1] if others else None
    from_unit = source.unit
    to_unit = target.unit if target else None
    if from_unit == "deg":
        from_unit = "f" if to_unit == "c" else "c"
    if to_unit == "deg":
        to_unit = "f" if from_unit == "c" else "c"
    return source.value, from_unit, to_unit


def _converted(value: Fraction, from_unit: str, to_unit: str) -> Fraction | None:
    source, target = _FACTORS.get(from_unit), _FACTORS.get(to_unit)
    if source is None or target is None or source[0] != target[0]:
        return None
    if source[0] == "temperature":
        if from_unit == to_unit:
            return value
        return value * Fraction(9, 5) + 32 if from_unit == "c" else (value - 32) * Fraction(5, 9)
    return value * source[1] / target[1]


def fill_convert_unit(utt: Utterance, ctx: Context) -> Fill:
    if len(utt.text) > MAX_COMMAND_CHARS:
        return Fill(False)
    value, from_unit, to_unit = _convert_parts(utt)
    slots: dict[str, SlotValue] = {}
    if value is not None:
        slots["value"] = _json_number(value)
    if from_unit in _FACTORS:
        slots["from_unit"] = str(from_unit)
    if to_unit in _FACTORS:
        slots["to_unit"] = str(to_unit)
    complete = (
        value is not None
        and from_unit is not None
        and to_unit is not None
        and _converted(value, from_unit, to_unit) is not None
    )
    if not complete:
        return Fill(False, slots)
    return Fill(True, slots, Action("converter.show", dict(slots)))


_UNIT_ZH = {
    "km": "公里",
    "mi": "英里",
    "m": "米",
    "ft": "英尺",
    "cm": "厘米",
    "in": "英寸",
    "kg": "公斤",
    "lb": "磅",
    "jin": "斤",
    "g": "克",
    "oz": "盎司",
    "c": "摄氏度",
    "f": "华氏度",
    "l": "升",
    "gal": "加仑",
}
_UNIT_EN = {
    "km": ("kilometer", "kilometers"),
    "mi": ("mile", "miles"),
    "m": ("meter", "meters"),
    "ft": ("foot", "feet"),
    "cm": ("centimeter", "centimeters"),
    "in": ("inch", "inches"),
    "kg": ("kilogram", "kilograms"),
    "lb": ("pound", "pounds"),
    "jin": ("jin", "jin"),
    "g": ("gram", "grams"),
    "oz": ("ounce", "ounces"),
    "c": ("°C", "°C"),
    "f": ("°F", "°F"),
    "l": ("liter", "liters"),
    "gal": ("US gallon", "US gallons"),
}


def _amount_en(number: str, unit: str) -> str:
    one, many = _UNIT_EN[unit]
    if unit in ("c", "f"):
        return f"{number}{one}"
    return f"{number} {one if number == '1' else many}"


def confirm_convert_unit(slots: Slots, lang: Lang, now: datetime) -> str:
    value = slots["value"]
    from_unit, to_unit = str(slots["from_unit"]), str(slots["to_unit"])
    exact = _converted(Fraction(str(value)), from_unit, to_unit)
    if lang == "zh":
        said = f"{_said(value)}{_UNIT_ZH[from_unit]}"
        if exact is None:
            return f"好的，正在把{said}换算成{_UNIT_ZH[to_unit]}"
        shown, is_exact = _rounded(exact)
        return f"{said}{'' if is_exact else '约'}等于{shown}{_UNIT_ZH[to_unit]}"
    said = _amount_en(_said(value), from_unit)
    if exact is None:
        return f"Converting {said} to {_UNIT_EN[to_unit][1]}."
    shown, is_exact = _rounded(exact)
    return f"{said} is {'' if is_exact else 'about '}{_amount_en(shown, to_unit)}."


def ask_convert_unit(slots: Slots, lang: Lang) -> str:
    from_unit, to_unit = slots.get("from_unit"), slots.get("to_unit")
    zh = lang == "zh"
    if from_unit and to_unit and "value" in slots:
        if zh:
            return f"{_UNIT_ZH[str(from_unit)]}没法换算成{_UNIT_ZH[str(to_unit)]}，你想换算什么？"
        return (
            f"{_UNIT_EN[str(from_unit)][1].capitalize()} can't be converted to "
            f"{_UNIT_EN[str(to_unit)][1]}. What should I convert?"
        )
    if from_unit and "value" in slots:
        if zh:
            return f"好的，要把{_said(slots['value'])}{_UNIT_ZH[str(from_unit)]}换算成什么单位？"
        return f"Sure, what unit should I convert {_amount_en(_said(slots['value']), str(from_unit))} to?"
    if from_unit and to_unit:
        if zh:
            return f"好的，要把多少{_UNIT_ZH[str(from_unit)]}换算成{_UNIT_ZH[str(to_unit)]}？"
        return (
            f"Sure, how many {_UNIT_EN[str(from_unit)][1]} should I convert to {_UNIT_EN[str(to_unit)][1]}?"
        )
    return (
        "好的，你想换算什么？比如“5公里是多少英里”"
        if zh
        else "Sure, what should I convert? For example, “5 km in miles”."
    )


# ------------------------------------------------------------------------------------- convert_currency

_CURRENCY_WORDS: tuple[tuple[str | None, str], ...] = (
    ("HKD", r"港币|港元|港纸|\bhkd\b|\bhk\s*\$|\b(?:hk|hong\s+kong)\s+dollars?\b"),
    (None, r"澳元|澳币|加元|加币|新加坡元|新币|台币|新台币|泰铢|卢布|瑞士法郎|法郎|卢比|澳门币|澳门元"),
    (
        None,
        r"\b(?:aud|cad|sgd|twd|thb|rub|chf|inr)\b|\b(?:australian|canadian|singapore|taiwan)\s+dollars?\b"
        r"|\brubles?\b|\bbaht\b|\bfrancs?\b|\brupees?\b",
    ),
    (
        "USD",
        r"美元|美金|美刀|\busd\b|\bus\s*\$|\b(?:us|american|u\.s\.)\s+dollars?\b|\bdollars?\b|\bbucks?\b|\$",
    ),
    ("EUR", r"欧元|\beur\b|\beuros?\b|€"),
    ("JPY", r"日元|日币|日圆|円|\bjpy\b|\b(?:japanese\s+)?yen\b"),
    ("GBP", r"英镑|\bgbp\b|\b(?:british\s+)?pounds?(?:\s+sterling)?\b|\bquid\b|£"),
    ("KRW", r"韩元|韩币|\bkrw\b|\b(?:korean\s+|south\s+korean\s+)?won\b|₩"),
    ("CNY", r"人民币|\brmb\b|\bcny\b|\brenminbi\b|\b(?:chinese\s+)?yuan\b|¥|块钱|元钱"),
    ("CNY_AFTER_NUMBER", r"块|元"),
    ("USD_AFTER_NUMBER", r"刀"),
)
_CURRENCY_MENTION = re.compile(
    "|".join(f"(?P<c{i}>{_letters(words)})" for i, (_, words) in enumerate(_CURRENCY_WORDS)),
    re.I | re.ASCII,
)
_SYMBOL_NUMBER = re.compile(rf"\s*(?P<n>{_AR_SCALED})")


def _currency_mentions(text: str) -> list[_Mention]:
    found: list[_Mention] = []
    for m in _CURRENCY_MENTION.finditer(text):
        index = next(i for i, group in enumerate(m.groups()) if group is not None)
        code = _CURRENCY_WORDS[index][0]
        value = _value_before(text, m.start())
        if code and code.endswith("_AFTER_NUMBER"):
            if value is None:
                continue
            code = code.split("_")[0]
        symbol = m.group(0) in ("$", "¥", "€", "£", "₩") or re.fullmatch(r"[a-z]{3}", m.group(0), re.I)
        if value is None and symbol:
            after = _SYMBOL_NUMBER.match(text, m.end())
            if after is not None:
                value = _ar_number(after.group("n"))
        found.append(_Mention(code, m.start(), m.end(), value))
    return found


_BUYING = re.compile(
    r"(?:换|兑换|买|购买|\bbuy|\bget|\bexchange\s+(?:money\s+)?(?:for|into)|\bneed)"
    r"(?:点|些|一些|一点|成|\s+some)?\s*$",
    re.I | re.ASCII,
)


def _currency_parts(utt: Utterance) -> tuple[Fraction | None, str | None, str | None, bool]:
    """(amount, from, to, a currency outside the contract was named)."""
    text = utt.numeric
    mentions = _currency_mentions(text)
    unknown = any(m.unit is None for m in mentions)
    known = [m for m in mentions if m.unit is not None]
    if not known:
        return None, None, None, unknown
    source = next((m for m in known if m.value is not None), None)
    if source is None:
        first = known[0]
        rest = [m for m in known if m.unit != first.unit]
        if not rest and first.unit != "CNY" and _BUYING.search(text[: first.start]):
            return None, "CNY", first.unit, unknown  # 我要换点欧元: yuan into euros
        return None, first.unit, rest[0].unit if rest else None, unknown
    others = [m for m in known if m.unit != source.unit]
    return source.value, source.unit, others[-1].unit if others else None, unknown


def fill_convert_currency(utt: Utterance, ctx: Context) -> Fill:
    if len(utt.text) > MAX_COMMAND_CHARS:
        return Fill(False)
    amount, from_currency, to_currency, unknown = _currency_parts(utt)
    slots: dict[str, SlotValue] = {}
    if amount is not None and amount > 0:
        slots["amount"] = _json_number(amount, 2)
    if from_currency:
        slots["from_currency"] = from_currency
    if from_currency and not to_currency and not unknown and from_currency != "CNY":
        to_currency = "CNY"  # users in mainland China: a foreign currency alone is asked in yuan
    if to_currency:
        slots["to_currency"] = to_currency
    if not from_currency or not to_currency or unknown:
        return Fill(False, slots)
    return Fill(True, slots, Action("currency.show", dict(slots)))


_CURRENCY_ZH = {
    "CNY": "人民币",
    "USD": "美元",
    "EUR": "欧元",
    "JPY": "日元",
    "HKD": "港币",
    "GBP": "英镑",
    "KRW": "韩元",
}
_CURRENCY_EN = {  # (one, many)
    "CNY": ("Chinese yuan", "Chinese yuan"),
    "USD": ("US dollar", "US dollars"),
    "EUR": ("euro", "euros"),
    "JPY": ("Japanese yen", "Japanese yen"),
    "HKD": ("Hong Kong dollar", "Hong Kong dollars"),
    "GBP": ("British pound", "British pounds"),
    "KRW": ("Korean won", "Korean won"),
}


def confirm_convert_currency(slots: Slots, lang: Lang, now: datetime) -> str:
    source, target = str(slots["from_currency"]), str(slots["to_currency"])
    amount = slots.get("amount")
    if lang == "zh":
        if amount is not None:
            return f"好的，按实时汇率把{_said(amount)}{_CURRENCY_ZH[source]}换算成{_CURRENCY_ZH[target]}"
        return f"好的，这是{_CURRENCY_ZH[source]}兑{_CURRENCY_ZH[target]}的实时汇率"
    if amount is not None:
        said = _said(amount)
        money = f"{said} {_CURRENCY_EN[source][0 if said == '1' else 1]}"
        return f"Converting {money} to {_CURRENCY_EN[target][1]} at the current exchange rate."
    return f"Here's the current {_CURRENCY_EN[source][0]} to {_CURRENCY_EN[target][0]} exchange rate."


def ask_convert_currency(slots: Slots, lang: Lang) -> str:
    source = slots.get("from_currency")
    zh = lang == "zh"
    if source:
        if zh:
            return f"好的，要把{_CURRENCY_ZH[str(source)]}换成哪种货币？"
        return f"Sure, which currency should I convert {_CURRENCY_EN[str(source)][1]} into?"
    if zh:
        return "好的，你想换算哪种货币？我能查人民币、美元、欧元、日元、港币、英镑和韩元的汇率。"
    return "Sure, which currencies? I can show yuan, US dollar, euro, yen, HK dollar, pound and won rates."


SKILLS: tuple[Skill, ...] = (
    Skill("translate", fill_translate, confirm_translate, ask_translate),
    Skill("calculate", fill_calculate, confirm_calculate, ask_calculate),
    Skill("convert_unit", fill_convert_unit, confirm_convert_unit, ask_convert_unit),
    Skill("convert_currency", fill_convert_currency, confirm_convert_currency, ask_convert_currency),
)
