"""`tipline seed`: realistic synthetic tips for demos and benchmarks, sealed exactly like real ones.

Without --with-receipts each tip gets a random lookup id and a fresh reporter key pair instead of
the receipt KDF (35 ms a tip): the stored rows have the same form, but no receipt opens them.
"""

import random
from datetime import date, timedelta

from sqlalchemy import select

import crypto
from app import clock
from app.db import session_scope
from app.offices.models import Office
from app.reporting import services
from app.reporting.taxonomy import BURDEN_CODES, FREQUENCIES, IMPOSER_LEVELS

PLATFORMS = [
    "学习强国", "XX学习APP", "xx学习 app", "ＸＸ学习ＡＰＰ", "智慧党建", "智慧党建客户端", "平安乡村", "平安乡村小程序",
    "网格通", "网格通APP", "政务钉钉", "浙政钉", "粤政易", "i深圳", "河长通", "林长通", "安全生产打卡",
    "乡村振兴信息平台", "防返贫监测系统", "全国防止返贫监测信息系统", "社区工作群", "镇村两委工作群",
    "网格员群", "疫苗接种统计群", "人口普查填报系统", "农业补贴申报平台", "民政统计平台",
    "文明实践云平台", "融媒体号", "政务微博", "政务抖音号", "电子台账系统", "督查考核平台",
    "随手拍", "一表通", "基层报表通", "云课堂", "干部网络学院", "干部在线学习平台", "",
]
REGIONS = [
    "河南省", "河南省周口市", "河南省周口市郸城县", "湖南省", "湖南省邵阳市", "四川省凉山州", "四川省",
    "广东省清远市", "广东省", "山东省临沂市", "山东省", "江西省赣州市于都县", "甘肃省定西市", "甘肃省",
    "云南省昭通市", "贵州省毕节市", "河北省保定市", "安徽省阜阳市", "湖北省黄冈市", "浙江省", "广西壮族自治区",
    "黑龙江省绥化市", "陕西省榆林市", "", "", "",
]
IMPOSERS = {
    "central": ["某部委"],
    "province": ["省委组织部", "省网信办", "省农业农村厅", "省民政厅"],
    "city": ["市委宣传部", "市直机关工委", "市应急管理局", "市融媒体中心"],
    "county": ["县委组织部", "县委宣传部", "县乡村振兴局", "县卫健委", "县应急管理局", "县政务服务中心"],
    "township": ["镇党委", "乡政府", "镇综治办", "街道办事处"],
    "department": ["某局办公室", "行业主管部门", "统计部门"],
    "unknown": [""],
}
STORIES = {
    "app_install": "上级要求每个村完成{n}个下载注册任务，按注册量每周排名通报，完不成的村干部要写说明。很多老人不会用手机，只能由我们代注册。",
    "checkin_ranking": "要求每天早上八点前在APP上打卡签到，积分每周排名，排名靠后的要在会上作检讨。为了积分，大家晚上还要刷任务。",
    "study_hours": "规定每人每年完成{n}学时的线上学习，平台统计在线时长，很多人只能挂着视频快进刷课，真正的工作反而没时间做。",
    "photo_trace": "每天要在各个“风险点”拍带定位的照片上传，一天至少{n}张，还要摆拍入户走访的照片留痕。",
    "work_groups": "手机里有{n}多个工作群，群里随时派活，经常要求当天下午五点前回复，还有越级直接在群里下任务的。",
    "duplicate_reporting": "同一份数据要在{n}个平台分别填报，格式还不一样，很多数据部门系统里本来就有，还要我们重新报。",
    "account_metrics": "要求每天给政务号的每条推送点赞转发并截图，发稿量按月考核，没有内容就互相抄。",
    "inspection_ledger": "线上督查检查太多，为了应付检查要补做台账，把已经办完的流程重新走一遍拍照。",
    "meetings_documents": "线上会议太多，一天开{n}个会，很多会只是念文件，基层干部没有时间下村办事。",
    "other": "各种临时性的填表和截图任务，占用了大量工作时间。",
}
STATUS_WEIGHTS = (("new", 30), ("verifying", 20), ("referred", 15), ("rectified", 20), ("dismissed", 10), ("duplicate", 5))


def synthetic_content(rng: random.Random) -> services.TipContent:
    types = rng.sample(BURDEN_CODES, k=rng.choice((1, 1, 1, 2, 2, 3)))
    level = rng.choice([code for code, _label in IMPOSER_LEVELS])
    story = "".join(STORIES[t].format(n=rng.randint(3, 40)) for t in types)
    hours = rng.choice([None, round(rng.uniform(0.5, 25), 1), float(rng.randint(1, 12))])
    return services.TipContent(
        burden_types=types,
        platform=rng.choice(PLATFORMS),
        imposer_level=level,
        imposer_name=rng.choice(IMPOSERS[level]),
        frequency=rng.choice([code for code, _label in FREQUENCIES] + [""]),
        hours_per_week=hours,
        region=rng.choice(REGIONS),
        description=story,
    )


def seed_tips(database_url: str, office_code: str, count: int, *, with_receipts: bool = False,
              random_seed: int | None = None, batch: int = 500) -> list[str]:
    rng = random.Random(random_seed)  # noqa: S311 (synthetic data, not secrets)
    statuses = [s for s, _w in STATUS_WEIGHTS]
    weights = [w for _s, w in STATUS_WEIGHTS]
    today = clock.today()
    receipts: list[str] = []
    done = 0
    while done < count:
        with session_scope(database_url) as db:
            office = db.scalar(select(Office).where(Office.code == office_code))
            if office is None:
                raise LookupError(f"no office with code {office_code!r}")
            salt = services.receipt_salt(db)
            for _ in range(min(batch, count - done)):
                if with_receipts:
                    receipt = crypto.new_receipt()
                    keys = crypto.derive_receipt_keys(receipt, salt)
                    lookup_id, public_key = keys.lookup_id, keys.public_key
                    receipts.append(receipt)
                else:
                    lookup_id, public_key = crypto.new_data_key(), crypto.generate_keypair().public_key
                received: date = today - timedelta(days=int(rng.triangular(0, 540, 0)))
                services.store_tip(db, office, synthetic_content(rng), lookup_id=lookup_id,
                                   reporter_public_key=public_key, received_on=received,
                                   status=rng.choices(statuses, weights)[0])
                done += 1
    return receipts
