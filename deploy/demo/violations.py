"""Violation types 违法行为类型 of the demo county, with what the generator needs to plant.

The codes must be the hub's own (``hub/rules/violation_types.yaml``) or screening cannot
map a case to its offence. Each entry here adds what only the generator needs: how big a
typical case is, which party categories commit it, and which criminal filing threshold
(``hub/rules/thresholds.yaml``) it can reach, so that a planted case can sit exactly at
80–100 % of a threshold or above it, and an ordinary case stays clearly below every one.

Threshold figures are copied from ``hub/rules/thresholds.yaml`` (lower bound of a
province-set range, which is what the hub screens against); a test checks they agree, and
the generator screens every case with the hub's own rule data before it writes a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from hub.errors import ConfigError
from hub.rules.violations import load_violation_types

__all__ = [
    "VIOLATION_TYPES",
    "AmountKind",
    "ViolationType",
    "load_catalogue",
    "violation_types_by_domain",
]

#: What the ``涉案金额（万元）`` column means for a violation type; it maps to the
#: threshold basis of the same name in ``hub/rules/thresholds.yaml``.
AmountKind = str

LEGAL = "法人及非法人组织"
SOLE = "个体工商户"
NATURAL = "自然人"


@dataclass(frozen=True, slots=True)
class ViolationType:
    """One violation type and the generator's knowledge of it.

    Thresholds are in yuan (money) or in ``quantity_unit`` (quantities). ``*_upper`` is the
    top of a province-set range: a planted above-threshold case exceeds it, so the case is
    criminal-sized whatever figure a province chose; an 80–100 % case is measured against
    the lower bound, which is the figure the hub ships.
    """

    key: str
    code: str | None
    label: str
    domain: str
    offence_id: str | None = None
    offence_name: str | None = None
    offence_category: str | None = None
    amount_kind: AmountKind | None = None
    amount_threshold: Decimal | None = None
    amount_upper: Decimal | None = None
    gains_threshold: Decimal | None = None
    quantity_item: str | None = None
    quantity_unit: str | None = None
    quantity_threshold: Decimal | None = None
    quantity_upper: Decimal | None = None
    individual_only_threshold: bool = False
    plant: str | None = None
    plain: bool = True
    fine_median: int = 5000
    weight: float = 1.0
    party_mix: tuple[float, float, float] = (0.5, 0.3, 0.2)
    summary_share: float = 0.0
    referable: bool = False
    legal_basis: str = ""
    fact: str = ""

    @property
    def has_threshold(self) -> bool:
        """A type with a numeric threshold can be planted at or near it."""
        return self.amount_threshold is not None or self.quantity_threshold is not None

    @property
    def party_categories(self) -> tuple[str, str, str]:
        """The three 双公示 party categories in the order of ``party_mix``."""
        return (LEGAL, SOLE, NATURAL)


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _vt(**kwargs: Any) -> ViolationType:
    for key in (
        "amount_threshold",
        "amount_upper",
        "gains_threshold",
        "quantity_threshold",
        "quantity_upper",
    ):
        if key in kwargs:
            kwargs[key] = _d(kwargs[key])
    return ViolationType(**kwargs)


#: ``plant``: "amount" or "quantity" — the basis a planted near/above-threshold case uses;
#: "qualifying" — the code alone meets the threshold (planted once, never in ordinary
#: cases: ``plain=False``); "repeat" — the threshold counts earlier penalties (a third
#: penalty of one person). None: never planted (bases the penalty format cannot carry,
#: such as the tax-evasion share of tax due). ``code`` None: an administrative-only type
#: the hub's code list has no code for (the export leaves 违法行为类型代码 empty).
VIOLATION_TYPES: tuple[ViolationType, ...] = (
    # market 市场监管
    _vt(
        key="MKT-UNLICENSED",
        code="MR-UNLICENSED-OPERATION",
        label="",
        domain="market_regulation",
        fine_median=3000,
        weight=0.2,
        party_mix=(0.1, 0.5, 0.4),
        summary_share=0.2,
        legal_basis="《无证无照经营查处办法》第十三条",
        fact="未依法取得营业执照从事经营活动",
    ),
    _vt(
        key="MKT-PRICE",
        code=None,
        label="价格违法行为",
        domain="market_regulation",
        fine_median=4000,
        weight=0.1,
        party_mix=(0.6, 0.4, 0.0),
        summary_share=0.1,
        legal_basis="《价格违法行为行政处罚规定》第十三条",
        fact="未按规定明码标价",
    ),
    _vt(
        key="MKT-ADVERTISING",
        code=None,
        label="虚假宣传",
        domain="market_regulation",
        fine_median=20000,
        weight=0.15,
        party_mix=(0.8, 0.2, 0.0),
        legal_basis="《中华人民共和国反不正当竞争法》第二十条",
        fact="对商品性能作虚假宣传",
    ),
    _vt(
        key="MKT-FAKE-PRODUCT",
        code="MR-FAKE-PRODUCT",
        label="",
        domain="market_regulation",
        offence_id="fake-inferior-products",
        offence_name="生产、销售伪劣产品罪",
        offence_category="economic",
        amount_kind="sales_amount",
        amount_threshold="50000",
        plant="amount",
        fine_median=8000,
        weight=0.2,
        party_mix=(0.5, 0.4, 0.1),
        referable=True,
        legal_basis="《中华人民共和国产品质量法》第五十条",
        fact="在产品中掺杂、掺假，以次充好并对外销售",
    ),
    _vt(
        key="MKT-TRADEMARK",
        code="MR-COUNTERFEIT-TRADEMARK",
        label="",
        domain="market_regulation",
        offence_id="counterfeit-trademark",
        offence_name="假冒注册商标罪",
        offence_category="economic",
        amount_kind="turnover",
        amount_threshold="50000",
        gains_threshold="30000",
        plant="amount",
        fine_median=10000,
        weight=0.1,
        party_mix=(0.4, 0.5, 0.1),
        referable=True,
        legal_basis="《中华人民共和国商标法》第六十条",
        fact="销售侵犯注册商标专用权的商品",
    ),
    _vt(
        key="MKT-FOOD-LABEL",
        code="MR-FOOD-LABEL",
        label="",
        domain="market_regulation",
        fine_median=2000,
        weight=0.2,
        party_mix=(0.4, 0.5, 0.1),
        summary_share=0.2,
        legal_basis="《中华人民共和国食品安全法》第一百二十五条",
        fact="经营标签不符合规定的预包装食品",
    ),
    _vt(
        key="MKT-FOOD-SAFETY",
        code="MR-UNSAFE-FOOD-HAZARD",
        label="",
        domain="market_regulation",
        offence_id="unsafe-food",
        offence_name="生产、销售不符合安全标准的食品罪",
        offence_category="food_drug",
        fine_median=6000,
        weight=0.0,
        plain=False,
        plant="qualifying",
        party_mix=(0.4, 0.5, 0.1),
        referable=True,
        legal_basis="《中华人民共和国食品安全法》第一百二十四条",
        fact="经营致病性微生物、农药残留等污染物质超过食品安全标准限量的食品",
    ),
    # tobacco 烟草
    _vt(
        key="TOB-UNLICENSED-RETAIL",
        code="TOB-UNLICENSED-RETAIL",
        label="",
        domain="tobacco",
        offence_id="illegal-business-tobacco",
        offence_name="非法经营罪",
        offence_category="economic",
        amount_kind="turnover",
        amount_threshold="50000",
        gains_threshold="20000",
        quantity_item="卷烟",
        quantity_unit="支",
        quantity_threshold="200000",
        plant="quantity",
        fine_median=3000,
        weight=0.55,
        party_mix=(0.05, 0.6, 0.35),
        referable=True,
        legal_basis="《中华人民共和国烟草专卖法实施条例》第五十七条",
        fact="无烟草专卖零售许可证经营卷烟",
    ),
    _vt(
        key="TOB-OFF-CHANNEL",
        code=None,
        label="未在当地烟草专卖批发企业进货",
        domain="tobacco",
        fine_median=1500,
        weight=0.45,
        party_mix=(0.05, 0.9, 0.05),
        summary_share=0.1,
        quantity_item="卷烟",
        quantity_unit="支",
        legal_basis="《中华人民共和国烟草专卖法实施条例》第五十六条",
        fact="未在当地烟草专卖批发企业进货",
    ),
    # environment 生态环境
    _vt(
        key="ENV-HAZARDOUS-WASTE",
        code="ENV-HAZARDOUS-WASTE",
        label="",
        domain="environment",
        offence_id="environmental-pollution",
        offence_name="污染环境罪",
        offence_category="environment_resources",
        quantity_item="危险废物",
        quantity_unit="吨",
        quantity_threshold="3",
        plant="quantity",
        fine_median=100000,
        weight=0.25,
        party_mix=(0.8, 0.15, 0.05),
        referable=True,
        legal_basis="《中华人民共和国固体废物污染环境防治法》第一百一十二条",
        fact="将危险废物提供给无经营许可证的单位处置",
    ),
    _vt(
        key="ENV-AIR-EMISSION",
        code=None,
        label="大气污染物排放超过标准",
        domain="environment",
        fine_median=150000,
        weight=0.35,
        party_mix=(0.9, 0.1, 0.0),
        legal_basis="《中华人民共和国大气污染防治法》第九十九条",
        fact="超过大气污染物排放标准排放大气污染物",
    ),
    _vt(
        key="ENV-EIA",
        code=None,
        label="建设项目未依法进行环境影响评价",
        domain="environment",
        fine_median=50000,
        weight=0.25,
        party_mix=(0.9, 0.1, 0.0),
        legal_basis="《中华人民共和国环境影响评价法》第三十一条",
        fact="建设项目环境影响报告表未经批准擅自开工建设",
    ),
    _vt(
        key="ENV-NOISE",
        code=None,
        label="噪声污染",
        domain="environment",
        fine_median=10000,
        weight=0.15,
        party_mix=(0.6, 0.4, 0.0),
        legal_basis="《中华人民共和国噪声污染防治法》第七十七条",
        fact="夜间施工产生噪声污染",
    ),
    # forestry 林业
    _vt(
        key="FOR-THEFT-LOGGING",
        code="FOR-THEFT-LOGGING",
        label="",
        domain="forestry",
        offence_id="illegal-logging-theft",
        offence_name="盗伐林木罪",
        offence_category="forestry_wildlife",
        quantity_item="林木蓄积",
        quantity_unit="立方米",
        quantity_threshold="2",
        quantity_upper="5",
        plant="quantity",
        fine_median=4000,
        weight=0.3,
        party_mix=(0.05, 0.1, 0.85),
        referable=True,
        legal_basis="《中华人民共和国森林法》第七十六条",
        fact="未经许可擅自采伐他人林木",
    ),
    _vt(
        key="FOR-EXCESSIVE-LOGGING",
        code="FOR-EXCESS-LOGGING",
        label="",
        domain="forestry",
        offence_id="illegal-logging-excessive",
        offence_name="滥伐林木罪",
        offence_category="forestry_wildlife",
        quantity_item="林木蓄积",
        quantity_unit="立方米",
        quantity_threshold="10",
        quantity_upper="20",
        plant="quantity",
        fine_median=6000,
        weight=0.3,
        party_mix=(0.2, 0.2, 0.6),
        referable=True,
        legal_basis="《中华人民共和国森林法》第七十六条",
        fact="未取得采伐许可证或超出许可范围采伐林木",
    ),
    _vt(
        key="FOR-FOREST-LAND",
        code="FOR-OCCUPY-FOREST-LAND",
        label="",
        domain="forestry",
        offence_id="illegal-occupation-of-farmland",
        offence_name="非法占用农用地罪",
        offence_category="environment_resources",
        quantity_item="林地",
        quantity_unit="亩",
        quantity_threshold="10",
        plant="quantity",
        fine_median=20000,
        weight=0.2,
        party_mix=(0.5, 0.2, 0.3),
        referable=True,
        legal_basis="《中华人民共和国森林法》第七十三条",
        fact="未经批准擅自改变林地用途",
    ),
    _vt(
        key="FOR-TIMBER-TRANSPORT",
        code=None,
        label="违法运输木材",
        domain="forestry",
        fine_median=2000,
        weight=0.2,
        party_mix=(0.2, 0.3, 0.5),
        summary_share=0.1,
        quantity_item="木材",
        quantity_unit="立方米",
        legal_basis="《中华人民共和国森林法》第七十八条",
        fact="运输无合法来源证明的木材",
    ),
    # natural resources 自然资源
    _vt(
        key="NR-ILLEGAL-MINING",
        code="NR-ILLEGAL-MINING",
        label="",
        domain="natural_resources",
        offence_id="illegal-mining",
        offence_name="非法采矿罪",
        offence_category="environment_resources",
        amount_kind="mineral_value",
        amount_threshold="100000",
        amount_upper="300000",
        plant="amount",
        fine_median=20000,
        weight=0.25,
        party_mix=(0.5, 0.2, 0.3),
        referable=True,
        legal_basis="《中华人民共和国矿产资源法》第三十九条",
        fact="未取得采矿许可证擅自开采建筑用石料",
    ),
    _vt(
        key="NR-BASIC-FARMLAND",
        code="NR-OCCUPY-BASIC-FARMLAND",
        label="",
        domain="natural_resources",
        offence_id="illegal-occupation-of-farmland",
        offence_name="非法占用农用地罪",
        offence_category="environment_resources",
        quantity_item="基本农田",
        quantity_unit="亩",
        quantity_threshold="5",
        plant="quantity",
        fine_median=30000,
        weight=0.15,
        party_mix=(0.5, 0.2, 0.3),
        referable=True,
        legal_basis="《中华人民共和国土地管理法》第七十五条",
        fact="未经批准占用永久基本农田建设厂房",
    ),
    _vt(
        key="NR-FARMLAND",
        code="NR-OCCUPY-FARMLAND",
        label="",
        domain="natural_resources",
        offence_id="illegal-occupation-of-farmland",
        offence_name="非法占用农用地罪",
        offence_category="environment_resources",
        quantity_item="耕地",
        quantity_unit="亩",
        quantity_threshold="10",
        plant="quantity",
        fine_median=20000,
        weight=0.25,
        party_mix=(0.4, 0.2, 0.4),
        referable=True,
        legal_basis="《中华人民共和国土地管理法》第七十七条",
        fact="未经批准非法占用耕地建房",
    ),
    _vt(
        key="NR-ILLEGAL-CONSTRUCTION",
        code=None,
        label="违反土地利用总体规划建设",
        domain="natural_resources",
        fine_median=15000,
        weight=0.35,
        party_mix=(0.5, 0.1, 0.4),
        legal_basis="《中华人民共和国城乡规划法》第六十四条",
        fact="未取得建设工程规划许可证进行建设",
    ),
    # tax 税务
    _vt(
        key="TAX-EVASION",
        code="TAX-EVASION",
        label="",
        domain="tax",
        offence_id="tax-evasion",
        offence_name="逃税罪",
        offence_category="economic",
        amount_kind="evaded_tax",
        amount_threshold="100000",
        fine_median=30000,
        weight=0.25,
        party_mix=(0.8, 0.2, 0.0),
        referable=True,
        legal_basis="《中华人民共和国税收征收管理法》第六十三条",
        fact="进行虚假纳税申报，少缴应纳税款",
    ),
    _vt(
        key="TAX-FALSE-INVOICE",
        code="TAX-FALSE-VAT-INVOICE",
        label="",
        domain="tax",
        offence_id="false-vat-invoices",
        offence_name="虚开增值税专用发票罪",
        offence_category="economic",
        amount_kind="invoice_tax",
        amount_threshold="100000",
        plant="amount",
        fine_median=50000,
        weight=0.15,
        party_mix=(0.95, 0.05, 0.0),
        referable=True,
        legal_basis="《中华人民共和国发票管理办法》第三十五条",
        fact="为他人虚开增值税专用发票",
    ),
    _vt(
        key="TAX-LATE-FILING",
        code=None,
        label="未按期进行纳税申报",
        domain="tax",
        fine_median=500,
        weight=0.4,
        party_mix=(0.6, 0.4, 0.0),
        summary_share=0.5,
        legal_basis="《中华人民共和国税收征收管理法》第六十二条",
        fact="未按照规定期限办理纳税申报",
    ),
    _vt(
        key="TAX-INVOICE-RULES",
        code=None,
        label="未按规定开具发票",
        domain="tax",
        fine_median=2000,
        weight=0.2,
        party_mix=(0.6, 0.4, 0.0),
        summary_share=0.3,
        legal_basis="《中华人民共和国发票管理办法》第三十五条",
        fact="应当开具而未开具发票",
    ),
    # emergency 应急管理
    _vt(
        key="EMG-SAFETY-DUTY",
        code=None,
        label="未落实安全生产主体责任",
        domain="emergency_safety",
        fine_median=30000,
        weight=0.4,
        party_mix=(0.95, 0.05, 0.0),
        legal_basis="《中华人民共和国安全生产法》第九十七条",
        fact="未按规定对从业人员进行安全生产教育和培训",
    ),
    _vt(
        key="EMG-HAZCHEM",
        code=None,
        label="违规储存危险化学品",
        domain="emergency_safety",
        fine_median=50000,
        weight=0.3,
        party_mix=(0.9, 0.1, 0.0),
        legal_basis="《危险化学品安全管理条例》第八十条",
        fact="未按规定储存危险化学品",
    ),
    _vt(
        key="EMG-UNCERTIFIED-OPERATOR",
        code=None,
        label="特种作业人员未持证上岗",
        domain="emergency_safety",
        fine_median=20000,
        weight=0.3,
        party_mix=(0.9, 0.1, 0.0),
        legal_basis="《中华人民共和国安全生产法》第九十七条",
        fact="特种作业人员未按照规定取得相应资格上岗作业",
    ),
    # agriculture 农业农村 (fisheries)
    _vt(
        key="AGR-ILLEGAL-FISHING",
        code="AGR-ILLEGAL-FISHING-INLAND",
        label="",
        domain="agriculture",
        offence_id="illegal-fishing",
        offence_name="非法捕捞水产品罪",
        offence_category="environment_resources",
        amount_kind="catch_value",
        amount_threshold="5000",
        quantity_item="水产品",
        quantity_unit="千克",
        quantity_threshold="500",
        plant="quantity",
        fine_median=2000,
        weight=0.4,
        party_mix=(0.0, 0.1, 0.9),
        summary_share=0.1,
        referable=True,
        # Not 电鱼 in the closed season: that is itself the filing standard's circumstance
        # (conduct_criteria.yaml), and every demo fishing case would be a lead.
        legal_basis="《中华人民共和国渔业法》第四十一条",
        fact="未依法取得捕捞许可证擅自在内陆水域捕捞水产品",
    ),
    _vt(
        key="AGR-FAKE-PESTICIDE",
        code=None,
        label="经营假劣农药",
        domain="agriculture",
        fine_median=8000,
        weight=0.3,
        party_mix=(0.3, 0.7, 0.0),
        legal_basis="《农药管理条例》第五十五条",
        fact="经营未取得农药登记证的农药",
    ),
    _vt(
        key="AGR-QUARANTINE",
        code=None,
        label="经营未经检疫的动物产品",
        domain="agriculture",
        fine_median=3000,
        weight=0.3,
        party_mix=(0.2, 0.6, 0.2),
        summary_share=0.1,
        legal_basis="《中华人民共和国动物防疫法》第九十七条",
        fact="经营未附有检疫证明的动物产品",
    ),
    # health 卫健
    _vt(
        key="HLT-UNLICENSED-PRACTICE",
        code="HEA-ILLEGAL-MEDICAL-PRACTICE",
        label="",
        domain="health",
        offence_id="illegal-medical-practice",
        offence_name="非法行医罪",
        offence_category="medical",
        quantity_item="此前行政处罚次数",
        quantity_unit="次",
        quantity_threshold="2",
        plant="repeat",
        fine_median=30000,
        weight=0.3,
        party_mix=(0.0, 0.2, 0.8),
        referable=True,
        legal_basis="《医疗机构管理条例》第四十三条",
        fact="未取得《医疗机构执业许可证》擅自开展诊疗活动",
    ),
    _vt(
        key="HLT-PUBLIC-HYGIENE",
        code=None,
        label="公共场所卫生违法",
        domain="health",
        fine_median=2000,
        weight=0.4,
        party_mix=(0.4, 0.6, 0.0),
        summary_share=0.3,
        legal_basis="《公共场所卫生管理条例实施细则》第三十六条",
        fact="从业人员未取得有效健康合格证明上岗",
    ),
    _vt(
        key="HLT-MEDICAL-WASTE",
        code=None,
        label="医疗废物处置违规",
        domain="health",
        fine_median=5000,
        weight=0.3,
        party_mix=(0.6, 0.4, 0.0),
        legal_basis="《医疗废物管理条例》第四十六条",
        fact="未按规定分类收集医疗废物",
    ),
    # human resources 人社
    _vt(
        key="HR-WAGE-ARREARS",
        code="HR-WAGE-ARREARS",
        label="",
        domain="human_resources",
        offence_id="refusing-to-pay-wages",
        offence_name="拒不支付劳动报酬罪",
        offence_category="labour",
        amount_kind="unpaid_wages",
        amount_threshold="5000",
        amount_upper="20000",
        plant="amount",
        fine_median=5000,
        weight=0.25,
        party_mix=(0.7, 0.3, 0.0),
        referable=True,
        legal_basis="《保障农民工工资支付条例》第五十四条",
        fact="经责令限期支付仍拖欠劳动者劳动报酬",
    ),
    _vt(
        key="HR-NO-CONTRACT",
        code=None,
        label="未依法订立书面劳动合同",
        domain="human_resources",
        fine_median=3000,
        weight=0.4,
        party_mix=(0.7, 0.3, 0.0),
        legal_basis="《中华人民共和国劳动合同法》第八十二条",
        fact="未与劳动者订立书面劳动合同",
    ),
    _vt(
        key="HR-SOCIAL-INSURANCE",
        code=None,
        label="未依法缴纳社会保险费",
        domain="human_resources",
        fine_median=8000,
        weight=0.35,
        party_mix=(0.9, 0.1, 0.0),
        legal_basis="《中华人民共和国社会保险法》第八十六条",
        fact="未按时足额缴纳社会保险费",
    ),
    # culture 文旅
    _vt(
        key="CUL-MINORS-INTERNET-CAFE",
        code=None,
        label="网吧接纳未成年人",
        domain="culture",
        fine_median=5000,
        weight=0.4,
        party_mix=(0.3, 0.7, 0.0),
        legal_basis="《互联网上网服务营业场所管理条例》第三十一条",
        fact="接纳未成年人进入营业场所",
    ),
    _vt(
        key="CUL-UNLICENSED-PERFORMANCE",
        code=None,
        label="擅自从事营业性演出",
        domain="culture",
        fine_median=10000,
        weight=0.3,
        party_mix=(0.5, 0.3, 0.2),
        legal_basis="《营业性演出管理条例》第四十三条",
        fact="未经批准举办营业性演出",
    ),
    _vt(
        key="CUL-ILLEGAL-PUBLICATIONS",
        code=None,
        label="经营非法出版物",
        domain="culture",
        fine_median=4000,
        weight=0.3,
        party_mix=(0.1, 0.6, 0.3),
        legal_basis="《出版管理条例》第六十一条",
        fact="发行、销售非法出版物",
    ),
    # transport 交通
    _vt(
        key="TRN-OVERLOAD",
        code=None,
        label="超限运输",
        domain="transport",
        fine_median=3000,
        weight=0.5,
        party_mix=(0.4, 0.2, 0.4),
        summary_share=0.3,
        legal_basis="《公路安全保护条例》第六十四条",
        fact="车货总质量超过限定标准在公路上行驶",
    ),
    _vt(
        key="TRN-ILLEGAL-OPERATION",
        code=None,
        label="未取得道路运输经营许可从事经营",
        domain="transport",
        fine_median=10000,
        weight=0.5,
        party_mix=(0.1, 0.2, 0.7),
        summary_share=0.05,
        legal_basis="《中华人民共和国道路运输条例》第六十三条",
        fact="未取得道路运输经营许可擅自从事道路客运经营",
    ),
    # housing 住建
    _vt(
        key="HSG-NO-PERMIT",
        code=None,
        label="未取得施工许可证擅自施工",
        domain="housing",
        fine_median=40000,
        weight=0.5,
        party_mix=(0.95, 0.05, 0.0),
        legal_basis="《建设工程质量管理条例》第五十七条",
        fact="未取得施工许可证擅自施工",
    ),
    _vt(
        key="HSG-QUALITY",
        code=None,
        label="违反工程质量安全管理规定",
        domain="housing",
        fine_median=30000,
        weight=0.5,
        party_mix=(0.95, 0.05, 0.0),
        legal_basis="《建设工程质量管理条例》第六十四条",
        fact="施工中偷工减料、未按照设计图纸施工",
    ),
    # water 水利
    _vt(
        key="WTR-ILLEGAL-SAND",
        code="NR-ILLEGAL-MINING",
        label="河道非法采砂",
        domain="water",
        offence_id="illegal-mining",
        offence_name="非法采矿罪",
        offence_category="environment_resources",
        amount_kind="mineral_value",
        amount_threshold="100000",
        amount_upper="300000",
        plant="amount",
        fine_median=20000,
        weight=0.4,
        party_mix=(0.3, 0.3, 0.4),
        referable=True,
        legal_basis="《中华人民共和国长江保护法》第九十一条",
        fact="未取得河道采砂许可证在河道内采砂",
    ),
    _vt(
        key="WTR-WATER-ABSTRACTION",
        code=None,
        label="未经批准擅自取水",
        domain="water",
        fine_median=20000,
        weight=0.3,
        party_mix=(0.8, 0.2, 0.0),
        legal_basis="《中华人民共和国水法》第六十九条",
        fact="未经批准擅自取水",
    ),
    _vt(
        key="WTR-RIVER-OBSTRUCTION",
        code=None,
        label="河道管理范围内违法建设",
        domain="water",
        fine_median=10000,
        weight=0.3,
        party_mix=(0.4, 0.2, 0.4),
        legal_basis="《中华人民共和国水法》第六十五条",
        fact="在河道管理范围内建设妨碍行洪的建筑物",
    ),
)


def load_catalogue() -> tuple[ViolationType, ...]:
    """The catalogue with each coded type's label taken from the hub's code list.

    Raises ``ConfigError`` listing every code the hub's ``violation_types.yaml`` does not
    know: a demo that emitted codes the hub cannot map would test nothing.
    """
    hub_types = load_violation_types()
    problems: list[str] = []
    resolved: list[ViolationType] = []
    for entry in VIOLATION_TYPES:
        if entry.code is None:
            resolved.append(entry)
            continue
        hub_entry = hub_types.get(entry.code)
        if hub_entry is None:
            problems.append(f"{entry.key}: code {entry.code!r} is not in violation_types.yaml")
            continue
        resolved.append(replace(entry, label=entry.label or hub_entry.name_zh))
    if problems:
        raise ConfigError("demo violation types do not match the hub's code list", problems)
    return tuple(resolved)


def violation_types_by_domain(
    catalogue: tuple[ViolationType, ...],
) -> dict[str, list[ViolationType]]:
    """The catalogue grouped by enforcement domain, in catalogue order."""
    grouped: dict[str, list[ViolationType]] = {}
    for entry in catalogue:
        grouped.setdefault(entry.domain, []).append(entry)
    return grouped
