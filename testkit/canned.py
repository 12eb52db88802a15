"""Canned replies for the loopback OpenAI server: answers a generation prompt the way a model would,
in the JSON the built-in templates ask for, grounded in the passage it was given."""
from __future__ import annotations

import json
import re


def _passage(prompt: str) -> str:
    # the built-in prompts put the passage between the first blank line and the next one
    parts = prompt.split("\n\n")
    return parts[1] if len(parts) > 2 else prompt


def reply(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    passage = _passage(prompt)
    sentences = [s for s in re.split(r"(?<=[。；！？])", passage) if len(s.strip()) > 4] or [passage]
    if '"answers"' in prompt:
        questions = re.findall(r"^\d+\. (.+)$", prompt, flags=re.M)
        return json.dumps({"answers": [{"question": q, "answer": sentences[i % len(sentences)].strip()}
                                       for i, q in enumerate(questions)]}, ensure_ascii=False)
    if '"questions"' in prompt and '"type"' in prompt:
        return ("```json\n" + json.dumps({"questions": [
            {"type": "single", "question": f"关于{sentences[0][:12]}，下列说法正确的是", "options":
             {"A": "甲", "B": sentences[0][:20], "C": "丙", "D": "丁"}, "answer": "B"},
            {"type": "judge", "question": sentences[-1][:40], "answer": "正确"},
        ]}, ensure_ascii=False) + "\n```")
    if '"questions"' in prompt:
        head = re.search(r"（([^（）]*)）", prompt)
        where = head.group(1) if head else "这段文本"
        return json.dumps({"questions": [f"{where}规定了什么？", f"{where}中的要求有哪些？"]}, ensure_ascii=False)
    if '"pairs"' in prompt:
        parts = prompt.split("\n\n")
        sentences = [s for s in re.split(r"(?<=[。；！？])", parts[2]) if len(s.strip()) > 4] or [parts[2]]
        return json.dumps({"pairs": [{"instruction": f"请解释：{sentences[0][:15]}", "input": "",
                                      "output": sentences[0].strip()}]}, ensure_ascii=False)
    return "我不知道"
