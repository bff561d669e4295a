#!/usr/bin/env python3
"""gen_district.py — a generated district for demos, tests and benchmarks.

Writes JSON Lines for `gridsync import` (one {"type", "id", "fields"} per
line, seeds/schema.json's types and fields): DIR/org.jsonl with the org
units down to grids (imported in the district's scope, "yc"), one
DIR/<grid scope>.jsonl per grid (its buildings, households, residents, grid
workers, ratings, the three lists, then --days of history day by day:
daily check-ins of elderly people living alone, visits, tickets moving
through their stages, wishes and their claims, points grants), and
DIR/manifest.json naming every file with its scope, lines and entities per
type.

Invariants: the same --seed, --scale and --days give byte-identical files
(each grid draws from its own random.Random seeded by (seed, grid number),
dates count back from a fixed END, never from today); one grid is held in
memory at a time, so scale 1 (850 grids, ~120,000 households, ~300,000
residents, a year of history: millions of lines) runs in bounded memory.
Every record is one the default schema accepts; entity ids are unique in
the whole district (H-G0012-0042: grid number 12, household 42).

Sizes at scale 1 follow the source articles (DESIGN §1): ~850 grids in 6
streets/towns with 20 communities and 8 villages; smaller scales shrink the
grid count (and, by its square root, the communities), never a grid.
ID numbers use the unassigned area code 239901, so none is a real person's.

usage: seeds/gen_district.py [--scale S] [--days D] [--seed N] [--only SCOPE]
                             --out DIR
Standard library only (python3 as Debian ships it).
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import random
import sys

END = datetime.date(2024, 12, 31)  # the last day of history, fixed
DISTRICT = ("yc", "沿城区")
HOUSEHOLDS_PER_GRID = 141  # 120,000 / 850
GRIDS_AT_SCALE_1 = 850

# (code, name, kind); the five streets hold 4 communities each, the town
# the 8 villages (20 + 8 = 28 community-level units)
STREETS = [("s01", "友谊街道", "street"), ("s02", "红旗街道", "street"),
           ("s03", "云环街道", "street"), ("s04", "花园街道", "street"),
           ("s05", "朝阳街道", "street"), ("t06", "莲江口镇", "town")]
COMMUNITIES = ["勤政社区", "联通社区", "邮政社区", "新新社区", "南郡社区",
               "光明社区", "幸福社区", "和平社区", "建设社区", "文化社区",
               "团结社区", "东升社区", "向阳社区", "永安社区", "民主社区",
               "春晖社区", "铁西社区", "站前社区", "北山社区", "滨江社区"]
VILLAGES = ["新新村", "长青村", "红星村", "前进村", "东兴村", "太平村",
            "三合村", "丰收村"]
COMPOUNDS = ["永安一品小区", "信誉城市花园", "阳光家园", "金色家园",
             "锦绣华庭", "翠湖苑", "望江苑", "幸福里小区", "和谐家园",
             "康乐小区", "林业局家属院", "铁路家属院", "供电局家属楼",
             "滨江花园", "紫云小区", "福泽园", "书香苑", "新华小区",
             "友谊花园", "松涛苑"]
GROUPS = ["一组", "二组", "三组", "四组", "五组", "六组", "七组", "八组"]

# surnames with their share (per mille) of the population, most common first
SURNAMES = [
    ("王", 71), ("李", 70), ("张", 67), ("刘", 54), ("陈", 45), ("杨", 31),
    ("黄", 22), ("赵", 20), ("吴", 19), ("周", 19), ("徐", 13), ("孙", 13),
    ("马", 12), ("朱", 11), ("胡", 11), ("郭", 11), ("何", 10), ("林", 10),
    ("高", 10), ("罗", 9), ("郑", 9), ("梁", 8), ("谢", 7), ("宋", 7),
    ("唐", 7), ("许", 7), ("韩", 7), ("冯", 6), ("邓", 6), ("曹", 6),
    ("彭", 6), ("曾", 5), ("肖", 5), ("田", 5), ("董", 5), ("袁", 5),
    ("潘", 5), ("于", 5), ("蒋", 5), ("蔡", 5), ("余", 4), ("杜", 4),
    ("叶", 4), ("程", 4), ("苏", 4), ("魏", 4), ("吕", 4), ("丁", 4),
    ("任", 4), ("沈", 4), ("姚", 3), ("卢", 3), ("姜", 3), ("崔", 3),
    ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3),
    ("石", 3), ("廖", 3), ("贾", 3), ("夏", 3), ("付", 3), ("方", 3),
    ("白", 3), ("邹", 3), ("孟", 3), ("熊", 2), ("秦", 2), ("邱", 2),
    ("江", 2), ("尹", 2), ("薛", 2), ("闫", 2), ("段", 2), ("雷", 2),
    ("侯", 2), ("龙", 2), ("史", 2), ("陶", 2), ("贺", 2), ("顾", 2),
    ("毛", 2), ("郝", 2), ("龚", 2), ("邵", 2), ("万", 2), ("钱", 2),
    ("严", 2), ("武", 2), ("戴", 2), ("孔", 1), ("常", 1), ("关", 1)]
# given names by sex and generation (born before 1960, 1960-1984, after)
GIVEN = {
    ("M", 0): ["建国", "国强", "德明", "玉林", "福生", "永贵", "长林", "国庆",
               "建华", "振华", "文华", "志刚", "树林", "凤山", "宝山", "立新"],
    ("F", 0): ["秀英", "桂英", "秀兰", "玉兰", "桂兰", "凤英", "淑珍", "玉珍",
               "淑兰", "秀珍", "凤兰", "桂芝", "玉芬", "素芬", "淑芬", "玉梅"],
    ("M", 1): ["伟", "勇", "军", "强", "磊", "涛", "斌", "志强", "海涛", "建军",
               "晓东", "宏伟", "立军", "红军", "春生", "永刚"],
    ("F", 1): ["丽", "敏", "静", "燕", "艳", "红梅", "丽娟", "海燕", "春梅",
               "晓红", "丽华", "秀梅", "玉红", "彩霞", "丽萍", "淑华"],
    ("M", 2): ["浩", "宇", "鹏", "杰", "浩然", "子轩", "宇航", "梓豪", "俊杰",
               "博文", "一鸣", "子豪", "明轩", "天佑", "晨阳", "思远"],
    ("F", 2): ["婷", "雪", "倩", "佳怡", "欣怡", "梓涵", "雨桐", "思彤", "子涵",
               "诗涵", "可馨", "一诺", "语嫣", "雨欣", "梦琪", "欣然"]}
HEALTH = ["高血压", "糖尿病", "冠心病", "关节炎，行动不便", "慢性支气管炎",
          "身体良好", "听力下降", "脑梗后遗症，需人照护", "白内障术后"]
PHONE_PREFIX = ["130", "131", "132", "133", "135", "136", "137", "138",
                "139", "150", "151", "152", "155", "156", "157", "158",
                "159", "166", "177", "180", "181", "185", "186", "187",
                "188", "189", "198", "199"]
ID_AREA = "239901"  # unassigned: no generated ID number is a real one
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

# rates, per household or per resident, as the articles and census suggest
P_ELDERLY_ALONE = 0.06  # households: one resident over 70 living alone
P_LOW_INCOME = 0.03     # households on 低保
P_DISABLED = 0.015      # residents
P_PARTY = 0.08          # adults
P_VOLUNTEER = 0.06      # adults
P_CONCERN = 0.01        # check-ins that find something wrong
P_REOPEN = 0.03         # resolved tickets a resident reopens
P_LATE = 0.05           # tickets resolved after their deadline
P_DOUBLE_CLAIM = 0.1    # wishes two volunteers claim (one wins)
TICKETS_PER_GRID_DAY = 0.5
WISHES_PER_GRID_DAY = 0.1
GRANTS_PER_GRID_DAY = 1.5


def weighted(rng, pairs):
    """One name from (name, weight) pairs."""
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for name, w in pairs:
        x -= w
        if x < 0:
            return name
    return pairs[-1][0]


def poisson(rng, lam):
    """Knuth's method: fine for the small rates used here."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def id_number(rng, birth, sex):
    seq = rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
    body = "%s%s%03d" % (ID_AREA, birth.strftime("%Y%m%d"), seq)
    s = sum(int(c) * w for c, w in zip(body, ID_WEIGHTS))
    return body + "10X98765432"[s % 11]


