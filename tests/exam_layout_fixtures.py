"""Small exam banks in the layouts real people keep (written here, never copied from a real bank): an
exam system's upload template over five sheets, camelCase headers, misleading header words, title rows,
formatted empty rows, legacy .xls, CSV quoted with ', placeholder option cells."""
from __future__ import annotations

from pathlib import Path

import openpyxl

TEMPLATE_HEADER = ["题目（必填）：", "选项A（必填）", "选项B（必填）", "选项C", "选项D", "正确答案（必填）", "解析"]
SINGLE = [
    ("雷雨天气巡视室外高压设备时应穿（　　）。", "雨鞋", "绝缘靴", "布鞋", "拖鞋", "B", "安规规定"),
    ("高压设备发生接地时，室内人员应距离故障点（　　）m以外。", "1", "2", "3", "4", "D", ""),
    ("工作票应由（　　）签发。", "工作负责人", "工作票签发人", "值班员", "任何人", "B", ""),
]
MULTI = [
    ("保证安全的技术措施有（　　）。", "停电", "验电", "接地", "聊天", "ABC", ""),
    ("下列属于绝缘安全工器具的是（　　）。", "绝缘杆", "扳手", "绝缘手套", "锤子", "A,C", ""),
]
JUDGE = [("接地线可以缠绕接地。", "错误"), ("验电前应先在有电设备上确认验电器良好。", "正确")]
CLOZE = [
    ("停电、_(1)_、装设接地线、悬挂标示牌和装设_(2)_。", ["验电", "遮栏"]),
    ("安全色中红色表示_(1)_。", ["禁止"]),
]
OPEN = [("简述工作票制度的意义。", "明确安全责任，落实安全措施。")]


def upload_template_workbook(path: Path, *, title: bool = True) -> Path:
    """An exam system's upload template: a notes sheet, then 单选题 / 多选题 / 判断题 / 填空题 / 问答题, each
    with a title row above a decorated header; the cloze sheet keeps its answers in 答案A…答案L."""
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "填写说明"
    for line in ("导入说明", "1. 带（必填）的列必须填写", "2. 正确答案只能输入ABCD", "3. 填空题答案依次填入答案A至答案L"):
        notes.append([line])

    def sheet(name, header, rows):
        ws = wb.create_sheet(name)
        if title:
            ws.append([f"安全规程题库 · {name}"])
            ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        ws.append(header)
        for r in rows:
            ws.append(list(r))
        return ws

    sheet("单选题", TEMPLATE_HEADER, SINGLE)
    sheet("多选题", TEMPLATE_HEADER, MULTI)
    sheet("判断题", ["题目（必填）：", "正确答案(只能输入正确或错误)"], JUDGE)
    sheet("填空题", ["题目（必填）：", *[f"答案{l}" for l in "ABCDEFGHIJKL"]], [(q, *a) for q, a in CLOZE])
    sheet("问答题", ["题目（必填）：", "参考答案"], OPEN)
    lookup = wb.create_sheet("题型代码")
    for r in (["代码", "题型"], ["1", "单选"], ["2", "多选"], ["3", "判断"]):
        lookup.append(r)
    wb.save(path)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(list(r))
    wb.save(path)
    return path
