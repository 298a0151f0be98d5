"""Fictional people, companies and identifiers for Demo County 演示县.

Every name is composed from the short lists below (a common surname plus two given-name
characters drawn from two lists), so no list of real people's names can leak into the
demo, and a test can prove it by decomposing each generated name. Identifiers carry valid
check characters (GB 11643-1999 resident IDs, GB 32100-2015 credit codes, GB 11714
organisation codes) but are built on division codes that do not exist (4299xx), so they
cannot belong to anyone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from hub.identity import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_char,
    resident_id_check_char,
    sole_trader_placeholder,
)

__all__ = [
    "BUSINESS_WORDS",
    "COMPANY_SUFFIX",
    "COUNTY_NAME",
    "FICTIONAL_DIVISIONS",
    "GB18030_ONLY_GIVEN_CHARACTERS",
    "GIVEN_FIRST_CHARACTERS",
    "GIVEN_SECOND_CHARACTERS",
    "INDUSTRY_WORDS",
    "SHOP_KINDS",
    "SURNAMES",
    "TOWNS",
    "IdentityFactory",
    "Party",
    "organisation_code_check_char",
]

#: The demo county's name; every company and shop is registered here.
COUNTY_NAME = "演示县"
#: Fictional GB/T 2260-shaped division codes (province 42, prefecture 99 does not exist).
FICTIONAL_DIVISIONS = ("429901", "429902", "429903")

SURNAMES = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "林",
    "罗",
    "高",
)
GIVEN_FIRST_CHARACTERS = (
    "建",
    "志",
    "文",
    "春",
    "秋",
    "晓",
    "海",
    "玉",
    "明",
    "丽",
    "国",
    "永",
    "德",
    "雪",
    "佳",
    "子",
    "宇",
    "静",
    "慧",
    "云",
)
GIVEN_SECOND_CHARACTERS = (
    "华",
    "强",
    "芳",
    "军",
    "平",
    "红",
    "林",
    "敏",
    "杰",
    "涛",
    "霞",
    "峰",
    "梅",
    "琳",
    "波",
    "娟",
    "辉",
    "洁",
    "刚",
    "燕",
)
#: Rare name characters outside GBK (CJK Extension A): only agencies that export GB18030 or
#: UTF-8 have people with these, which proves a connector detects GB18030 instead of
#: assuming GBK.
GB18030_ONLY_GIVEN_CHARACTERS = ("㛃", "䶮")

#: Trade names 字号 are two characters from these (each pair is an invented combination).
BUSINESS_WORDS = (
    "鑫",
    "达",
    "恒",
    "通",
    "瑞",
    "丰",
    "宏",
    "远",
    "金",
    "源",
    "盛",
    "兴",
    "顺",
    "富",
    "嘉",
    "禾",
    "润",
    "泽",
    "佳",
    "诚",
)
#: Industry words per enforcement domain, so a forestry case concerns a timber company.
INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "market_regulation": ("商贸", "食品", "服装", "电器", "日用品"),
    "tobacco": ("商贸", "烟酒", "百货"),
    "environment": ("化工", "再生资源", "电镀", "印染"),
    "forestry": ("木业", "林业开发", "家具"),
    "natural_resources": ("矿业", "建材", "砂石"),
    "tax": ("商贸", "电子科技", "贸易"),
    "emergency_safety": ("化工", "建材", "烟花爆竹"),
    "agriculture": ("水产养殖", "农业开发", "农资"),
    "health": ("医药", "医疗器械", "健康管理"),
    "human_resources": ("建筑劳务", "服装", "电子"),
    "culture": ("文化传媒", "网络科技", "娱乐"),
    "transport": ("物流", "运输", "客运"),
    "housing": ("建筑工程", "房地产开发", "装饰工程"),
    "water": ("砂石", "水利工程", "建材"),
}
COMPANY_SUFFIX = "有限公司"
#: Shop kinds of sole traders 个体工商户 per domain.
SHOP_KINDS: dict[str, tuple[str, ...]] = {
    "market_regulation": ("副食店", "服装店", "小吃店"),
    "tobacco": ("烟酒店", "便利店", "副食店"),
    "environment": ("汽修厂", "洗车店", "废品收购站"),
    "forestry": ("木材加工厂", "木材经营部"),
    "natural_resources": ("砖厂", "采石场"),
    "tax": ("经营部", "批发部"),
    "emergency_safety": ("五金店", "加油点", "烟花爆竹店"),
    "agriculture": ("农资店", "养殖场", "渔具店"),
    "health": ("诊所", "药店", "足浴店"),
    "human_resources": ("加工厂", "装修队"),
    "culture": ("网吧", "歌厅", "书店"),
    "transport": ("运输队", "汽车修理店"),
    "housing": ("装修队", "建材店"),
    "water": ("砂场", "渔家乐"),
}
#: Fictional towns and townships of the county.
TOWNS = ("城关镇", "青石镇", "柳湾镇", "白沙乡", "桃源乡", "松岭镇", "河口镇", "梅溪乡")
_ROADS = ("建设路", "人民路", "新华街", "滨河路", "工业园路", "解放街")

_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORGANISATION_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def organisation_code_check_char(first8: str) -> str:
    """GB 11714 check character of a 9-character organisation code 组织机构代码.

    The organisation code is the 9th–17th characters of a credit code; giving it a valid
    check character too keeps the fictional codes indistinguishable in shape from real ones.
    """
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in first8]
    check = 11 - sum(v * w for v, w in zip(values, _ORGANISATION_WEIGHTS, strict=True)) % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


@dataclass(frozen=True, slots=True)
class Party:
    """A party 行政相对人 of a penalty case, as the 双公示 format describes it.

    ``category`` is the national format's wording: 法人及非法人组织, 自然人 or 个体工商户.
    ``person_name``/``person_id`` are the legal representative (organisations), the operator
    (sole traders) or the person (natural persons).
    """

    name: str
    category: str
    credit_code: str
    person_name: str
    person_id: str
    address: str

    @property
    def is_natural_person(self) -> bool:
        """Natural persons have no credit code; their 证件号码 identifies them."""
        return self.category == "自然人"

    @property
    def matching_id(self) -> str:
        """The identifier police feedback carries for this party (credit code or ID)."""
        if self.credit_code and self.credit_code != sole_trader_placeholder():
            return self.credit_code
        return self.person_id


class IdentityFactory:
    """Deterministic source of unique fictional names and identifiers.

    Uniqueness matters for the feedback matcher: two different parties sharing an ID would
    make an unplanned ambiguity. The factory keeps every issued identifier.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._resident_ids: set[str] = set()
        self._credit_codes: set[str] = set()
        self._company_names: set[str] = set()

    def person_name(self, *, allow_gb18030_only: bool = False) -> str:
        """A three-character name: surname + two given-name characters from the lists."""
        rng = self._rng
        second_pool: tuple[str, ...] = GIVEN_SECOND_CHARACTERS
        if allow_gb18030_only and rng.random() < 0.04:
            second_pool = GB18030_ONLY_GIVEN_CHARACTERS
        return rng.choice(SURNAMES) + rng.choice(GIVEN_FIRST_CHARACTERS) + rng.choice(second_pool)

    def resident_id(
        self, *, born_from: date = date(1958, 1, 1), born_until: date = date(2003, 12, 31)
    ) -> str:
        """A valid-checksum resident ID on a fictional division code, unique in this run."""
        rng = self._rng
        span = (born_until - born_from).days
        while True:
            birth = born_from + timedelta(days=rng.randrange(span))
            first17 = (
                rng.choice(FICTIONAL_DIVISIONS)
                + birth.strftime("%Y%m%d")
                + f"{rng.randrange(1000):03d}"
            )
            value = first17 + resident_id_check_char(first17)
            if value not in self._resident_ids:
                self._resident_ids.add(value)
                return value

    def credit_code(self, prefix: str) -> str:
        """A valid-checksum 统一社会信用代码: ``prefix`` 91 company, 92 sole trader, 11 organ."""
        rng = self._rng
        while True:
            body = "MA" + "".join(
                rng.choice(_ORGANISATION_ALPHABET[:10] + "ABCDEFGHJKLMN") for _ in range(6)
            )
            organisation = body + organisation_code_check_char(body)
            first17 = prefix + FICTIONAL_DIVISIONS[0] + organisation
            if any(c not in CREDIT_CODE_ALPHABET for c in first17):
                continue
            value = first17 + credit_code_check_char(first17)
            if value not in self._credit_codes:
                self._credit_codes.add(value)
                return value

    def address(self) -> str:
        """A fictional street address in one of the county's towns."""
        rng = self._rng
        return f"{COUNTY_NAME}{rng.choice(TOWNS)}{rng.choice(_ROADS)}{rng.randrange(1, 300)}号"

    def company_name(self, domain: str) -> str:
        """演示县 + two-character trade name + industry + 有限公司, unique in this run."""
        rng = self._rng
        industries = INDUSTRY_WORDS[domain]
        for _ in range(1000):
            first, second = rng.sample(BUSINESS_WORDS, 2)
            name = f"{COUNTY_NAME}{first}{second}{rng.choice(industries)}{COMPANY_SUFFIX}"
            if name not in self._company_names:
                self._company_names.add(name)
                return name
        # More companies than trade-name combinations: number them, still fictional.
        name = f"{COUNTY_NAME}{rng.choice(BUSINESS_WORDS)}{len(self._company_names)}"
        name += f"{rng.choice(industries)}{COMPANY_SUFFIX}"
        self._company_names.add(name)
        return name

    def party(self, domain: str, category: str, *, allow_gb18030_only: bool = False) -> Party:
        """A new party of the given 双公示 category for a case of ``domain``."""
        rng = self._rng
        person = self.person_name(allow_gb18030_only=allow_gb18030_only)
        person_id = self.resident_id()
        if category == "法人及非法人组织":
            return Party(
                self.company_name(domain),
                category,
                self.credit_code("91"),
                person,
                person_id,
                self.address(),
            )
        if category == "个体工商户":
            town = rng.choice(TOWNS)
            shop = f"{COUNTY_NAME}{town}{person[0]}记{rng.choice(SHOP_KINDS[domain])}"
            has_code = rng.random() < 0.6
            code = self.credit_code("92") if has_code else sole_trader_placeholder()
            return Party(shop, category, code, person, person_id, self.address())
        return Party(person, "自然人", "", person, person_id, self.address())