def phone(rng):
    return rng.choice(PHONE_PREFIX) + "%08d" % rng.randrange(10 ** 8)


def stamp(day, minute):
    """'2024-12-30 09:05' for minute minutes after day's midnight."""
    t = datetime.datetime.combine(day, datetime.time()) + \
        datetime.timedelta(minutes=minute)
    return t.strftime("%Y-%m-%d %H:%M")


def layout(scale):
    """The org tree at a scale: [(street, unit, [grid codes])], where a
    street is (code, name, kind) and a unit (code, name, kind)."""
    n_grids = max(1, round(GRIDS_AT_SCALE_1 * scale))
    units = []  # community-level units in full, by street
    for i, st in enumerate(STREETS[:5]):
        for j in range(4):
            k = i * 4 + j
            units.append((st, ("c%02d" % (k + 1), COMMUNITIES[k],
                               "community")))
    for k, name in enumerate(VILLAGES):
        units.append((STREETS[5], ("v%02d" % (k + 1), name, "village")))
    # at small scales take units street by street in turn, so a few grids
    # still span several streets and a village
    order = []
    by_street = [[u for u in units if u[0] == st] for st in STREETS]
    for j in range(max(len(b) for b in by_street)):
        for b in by_street:
            if j < len(b):
                order.append(b[j])
    n_units = max(1, min(len(units), round(len(units) * math.sqrt(scale)),
                         n_grids))
    chosen = sorted(order[:n_units], key=units.index)
    out = []
    for k, (st, unit) in enumerate(chosen):
        lo = n_grids * k // n_units
        hi = n_grids * (k + 1) // n_units
        out.append((st, unit, ["g%03d" % (g + 1) for g in range(hi - lo)]))
    return out


