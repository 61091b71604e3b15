"""The read side: rounds with drafts, the drafts with their rendering and history, artefacts
to download, the honor roll, and the statistics reports."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, model_validator

from services.publicity import photos, reports, tables
from services.publicity.domain import (
    FIELD_LABELS,
    Consents,
    PublicityPolicy,
    shown_of,
    withheld,
)
from services.publicity.errors import MaterialNotFound
from services.publicity.handlers import policy_from_settings
from services.publicity.rendering import (
    FORMATS,
    MaterialDoc,
    RenderSettings,
    RoundFacts,
    build_view,
    render,
    render_html,
)
from shared.contracts.common import Category
from shared.contracts.nomination import PublicityConsent
from shared.contracts.publicity import (
    CHANNEL_LABELS_EN,
    CHANNEL_LABELS_ZH,
    KIND_LABELS_ZH,
    FeaturedWinner,
    MaterialContent,
    MaterialKind,
    publicity_stream_id,
)
from shared.contracts.subject_access import EmployeeData, Rows, check_office, plain_rows
from shared.errors import InvalidInput, NotFound
from shared.rounds import RoundId, RoundPeriod
from shared.settings import Settings


class Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListRounds(Query):
    pass


class ListDrafts(Query):
    round_id: RoundId


class GetDraft(Query):
    material_id: uuid.UUID


class GetArtefact(Query):
    material_id: uuid.UUID
    format: Literal["html", "svg", "png", "pdf", "zip", "docx", "srt", "json"]


class GetVideo(Query):
    material_id: uuid.UUID
    content: bool = False  # with the MP4 (base64) when rendered


class GetWinnerPhoto(Query):
    round_id: RoundId
    nomination_id: uuid.UUID


class GetHonorRoll(Query):
    round_id: RoundId | None = None  # None: the latest round with drafts


class ReportScope(Query):
    scope: Literal["round", "year"] = "round"
    round_id: RoundId | None = None
    year: int | None = None

    @model_validator(mode="after")
    def _one_key(self) -> ReportScope:
        if self.scope == "round" and self.round_id is None:
            raise ValueError("a round report needs round_id")
        if self.scope == "year" and self.year is None:
            raise ValueError("a year report needs year")
        return self

    @property
    def key(self) -> str:
        return self.round_id if self.scope == "round" and self.round_id else str(self.year)


class GetReport(ReportScope):
    format: Literal["json", "csv", "xlsx", "docx", "html"] = "json"


class GetReportChart(ReportScope):
    chart: Literal[
        "nominations_by_unit",
        "nominations_by_round",
        "audit_by_category",
        "score_spread",
        "participation",
    ]
    format: Literal["svg", "png"] = "svg"
    size: Literal["wide", "narrow"] = "wide"  # narrow: laid out for a phone (375 px)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


# The kinds of material that show winners' photos (the others leave them out).
PHOTO_KINDS = ("honor_roll", "official_account", "storyboard")

_SECTION_FIELD = re.compile(r"sections\.(?P<id>[0-9a-f-]+)\.(?P<field>\w+)")


class PublicityQueries:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.render_settings = RenderSettings.from_settings(settings)
        self.files = photos.store_for(settings)

    @property
    def policy(self) -> PublicityPolicy:
        return policy_from_settings(self.settings)

    # --- Drafts ------------------------------------------------------------------------------

    async def rounds(self, _: ListRounds) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """
            SELECT r.round_id, r.result_published_at, r.meeting_date, r.drafted_at,
                   count(m.*) AS materials,
                   count(m.*) FILTER (WHERE m.status = 'draft') AS drafts,
                   count(m.*) FILTER (WHERE m.status = 'approved') AS approved,
                   count(m.*) FILTER (WHERE m.status = 'published') AS published
            FROM publicity_rounds r LEFT JOIN materials m USING (round_id)
            GROUP BY r.round_id ORDER BY r.result_published_at DESC
            """
        )
        return [
            {
                **{k: _jsonable(v) for k, v in dict(row).items()},
                "label_zh": RoundPeriod.parse(row["round_id"]).label_zh,
            }
            for row in rows
        ]

    async def drafts(self, q: ListDrafts) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT material_id, round_id, kind, status, revision, channels, publications, "
            "title, nomination_id, created_at, updated_at FROM materials WHERE round_id = $1 "
            "ORDER BY array_position(ARRAY['honor_roll','bulletin','official_account',"
            "'storyboard','correction'], kind), created_at, material_id",
            q.round_id,
        )
        return [self._summary(row) for row in rows]

    def _summary(self, row: asyncpg.Record) -> dict[str, Any]:
        item = {k: _jsonable(v) for k, v in dict(row).items() if k != "content"}
        item["kind_zh"] = KIND_LABELS_ZH[row["kind"]]
        item["formats"] = list(FORMATS[row["kind"]])
        item["published_channels"] = sorted(
            {p["channel"] for p in row["publications"] if p["revision"] == row["revision"]}
        )
        return item

    async def facts(self, round_id: str) -> RoundFacts:
        row = await self.pool.fetchrow(
            "SELECT * FROM publicity_rounds WHERE round_id = $1", round_id
        )
        if row is None:
            raise NotFound(
                "该轮次尚无宣传材料。", "No materials for this round.", round_id=round_id
            )
        winners = [FeaturedWinner.model_validate(w) for w in row["winners"]]
        return RoundFacts(
            round_id=round_id,
            result_published_at=row["result_published_at"],
            meeting_date=row["meeting_date"],
            winners={w.nomination_id: w for w in winners},
        )

    async def consents(self, ids: list[uuid.UUID]) -> Consents:
        """The winners' consent to public display, as heard from nomination."""
        rows = await self.pool.fetch(
            "SELECT nomination_id, consent FROM publicity_consents "
            "WHERE nomination_id = ANY($1::uuid[])",
            ids,
        )
        return {
            r["nomination_id"]: None
            if r["consent"] is None
            else PublicityConsent.model_validate(r["consent"])
            for r in rows
        }

    async def photos(self, round_id: str, kind: MaterialKind) -> dict[str, bytes]:
        """The featured winners' photos of a round (JPEG bytes by nomination id), of those
        whose consent lets a material of `kind` show everything (a photo is never `basic`)."""
        rows = await self.pool.fetch(
            "SELECT nomination_id, photo_sha256 FROM honor_roll "
            "WHERE round_id = $1 AND NOT revoked AND photo_sha256 IS NOT NULL",
            round_id,
        )
        consents = await self.consents([r["nomination_id"] for r in rows])
        out: dict[str, bytes] = {}
        for r in rows:
            if shown_of(kind, r["nomination_id"], consents, self.policy) != "full":
                continue
            data = await asyncio.to_thread(self.files.get, r["photo_sha256"])
            if data is not None:  # a file lost from the store: the placeholder again
                out[str(r["nomination_id"])] = data
        return out

    async def winner_photo(self, q: GetWinnerPhoto) -> dict[str, Any]:
        """One featured winner's photo (the honor roll's pages show it)."""
        sha256 = await self.pool.fetchval(
            "SELECT photo_sha256 FROM honor_roll "
            "WHERE round_id = $1 AND nomination_id = $2 AND NOT revoked",
            q.round_id,
            q.nomination_id,
        )
        consents = await self.consents([q.nomination_id])
        if shown_of("honor_roll", q.nomination_id, consents, self.policy) != "full":
            sha256 = None  # shown without consent only as far as the rules allow: no photo
        data = await asyncio.to_thread(self.files.get, sha256) if sha256 else None
        if data is None:
            raise NotFound("该获奖职工尚无照片。", "No photo of this winner.")
        return {
            "filename": f"{q.nomination_id}.jpg",
            "media_type": "image/jpeg",
            "encoding": "base64",
            "sha256": sha256,
            "content": base64.b64encode(data).decode(),
        }

    async def _material(self, material_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow(
            "SELECT * FROM materials WHERE material_id = $1", material_id
        )
        if row is None:
            raise MaterialNotFound(material_id=material_id)
        return row

    @staticmethod
    def doc(row: asyncpg.Record) -> MaterialDoc:
        return MaterialDoc(
            material_id=row["material_id"],
            kind=row["kind"],
            revision=row["revision"],
            content=MaterialContent.model_validate(row["content"]),
            issued_at=row["created_at"] if row["kind"] == "correction" else None,
        )

    async def draft(self, q: GetDraft) -> dict[str, Any]:
        row = await self._material(q.material_id)
        facts = await self.facts(row["round_id"])
        view = build_view(facts, self.doc(row), self.render_settings)
        history = await self._history(row["round_id"], q.material_id, facts)
        featured = {uuid.UUID(s["nomination_id"]) for s in row["content"]["sections"]}
        consents = await self.consents(list(facts.winners))
        hidden = [
            w
            for w in withheld(row["kind"], facts.winners.values(), consents, self.policy)
            if w.nomination_id not in featured
        ]
        pictures = (
            await self.photos(row["round_id"], row["kind"]) if row["kind"] in PHOTO_KINDS else {}
        )
        return {
            **self._summary(row),
            # The office sees why a winner is missing: "2 位获奖者未同意公开，已按规定隐去".
            "withheld": len(hidden),
            "round_label": view.round_label,
            "meeting_date": facts.meeting_date.isoformat(),
            "content": row["content"],
            "winners": [
                {
                    "nomination_id": s["nomination_id"],
                    **(
                        facts.winners[uuid.UUID(s["nomination_id"])].model_dump(
                            mode="json", include={"category", "name", "unit_name", "position"}
                        )
                        if uuid.UUID(s["nomination_id"]) in facts.winners
                        else {}
                    ),
                }
                for s in row["content"]["sections"]
            ],
            "html": render_html(view, self.render_settings, pictures),
            "history": history,
        }

    async def _history(
        self, round_id: str, material_id: uuid.UUID, facts: RoundFacts
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            """
            SELECT position, type, data, metadata FROM events
            WHERE stream_id = $1 AND (data->>'material_id' = $2
                OR (type = 'MaterialsDrafted' AND data->'materials' @> $3::jsonb))
            ORDER BY position
            """,
            publicity_stream_id(round_id),
            str(material_id),
            [{"material_id": str(material_id)}],
        )
        return [
            {
                "position": r["position"],
                "type": r["type"],
                "actor": r["metadata"].get("actor"),
                "occurred_at": r["metadata"].get("occurred_at"),
                "revision": r["data"].get("revision", 1),
                "channel": r["data"].get("channel"),
                "changed": r["data"].get("changed"),
                **self._describe(r["type"], r["data"], facts),
            }
            for r in rows
        ]

    @staticmethod
    def _describe(type_: str, data: dict[str, Any], facts: RoundFacts) -> dict[str, str]:
        """One step of a draft's history, in Chinese and English (summary_zh, summary_en)."""

        def name_of(nomination_id: str | None) -> str:
            w = facts.winners.get(uuid.UUID(nomination_id)) if nomination_id else None
            return w.name if w else "获奖职工"

        revision = data.get("revision", 1)
        zh, en = type_, type_
        if type_ == "MaterialsDrafted":
            zh, en = "根据公布的评选结果生成初稿", "First draft made from the published result"
        elif type_ == "MaterialEdited":
            parts_zh, parts_en = [], []
            for item in data.get("changed", []):
                match = _SECTION_FIELD.fullmatch(item)
                field_name = match["field"] if match else item
                label_zh, label_en = FIELD_LABELS.get(field_name, (field_name, field_name))
                if match:
                    parts_zh.append(f"{name_of(match['id'])}·{label_zh}")
                    parts_en.append(f"{label_en} of {name_of(match['id'])}")
                else:
                    parts_zh.append(label_zh)
                    parts_en.append(label_en)
            zh = f"编辑第{revision}版：" + "、".join(parts_zh)
            en = f"Revision {revision} edited: " + ", ".join(parts_en)
        elif type_ == "MaterialApproved":
            zh, en = f"审核通过第{revision}版", f"Revision {revision} approved"
        elif type_ == "MaterialPublished":
            channel = data["channel"]
            zh = f"第{revision}版在{CHANNEL_LABELS_ZH[channel]}发布"
            en = f"Revision {revision} published in {CHANNEL_LABELS_EN[channel]}"
        elif type_ == "HonorRollUpdated":
            who = name_of(data.get("removed_nomination_id"))
            zh = f"撤销{who}的荣誉后更新光荣榜（第{revision}版，需重新审核发布）"
            en = (
                f"Honor roll updated after {who}'s award was revoked (revision {revision}; "
                "to be approved and published again)"
            )
        elif type_ == "MaterialRevised":
            who = name_of(data.get("removed_nomination_id"))
            zh = f"撤销{who}的荣誉后修订草稿（第{revision}版）"
            en = f"Draft revised after {who}'s award was revoked (revision {revision})"
        elif type_ == "CorrectionNoteDrafted":
            zh, en = "起草更正说明", "Correction notice drafted"
        elif type_ == "CorrectionDrafted":
            who = name_of(data.get("nomination_id"))
            zh = f"撤销{who}的荣誉后生成更正说明"
            en = f"Correction notice drafted after {who}'s award was revoked"
        return {"summary_zh": zh, "summary_en": en}

    async def artefact(self, q: GetArtefact) -> dict[str, Any]:
        row = await self._material(q.material_id)
        formats = FORMATS[row["kind"]]
        if q.format not in formats:
            raise InvalidInput(
                f"{KIND_LABELS_ZH[row['kind']]}没有 {q.format} 格式（可选：{'、'.join(formats)}）",
                f"A {row['kind']} has no {q.format} form (choose from {', '.join(formats)})",
                formats=list(formats),
            )
        facts = await self.facts(row["round_id"])
        view = build_view(facts, self.doc(row), self.render_settings)
        pictures = (
            await self.photos(row["round_id"], row["kind"]) if row["kind"] in PHOTO_KINDS else {}
        )
        artefact = await asyncio.to_thread(render, view, q.format, self.render_settings, pictures)
        binary = isinstance(artefact.content, bytes)
        return {
            "material_id": str(q.material_id),
            "revision": row["revision"],
            "format": q.format,
            "filename": artefact.filename,
            "media_type": artefact.media_type,
            "encoding": "base64" if binary else "utf-8",
            "content": base64.b64encode(artefact.content).decode()
            if isinstance(artefact.content, bytes)
            else artefact.content,
        }

    async def honor_roll(self, q: GetHonorRoll) -> dict[str, Any]:
        round_id = q.round_id or await self.pool.fetchval(
            "SELECT round_id FROM publicity_rounds ORDER BY result_published_at DESC LIMIT 1"
        )
        if round_id is None:
            raise NotFound("尚无光荣榜。", "There is no honor roll yet.")
        material = await self.pool.fetchrow(
            "SELECT material_id, status, revision, publications FROM materials "
            "WHERE round_id = $1 AND kind = 'honor_roll'",
            round_id,
        )
        if material is None:
            raise NotFound("该轮次尚无光荣榜。", "No honor roll for this round.", round_id=round_id)
        rows = await self.pool.fetch(
            "SELECT * FROM honor_roll WHERE round_id = $1 ORDER BY array_position($2::text[], "
            "category), name",
            round_id,
            [c.value for c in Category],
        )
        consents = await self.consents([r["nomination_id"] for r in rows])
        hidden = {
            r["nomination_id"]
            for r in rows
            if r["revoked"]
            and shown_of("honor_roll", r["nomination_id"], consents, self.policy) == "none"
        }
        winners = [
            {
                "nomination_id": str(r["nomination_id"]),
                "category": r["category"],
                "label_zh": Category(r["category"]).label_zh,
                "employee_no": r["employee_no"],
                "name": r["name"],
                "unit_code": r["unit_code"],
                "unit_name": r["unit_name"],
                "position": r["position"],
                # A photo only with consent to the honor roll (never under `basic`).
                "photo_sha256": r["photo_sha256"]
                if shown_of("honor_roll", r["nomination_id"], consents, self.policy) == "full"
                else None,
            }
            for r in rows
            if not r["revoked"]
        ]
        published = sorted(
            {
                p["channel"]
                for p in material["publications"]
                if p["revision"] == material["revision"]
            }
        )
        return {
            "round_id": round_id,
            "label_zh": RoundPeriod.parse(round_id).label_zh,
            "material_id": str(material["material_id"]),
            "status": material["status"],
            "revision": material["revision"],
            "published_channels": published,
            "winners": winners,
            # Left off for want of consent (counted, never named), not revoked.
            "withheld": len(hidden),
            "revoked": [
                {"nomination_id": str(r["nomination_id"]), "name": r["name"]}
                for r in rows
                if r["revoked"] and r["nomination_id"] not in hidden
            ],
        }

    # --- Reports -----------------------------------------------------------------------------

    async def report_data(self, q: ReportScope) -> dict[str, Any]:
        if q.scope == "round":
            where, arg = "n.round_id = $1", q.key
        else:
            where, arg = "n.round_id LIKE $1", f"{q.key}-%"
        nominations = await self.pool.fetch(f"SELECT * FROM stat_nominations n WHERE {where}", arg)
        scores = await self.pool.fetch(
            f"""
            SELECT s.nomination_id, s.panelist_id, s.total FROM stat_scores s
            JOIN stat_nominations n USING (nomination_id)
            WHERE {where} AND NOT EXISTS (SELECT 1 FROM stat_removed_panelists x
                WHERE x.round_id = s.round_id AND x.panelist_id = s.panelist_id)
            """,
            arg,
        )
        rounds = await self.pool.fetch(f"SELECT round_id FROM stat_rounds n WHERE {where}", arg)
        units = await self.pool.fetch("SELECT unit_code, name FROM stat_units")
        awards = await self.pool.fetch(
            f"SELECT amount, currency FROM stat_awards n WHERE {where} AND NOT revoked", arg
        )
        data = reports.ReportInput(
            scope=q.scope,
            key=q.key,
            rounds=tuple(r["round_id"] for r in rounds) + ((q.key,) if q.scope == "round" else ()),
            units={u["unit_code"]: u["name"] for u in units},
            nominations=[
                reports.NominationFact(
                    nomination_id=n["nomination_id"],
                    round_id=n["round_id"],
                    category=Category(n["category"]),
                    unit_code=n["unit_code"],
                    unit_name=n["unit_name"],
                    employee_no=n["employee_no"],
                    name=n["name"],
                    withdrawn=n["withdrawn"],
                    audit=n["audit"],
                    reject_reason=n["reject_reason"],
                    vetoed=n["vetoed"],
                    winner=n["winner"],
                    revoked=n["revoked"],
                    score=n["score"],
                )
                for n in nominations
            ],
            scores=[
                reports.ScoreFact(s["nomination_id"], s["panelist_id"], s["total"]) for s in scores
            ],
            award_amount=self.settings.award_amount,
            award_currency=self.settings.award_currency,
            awards=[(a["amount"], a["currency"]) for a in awards],
        )
        return reports.compute(data)

    async def report(self, q: GetReport) -> dict[str, Any]:
        data = await self.report_data(q)
        if q.format == "json":
            return data
        if q.format == "csv":
            return {
                "filename": f"report-{q.key}.csv",
                "media_type": "text/csv; charset=utf-8",
                "encoding": "utf-8",
                "content": tables.to_csv(data),
            }
        if q.format in ("xlsx", "docx"):
            if q.format == "xlsx":
                content = await asyncio.to_thread(tables.to_xlsx, data)
                media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            else:
                font = self.settings.publicity_chart_font

                def draw(chart: str) -> bytes:
                    return reports.render_chart(data, chart, "png", font)  # type: ignore[arg-type]

                content = await asyncio.to_thread(
                    tables.to_docx_chapter,
                    data,
                    reports.charts_for(q.scope),
                    draw,
                    self.settings.publicity_department,
                )
                media = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            return {
                "filename": f"report-{q.key}.{q.format}",
                "media_type": media,
                "encoding": "base64",
                "content": base64.b64encode(content).decode(),
            }
        page = await asyncio.to_thread(
            reports.render_page, data, self.settings.publicity_chart_font
        )
        return {
            "filename": f"report-{q.key}.html",
            "media_type": "text/html; charset=utf-8",
            "encoding": "utf-8",
            "content": page,
        }

    async def report_chart(self, q: GetReportChart) -> dict[str, Any]:
        data = await self.report_data(q)
        image = await asyncio.to_thread(
            reports.render_chart,
            data,
            q.chart,
            q.format,
            self.settings.publicity_chart_font,
            q.size,
        )
        return {
            "filename": f"report-{q.key}-{q.chart}{'-narrow' if q.size == 'narrow' else ''}"
            f".{q.format}",
            "media_type": "image/svg+xml" if q.format == "svg" else "image/png",
            "encoding": "base64",
            "content": base64.b64encode(image).decode(),
        }


async def employee_data(pool: asyncpg.Pool, q: EmployeeData) -> dict[str, Rows]:
    """Where publicity names one employee: the honor roll (with whether a photo is attached)
    and the materials whose content names them (by number or by the name the roll shows).
    The materials are listed, not copied: they name the other winners too."""
    check_office(q)
    roll = await pool.fetch(
        "SELECT round_id, nomination_id, category, employee_no, name, unit_name, position, "
        "revoked, revoked_reason, photo_sha256 IS NOT NULL AS photo_attached, photo_at "
        "FROM honor_roll WHERE employee_no = $1 ORDER BY round_id",
        q.employee_no,
    )
    needles = [q.employee_no, *sorted({r["name"] for r in roll})]
    mentions = await pool.fetch(
        "SELECT material_id, round_id, kind, status, revision, title, created_at, updated_at "
        "FROM materials WHERE round_id = ANY($1::text[]) AND EXISTS "
        "(SELECT FROM unnest($2::text[]) n WHERE strpos(content::text, n) > 0) "
        "ORDER BY round_id, kind",
        sorted({r["round_id"] for r in roll}),
        needles,
    )
    return {"honor_roll": plain_rows(roll), "materials": plain_rows(mentions)}
