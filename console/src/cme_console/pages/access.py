"""Who looked at a child: every service's access log for one subject (`GET /access-log?subject_id=`, the
DPO only), newest first. The subject is named by id only, from the case page's link."""

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..services import SERVICES, ServiceProblem
from ..web import render, services


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/subjects/{subject_id}/access-log")
    async def access_log(request: Request, subject_id: UUID) -> Response:
        _, svc = services(request, "dpo")
        entries, missing = [], []
        for service in SERVICES:
            try:
                answer = await svc.get(service, "/access-log", params={"subject_id": str(subject_id)},
                                       purpose="access log review")
            except ServiceProblem as problem:
                if problem.status == 401:
                    raise
                missing.append(service)
                continue
            entries += [{**entry, "service": service} for entry in answer.get("entries", [])]
        entries.sort(key=lambda e: e["accessed_at"], reverse=True)
        return render(request, "access_log.html", subject_id=subject_id, entries=entries, missing=missing)

    return api