class Writer:
    """One JSON Lines file, counting lines and distinct entities by type."""

    def __init__(self, path):
        self.f = open(path, "w", encoding="utf-8", newline="\n")
        self.lines = 0
        self.ids = {}

    def rec(self, type_, id_, fields):
        self.f.write(json.dumps({"type": type_, "id": id_, "fields": fields},
                                ensure_ascii=False, separators=(",", ":")))
        self.f.write("\n")
        self.lines += 1
        self.ids.setdefault(type_, set()).add(id_)

    def close(self):
        self.f.close()
        return {"lines": self.lines,
                "entities": {t: len(s) for t, s in sorted(self.ids.items())}}


class Grid:
    """One grid's people and its history, written to one Writer."""

    def __init__(self, cat, seed, number, scope, names, days):
        self.cat = cat
        self.rng = random.Random("gridsync-seed:%d:%d" % (seed, number))
        self.gid = "G%04d" % number
        self.scope = scope
        self.street_name, self.unit_name, self.unit_kind, self.grid_name = \
            names
        self.days = days
        self.first = END - datetime.timedelta(days=days - 1)
        self.persons = []    # (id, name, sex, birth year, household id)
        self.elderly = []    # person ids living alone, over 70
        self.helpers = []    # party members and volunteers
        self.home = {}       # person id -> household id
        self.households = []  # (id, address, elderly-alone?)
        self.n_ticket = self.n_visit = self.n_wish = 0
        self.pending = {}    # day index -> [(minute, order, type, id, fields)]
        self.order = 0

    def name(self, sex, year):
        gen = 0 if year < 1960 else 1 if year < 1985 else 2
        return (weighted(self.rng, SURNAMES) +
                self.rng.choice(GIVEN[(sex, gen)]))

    def person(self, w, hid, sex, year, roles, tags, surname=None):
        rng = self.rng
        pid = "P-%s-%04d" % (self.gid, len(self.persons) + 1)
        nm = self.name(sex, year)
        if surname:
            nm = surname + nm[1:]
        birth = datetime.date(year, rng.randint(1, 12), rng.randint(1, 28))
        f = {"name": nm, "gender": "男" if sex == "M" else "女",
             "birth_year": year, "id_number": id_number(rng, birth, sex),
             "grid": self.scope}
        age = END.year - year
        if 16 <= age <= 90:
            f["phone"] = phone(rng)
        if hid:
            f["household"] = hid
        if age >= 18:
            if rng.random() < P_PARTY:
                roles = roles + ["party_member"]
            if age < 75 and rng.random() < P_VOLUNTEER:
                roles = roles + ["volunteer"]
        if rng.random() < P_DISABLED:
            tags = tags + ["disabled"]
        if age >= 65:
            f["health_notes"] = rng.choice(HEALTH)
        if roles:
            f["roles"] = roles
        if tags:
            f["tags"] = tags
        w.rec("person", pid, f)
        self.persons.append((pid, nm, sex, year, hid))
        self.home[pid] = hid
        if ("party_member" in roles or "volunteer" in roles) and age < 75:
            self.helpers.append(pid)
        return pid, nm

    def people(self, w):
        """Buildings, households and residents; the grid worker."""
        rng = self.rng
        village = self.unit_kind == "village"
        n_hh = max(20, round(rng.gauss(HOUSEHOLDS_PER_GRID, 20)))
        self.worker, _ = self.person(w, None, rng.choice("MF"),
                                     rng.randint(1975, 1998),
                                     ["grid_worker"], [])
        compound = rng.choice(COMPOUNDS)
        b, in_b, cap = 0, 0, 0
        for h in range(1, n_hh + 1):
            if in_b == cap:  # a new building (or village group)
                b += 1
                in_b, cap = 0, rng.choice([24, 30, 36])
                bname = (self.unit_name + GROUPS[(b - 1) % len(GROUPS)]
                         if village else "%s%d栋" % (compound, b))
                building = {"kind": "building", "name": bname,
                            "parent": "O-" + self.scope, "scope": self.scope}
                bid = "O-%s.b%02d" % (self.scope, b)
            in_b += 1
            if village:
                addr = "%s%s%s%s%d号" % (
                    DISTRICT[1], self.street_name, self.unit_name,
                    GROUPS[(b - 1) % len(GROUPS)], in_b)
            else:
                unit, rest = divmod(in_b - 1, 12)
                floor, room = divmod(rest, 2)
                addr = "%s%s%s%s%d栋%d单元%d%02d室" % (
                    DISTRICT[1], self.street_name, self.unit_name, compound, b,
                    unit + 1, floor + 1, room + 1)
            hid = "H-%s-%04d" % (self.gid, h)
            tags = []
            alone = rng.random() < P_ELDERLY_ALONE
            if rng.random() < P_LOW_INCOME:
                tags.append("low-income")
            members = []
            if alone:
                tags.append("elderly-alone")
                pid, head = self.person(w, hid, rng.choice("MFF"),
                                        rng.randint(1929, 1954), [], tags)
                members.append(pid)
                self.elderly.append(pid)
            else:
                size = int(weighted(rng, [("1", 14), ("2", 35), ("3", 29),
                                          ("4", 15), ("5", 7)]))
                sex = rng.choice("MF")
                year = rng.randint(1945, 1998) if size > 1 else \
                    rng.randint(1955, 2000)
                pid, head = self.person(w, hid, sex, year, [], tags)
                members.append(pid)
                surname = head[0]
                if size >= 2:
                    members.append(self.person(
                        w, hid, "F" if sex == "M" else "M",
                        min(2000, year + rng.randint(-4, 4)), [], tags)[0])
                for _ in range(size - 2):
                    child = year + rng.randint(22, 36)
                    if child <= 2024:
                        members.append(self.person(
                            w, hid, rng.choice("MF"), child, [], tags,
                            surname=surname)[0])
                    else:  # an elderly parent lives with them
                        members.append(self.person(
                            w, hid, rng.choice("MF"),
                            max(1925, year - rng.randint(24, 32)), [], tags,
                            surname=surname)[0])
            if in_b == 1:
                building["leader"] = head
                w.rec("org", bid, building)
            hf = {"address": addr, "building": bname, "head": head,
                  "members": members, "grid": self.scope}
            if rng.random() < 0.9:
                hf["phone"] = phone(rng)
            if tags:
                hf["tags"] = tags
            w.rec("household", hid, hf)
            self.households.append((hid, addr, alone))
        if not self.helpers:  # every grid has someone to claim wishes
            self.helpers.append(self.worker)
        self.compound = compound

    def registers(self, w):
        """Ratings and the three lists, as a grid starts the period."""
        rng, cat = self.rng, self.cat
        self.ratings = []
        if self.unit_kind != "village":
            self.ratings.append(("R-%s-P1" % self.gid, "property", "%s（%s）" % (
                rng.choice(cat["property_companies"]), self.compound)))
        for k, shop in enumerate(rng.sample(cat["shops"], 2), 1):
            self.ratings.append(("R-%s-S%d" % (self.gid, k), "shop", shop))
        self.rate(w, END - datetime.timedelta(days=self.days - 1))
        n = 0
        for kind, (owner, title) in [("resource", rng.choice(cat["resources"])),
                                     ("need", (None, rng.choice(cat["needs"]))),
                                     ("project",
                                      (None, rng.choice(cat["projects"])))]:
            n += 1
            f = {"kind": kind, "title": title, "grid": self.scope,
                 "status": rng.choice(["open", "matched", "done"])}
            if owner:
                f["owner"] = owner
                f["department"] = owner
            else:
                f["owner"] = rng.choice(self.persons)[0]
                f["department"] = self.unit_name + "居委会"
            if rng.random() < 0.5:
                f["participants"] = rng.sample(self.helpers,
                                               min(2, len(self.helpers)))
            w.rec("list_item", "L-%s-%02d" % (self.gid, n), f)

    def rate(self, w, day):
        rng = self.rng
        for rid, kind, subject in self.ratings:
            f = {"kind": kind, "subject": subject, "grid": self.scope,
                 "rater": self.unit_name + "居委会",
                 "period": day.strftime("%Y-%m")}
            if kind == "property":
                f["level"] = weighted(rng, [("red", 55), ("yellow", 35),
                                            ("black", 10)])
                f["note"] = {"red": "服务到位，居民满意",
                             "yellow": "保洁不及时，限期整改",
                             "black": "多次投诉未整改"}[f["level"]]
            else:
                f["stars"] = weighted(rng, [(5, 40), (4, 40), (3, 15),
                                            (2, 5)])
            w.rec("rating", rid, f)

    def later(self, day, minute, type_, id_, fields):
        """Schedule a record minute minutes after day's midnight (day an
        index into the history); past the end of history it never
        happens."""
        day += minute // 1440
        minute %= 1440
        if type_ == "ticket" and "comments" in fields:
            # the time the step was taken, as a paper register writes it:
            # an import stamps ops with the time of the import, so this is
            # what `gridsync report` reads for "accepted within the deadline"
            fields = dict(fields, comments="%s %s" % (
                stamp(self.first + datetime.timedelta(days=day), minute),
                fields["comments"]))
        if day < self.days:
            self.order += 1
            self.pending.setdefault(day, []).append(
                (minute, self.order, type_, id_, fields))

    def ticket(self, d, date):
        rng, cat = self.rng, self.cat
        self.n_ticket += 1
        tid = "T-%s-%05d" % (self.gid, self.n_ticket)
        c = weighted(rng, [(c, c["weight"]) for c in cat["categories"]])
        title = rng.choice(c["titles"])
        source = weighted(rng, cat["sources"])
        hid, addr, _ = rng.choice(self.households)
        reporter = self.worker if source == "网格员巡查" else \
            rng.choice(self.persons)[0]
        t0 = rng.randint(7 * 60, 21 * 60)
        deadline = datetime.datetime.combine(date, datetime.time()) + \
            datetime.timedelta(minutes=t0, hours=c["deadline_hours"])
        f = {"title": title, "category": c["name"],
             "description": "%s：%s，请尽快处理" % (addr, title),
             "reporter": reporter, "grid": self.scope,
             "department": c["department"],
             "deadline": deadline.strftime("%Y-%m-%d %H:%M"),
             "address": addr, "source": source, "stage": "reported"}
        if source == "随手拍":
            f["photos"] = [hashlib.sha256(("%s/%d" % (tid, k)).encode())
                           .hexdigest()[:32] + ".jpg"
                           for k in range(rng.randint(1, 3))]
        self.later(d, t0, "ticket", tid, f)
        # reported -> accepted -> dispatched -> in_progress -> resolved ->
        # closed; a few are reopened once after resolved and go round again.
        # `import` checks each line against the state before the file, so a
        # reopen of a ticket made earlier in the same file is written as
        # its explicit round (round 1 at reported), and so is every stage
        # after it: a bare name would be taken as round 0 and lose.
        t = t0 + rng.randint(10, 240)
        self.later(d, t, "ticket", tid, {"stage": "accepted",
                                         "comments": "网格员已受理"})
        t += rng.randint(10, 180)
        self.later(d, t, "ticket", tid, {
            "stage": "dispatched",
            "comments": "网格吹哨，派单至%s" % c["department"]})
        t += rng.randint(30, 600)
        self.later(d, t, "ticket", tid, {
            "stage": "in_progress",
            "comments": "%s已报到，正在办理" % c["department"]})
        span = c["deadline_hours"] * 60
        rnd = 0
        for rnd in range(2 if rng.random() < P_REOPEN else 1):
            if rnd == 1:
                t += rng.randint(60, 48 * 60)
                self.later(d, t, "ticket", tid, {
                    "stage": {"round": 1, "stage": "reported"},
                    "comments": "居民反映问题仍未解决，重新打开"})
                t += rng.randint(30, 600)
                self.later(d, t, "ticket", tid, {
                    "stage": {"round": 1, "stage": "in_progress"},
                    "comments": "重新派单办理"})
            if rng.random() < P_LATE:
                # late past the deadline, but never before the step above:
                # a reopened ticket may be past its deadline already, and
                # a resolved written before its in_progress is refused
                t = max(t + 60, t0 + span + rng.randint(60, span))
            else:
                t += rng.randint(60, max(61, t0 + span - t))
            self.later(d, t, "ticket", tid, {
                "stage": {"round": rnd, "stage": "resolved"} if rnd else
                "resolved",
                "comments": "已办结：%s问题已处理" % title})
        t += rng.randint(60, 48 * 60)
        self.later(d, t, "ticket", tid, {
            "stage": {"round": rnd, "stage": "closed"} if rnd else "closed",
            "comments": "回访居民，闭环办结",
            "satisfaction": weighted(rng, [(5, 80), (4, 16), (3, 3),
                                           (2, 1)])})

    def wish(self, d):
        rng, cat = self.rng, self.cat
        self.n_wish += 1
        wid = "W-%s-%04d" % (self.gid, self.n_wish)
        poster = rng.choice(self.elderly) if self.elderly and \
            rng.random() < 0.6 else rng.choice(self.persons)[0]
        title = rng.choice(cat["wishes"])
        reward = rng.choice([5, 10, 10, 20])
        t = rng.randint(8 * 60, 20 * 60)
        self.later(d, t, "wish", wid, {
            "title": title, "description": "居民微心愿：" + title,
            "poster": poster, "grid": self.scope, "status": "open",
            "reward": reward})
        t += rng.randint(30, 2 * 1440)
        winner = rng.choice(self.helpers)
        self.later(d, t, "wish", wid, {"claims": {"claim": winner},
                                       "status": "claimed"})
        if rng.random() < P_DOUBLE_CLAIM and len(self.helpers) > 1:
            other = rng.choice([h for h in self.helpers if h != winner])
            self.later(d, t + rng.randint(1, 120), "wish", wid,
                       {"claims": {"claim": other}})
        t += rng.randint(60, 5 * 1440)
        self.later(d, t, "wish", wid, {"status": "done"})
        self.later(d, t + 1, "person", winner, {
            "points": reward, "ledger": "认领微心愿 %s +%d" % (wid, reward)})

    def day(self, w, d, date):
        rng, cat = self.rng, self.cat
        ds = date.strftime("%Y%m%d")
        if date.day == 1 and d > 0:
            self.rate(w, date)
        # the curtain signal: every elderly resident living alone, each day
        for pid in self.elderly:
            t = rng.randint(7 * 60, 9 * 60 + 30)
            f = {"person": pid, "day": date.isoformat(), "status": "ok",
                 "worker": self.worker, "grid": self.scope}
            if rng.random() < P_CONCERN:
                f["status"] = "concern"
            self.later(d, t, "checkin", "C-%s-%s" % (pid, ds), f)
        weekday = date.weekday() < 5
        for _ in range(rng.randint(4, 8) if weekday else rng.randint(0, 2)):
            self.n_visit += 1
            alone = [h for h in self.households if h[2]]
            hid, _, _ = rng.choice(alone) if alone and rng.random() < 0.3 \
                else rng.choice(self.households)
            t = rng.randint(9 * 60, 17 * 60)
            note = rng.choice(cat["visit_notes"])
            self.later(d, t, "visit", "V-%s-%06d" % (self.gid, self.n_visit), {
                "household": hid, "worker": self.worker, "note": note,
                "at": stamp(date, t), "grid": self.scope})
            if rng.random() < 0.3:
                self.later(d, t + 5, "household", hid,
                           {"diary": "%s %s" % (stamp(date, t), note)})
        for _ in range(poisson(rng, TICKETS_PER_GRID_DAY)):
            self.ticket(d, date)
        for _ in range(poisson(rng, WISHES_PER_GRID_DAY)):
            self.wish(d)
        for _ in range(poisson(rng, GRANTS_PER_GRID_DAY)):
            what, pts = rng.choice(cat["grants"][:2] + cat["grants"][3:])
            pid = rng.choice(self.helpers)
            self.later(d, rng.randint(8 * 60, 18 * 60), "person", pid, {
                "points": pts,
                "ledger": "%s %s +%d" % (date.isoformat(), what, pts)})
        for _, _, type_, id_, fields in sorted(self.pending.pop(d, []),
                                               key=lambda e: e[:2]):
            if type_ == "checkin" and fields["status"] == "concern":
                hid = self.home[fields["person"]]
                w.rec(type_, id_, fields)
                w.rec("household", hid, {"diary": "%s %s" % (
                    date.isoformat(), rng.choice(cat["concern_notes"]))})
                continue
            w.rec(type_, id_, fields)

    def run(self, w):
        self.people(w)
        self.registers(w)
        first = END - datetime.timedelta(days=self.days - 1)
        for d in range(self.days):
            self.day(w, d, first + datetime.timedelta(days=d))


