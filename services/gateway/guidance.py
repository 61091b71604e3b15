"""Words that guide people through a form: what each flower honours (from the seed's
"striving, dedication, reform, value creation and hard work") and what each score band of a
rubric criterion means. Display only; the rules live in the services."""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.i18n import Text

# What each flower honours (SEED-EN.md, "Who is eligible" and the campaign's theme).
FLOWER_MEANINGS: dict[str, Text] = {
    "striving": (
        "敢打硬仗、勇挑重担，在急难险重任务中冲锋在前的职工。",
        "Takes on heavy and urgent tasks and leads from the front.",
    ),
    "value_creation": (
        "对外创效、对内降本，为企业带来可量化经济效益的职工。",
        "Creates value outside, cuts costs inside, with measurable gains.",
    ),
    "dedication": (
        "爱岗敬业、甘于奉献，长期默默坚守、服务职工群众的职工。",
        "Devoted to the job and to colleagues over the long run.",
    ),
    "reform": (
        "带头改革创新，在技术、管理或流程上取得突破的职工。",
        "Leads reform and innovation in technology, management or process.",
    ),
    "hard_work": (
        "以实干安身立命、拿业绩说话，扎实完成本职工作的职工。",
        "Earns their place by hard work and proves it with results.",
    ),
}


@dataclass(frozen=True)
class Band:
    """A score band of a criterion: from `low` to `high` (inclusive), and what it means."""

    low: int
    high: int
    text: Text


def _bands(excellent: Text, good: Text, fair: Text, weak: Text) -> tuple[Band, ...]:
    return (Band(90, 100, excellent), Band(75, 89, good), Band(60, 74, fair), Band(0, 59, weak))


# The bands of each criterion of the rubric (a criterion not named here shows no bands).
SCORE_BANDS: dict[str, tuple[Band, ...]] = {
    "achievements": _bands(
        ("业绩突出，有可量化的显著成果，在全公司范围内领先。", "Outstanding, measurable, top."),
        ("业绩良好，成果明确，在本单位领先。", "Good, clear results, leading in the unit."),
        ("完成本职任务，成果一般。", "Did the job; ordinary results."),
        ("业绩不明显或缺少证明材料。", "Unclear results or no evidence."),
    ),
    "exemplary_role": _bands(
        ("在公司内树立标杆，带动他人效果明显。", "A model for the company; others follow."),
        ("在本单位起到示范带头作用。", "An example within the unit."),
        ("有一定示范作用。", "Some example set."),
        ("示范作用不明显。", "No clear example."),
    ),
    "innovation": _bands(
        ("有创新成果并已推广应用，创效显著。", "Innovation adopted widely, clear gains."),
        ("有创新做法并取得实效。", "New practice with real effect."),
        ("有改进，效果有限。", "Some improvement, limited effect."),
        ("无创新或无实效。", "No innovation or no effect."),
    ),
    "recognition": _bands(
        ("职工群众广泛认可，有表扬或荣誉佐证。", "Widely recognised, with praise or honours."),
        ("本单位职工普遍认可。", "Recognised across the unit."),
        ("部分职工认可。", "Recognised by some."),
        ("认可度低。", "Little recognition."),
    ),
}
