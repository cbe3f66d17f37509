"""The burden taxonomy (负担类型), issuing levels, frequencies and triage statuses of DESIGN.md."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class BurdenType:
    code: str
    label: object
    rule: object | None
    examples: object | None


BURDEN_TYPES: tuple[BurdenType, ...] = (
    BurdenType("app_install", _l("摊派下载/注册/推广政务APP"),
               _l("违反中央网信办《关于防治“指尖上的形式主义”的若干意见》：不得摊派下载、注册、推广政务APP"),
               _l("按村下达下载指标、按注册量排名、“僵尸”注册")),
    BurdenType("checkin_ranking", _l("打卡签到、积分排名、在线时长"),
               _l("违反中央网信办《关于防治“指尖上的形式主义”的若干意见》：政务APP不得设置强制打卡、积分排名、在线时长等功能"),
               _l("每日打卡、积分排行榜、排名靠后写检讨")),
    BurdenType("study_hours", _l("学习时长/刷课考核"),
               _l("违反中央网信办《关于防治“指尖上的形式主义”的若干意见》：不得以学习时长作为考核指标"),
               _l("500学时线上学习指标、快进刷视频")),
    BurdenType("photo_trace", _l("拍照留痕、定位打卡、摆拍"), None,
               _l("在“风险点”拍带定位的照片、每天发10条工作照")),
    BurdenType("work_groups", _l("工作群过多、群内派活、限时回复"), None,
               _l("20至30个工作群、当天下午5点前必须完成、越级派活")),
    BurdenType("duplicate_reporting", _l("多头填报、重复报数"), None,
               _l("同一件事向4个平台分别填报、部门已有的数据再报一遍")),
    BurdenType("account_metrics", _l("政务号点赞/转发/阅读量/发稿量指标"),
               _l("违反中央网信办《关于防治“指尖上的形式主义”的若干意见》：不得以点赞、投票、转发等作为考核依据"),
               _l("每天给每条推送点赞、发稿数量指标、互相抄内容")),
    BurdenType("inspection_ledger", _l("督查检查考核过多、台账材料"), None,
               _l("线上督查检查、为留台账重走流程")),
    BurdenType("meetings_documents", _l("会议、文件过多"), None,
               _l("以线上会议代替工作、冗长文件")),
    BurdenType("other", _l("其他"), None, None),
)
BURDEN_CODES = tuple(b.code for b in BURDEN_TYPES)
BURDEN_BY_CODE = {b.code: b for b in BURDEN_TYPES}

IMPOSER_LEVELS = (
    ("central", _l("中央")),
    ("province", _l("省")),
    ("city", _l("市")),
    ("county", _l("县")),
    ("township", _l("乡镇")),
    ("department", _l("部门")),
    ("unknown", _l("不清楚")),
)

FREQUENCIES = (
    ("daily", _l("每天")),
    ("weekly", _l("每周")),
    ("monthly", _l("每月")),
    ("ad_hoc", _l("不定期")),
)

STATUSES = ("new", "verifying", "referred", "rectified", "dismissed", "duplicate")
CLOSED_STATUSES = ("rectified", "dismissed", "duplicate")

STATUS_LABELS = {
    "new": _l("新线索"),
    "verifying": _l("核查中"),
    "referred": _l("已转办"),
    "rectified": _l("已整改"),
    "dismissed": _l("不予采纳"),
    "duplicate": _l("重复"),
}

# What each status means, in plain words, for the reporter's follow-up page.
STATUS_EXPLANATIONS = {
    "new": _l("线索已收到，正在等待核查员查看。"),
    "verifying": _l("核查员正在核实您反映的情况。"),
    "referred": _l("线索已转交有关部门办理。"),
    "rectified": _l("问题已查实并已整改。"),
    "dismissed": _l("经核查，本线索不予采纳。请看下面的说明。"),
    "duplicate": _l("本线索与另一条线索反映的是同一问题，已合并处理。"),
}