def main(argv):
    ap = argparse.ArgumentParser(
        description="Generate a district for `gridsync import`: DIR/org.jsonl, "
        "one DIR/<scope>.jsonl per grid and DIR/manifest.json.")
    ap.add_argument("--scale", type=float, default=0.01,
                    help="1 = the articles' district (850 grids, ~120,000 "
                    "households); default 0.01")
    ap.add_argument("--days", type=int, default=7,
                    help="days of history ending %s (default 7)" % END)
    ap.add_argument("--seed", type=int, default=1, help="default 1")
    ap.add_argument("--only", metavar="SCOPE",
                    help="write only the grids at or under this org path "
                    "(each as in the whole district: same number, seed and "
                    "people), with org.jsonl in full")
    ap.add_argument("--out", required=True, help="directory to write")
    a = ap.parse_args(argv)
    if not (0 < a.scale <= 100):
        ap.error("--scale must be above 0 and at most 100")
    if not (1 <= a.days <= 3660):
        ap.error("--days must be 1..3660")
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "catalog.json"), encoding="utf-8") as f:
        cat = json.load(f)
    os.makedirs(a.out, exist_ok=True)
    tree = layout(a.scale)
    n_grids = sum(len(g) for _, _, g in tree)

    dcode, dname = DISTRICT
    org = Writer(os.path.join(a.out, "org.jsonl"))
    org.rec("org", "O-" + dcode, {"kind": "district", "name": dname,
                                  "scope": dcode})
    seen = set()
    for st, unit, grids in tree:
        sscope = "%s.%s" % (dcode, st[0])
        if sscope not in seen:
            seen.add(sscope)
            org.rec("org", "O-" + sscope, {"kind": st[2], "name": st[1],
                                           "parent": "O-" + dcode,
                                           "scope": sscope})
        uscope = "%s.%s" % (sscope, unit[0])
        org.rec("org", "O-" + uscope, {
            "kind": unit[2], "name": unit[1], "parent": "O-" + sscope,
            "scope": uscope, "address": dname + st[1] + unit[1]})
        for g in grids:
            org.rec("org", "O-%s.%s" % (uscope, g), {
                "kind": "grid", "name": "%s第%d网格" % (unit[1], int(g[1:])),
                "parent": "O-" + uscope, "scope": "%s.%s" % (uscope, g)})
    manifest = {"version": 1, "seed": a.seed, "scale": a.scale,
                "days": a.days, "end": END.isoformat(), "district": dcode,
                "org": dict(scope=dcode, file="org.jsonl", **org.close()),
                "grids": []}
    if a.only:
        manifest["only"] = a.only

    number = 0
    totals = {}
    for st, unit, grids in tree:
        for g in grids:
            number += 1
            scope = "%s.%s.%s.%s" % (dcode, st[0], unit[0], g)
            if a.only and scope != a.only and \
                    not scope.startswith(a.only + "."):
                continue
            gname = "%s第%d网格" % (unit[1], int(g[1:]))
            w = Writer(os.path.join(a.out, scope + ".jsonl"))
            Grid(cat, a.seed, number, scope,
                 (st[1], unit[1], unit[2], gname), a.days).run(w)
            info = dict(scope=scope, name=gname, file=scope + ".jsonl",
                        **w.close())
            manifest["grids"].append(info)
            for t, n in info["entities"].items():
                totals[t] = totals.get(t, 0) + n
            totals["lines"] = totals.get("lines", 0) + info["lines"]
            if number % 10 == 0 or number == n_grids:
                print("gen_district: %d/%d grids, %d lines" %
                      (number, n_grids, totals["lines"]), file=sys.stderr)
    manifest["totals"] = dict(sorted(totals.items()))
    with open(os.path.join(a.out, "manifest.json"), "w", encoding="utf-8",
              newline="\n") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
