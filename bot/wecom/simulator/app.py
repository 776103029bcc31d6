"""The simulator's HTTP face: the WeCom API paths the bot calls, plus /sim (chat page, staff view, read API)."""

from __future__ import annotations

import asyncio
import json
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml
from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse

from bot.wecom.simulator.state import err

if TYPE_CHECKING:
    from bot.wecom.simulator.server import WeComSimulator

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)


def ui_texts() -> dict[str, str]:
    """The chat page's Chinese UI strings (prompts/canned/simulator.yaml, keys prefixed `sim_`)."""
    data = yaml.safe_load((files("prompts") / "canned" / "simulator.yaml").read_text(encoding="utf-8")) or {}
    return {key.removeprefix("sim_"): str(value) for key, value in data.items()}


def build_app(sim: WeComSimulator) -> FastAPI:
    app = FastAPI(title="WeCom simulator", docs_url=None, redoc_url=None, openapi_url=None)
    state = sim.state

    async def _body(request: Request) -> dict | None:
        raw = await request.body()
        try:
            data = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    async def _inject(api: str) -> JSONResponse | PlainTextResponse | None:
        failure = state.take_failure(api)
        if failure is None:
            return None
        if failure.delay_s:
            await asyncio.sleep(failure.delay_s)
        if failure.http_status:
            state.note_call(api, {"errcode": -failure.http_status})
            return PlainTextResponse("simulated failure", status_code=failure.http_status)
        if failure.errcode is None or failure.errcode == 0:
            return None  # a pure delay
        return JSONResponse(state.note_call(api, err(failure.errcode)))

    async def _api(api: str, request: Request, handler: Any, *, needs_kind: bool = False) -> Any:
        try:
            body = await _body(request)
        except ClientDisconnect:
            return PlainTextResponse("", status_code=499)
        injected = await _inject(api)
        if injected is not None:
            return injected
        kind, problem = state.check_token(request.query_params.get("access_token"))
        if problem is not None:
            return state.note_call(api, problem)
        if body is None:
            return state.note_call(api, err(40058, "body is not a JSON object"))
        result = handler(body, kind) if needs_kind else handler(body)
        return state.note_call(api, result)

    @app.get("/cgi-bin/gettoken")
    async def gettoken(request: Request) -> Any:
        injected = await _inject("gettoken")
        if injected is not None:
            return injected
        query = request.query_params
        return state.note_call("gettoken", state.gettoken(query.get("corpid"), query.get("corpsecret")))

    # The POST APIs: path under /cgi-bin -> (handler, whether it needs the token's kind: app or kf secret).
    post_apis = {
        "kf/sync_msg": (state.sync_msg, False),
        "kf/send_msg": (state.send_msg, False),
        "kf/send_msg_on_event": (state.send_msg_on_event, False),
        "kf/service_state/get": (state.service_state_get, False),
        "kf/service_state/trans": (state.service_state_trans, False),
        "message/send": (state.message_send, True),
        "externalcontact/add_msg_template": (state.add_msg_template, True),
    }

    def _endpoint(api: str, handler: Any, needs_kind: bool) -> Any:
        async def endpoint(request: Request) -> Any:
            return await _api(api, request, handler, needs_kind=needs_kind)

        return endpoint

    for api, (handler, needs_kind) in post_apis.items():
        app.add_api_route(f"/cgi-bin/{api}", _endpoint(api, handler, needs_kind), methods=["POST"],
                          name=api.replace("/", "_"))

    # Pages ----------------------------------------------------------------------------------------------------

    @app.get("/sim", include_in_schema=False)
    async def sim_root() -> RedirectResponse:
        return RedirectResponse("/sim/")

    @app.get("/sim/", response_class=HTMLResponse)
    @app.get("/sim/chat", response_class=HTMLResponse)
    async def chat_page() -> str:
        return _templates.get_template("chat.html").render(
            t=ui_texts(), default_open_kfid=state.default_open_kfid, default_client=sim.default_client
        )

    @app.get("/sim/staff", response_class=HTMLResponse)
    async def staff_page() -> str:
        return _templates.get_template("staff.html").render(
            t=ui_texts(), default_open_kfid=state.default_open_kfid, default_client=sim.default_client
        )

    @app.get("/sim/static/{name}")
    async def static(name: str) -> Any:
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file() or path.suffix not in STATIC_TYPES:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type=STATIC_TYPES[path.suffix])

    # Read API and the client's side ---------------------------------------------------------------------------

    @app.get("/sim/api/sent")
    def sent(external_userid: str | None = None, touser: str | None = None) -> dict:
        return state.sent(external_userid=external_userid, touser=touser)

    @app.get("/sim/api/conversation")
    def conversation(external_userid: str, open_kfid: str | None = None, after: int = 0) -> dict:
        session = state.sessions.get((open_kfid or state.default_open_kfid, external_userid))
        return {
            "events": state.conversation(external_userid, open_kfid, after),
            "service_state": session.state if session else 4,
            "servicer_userid": session.servicer_userid if session else None,
        }

    @app.get("/sim/api/staff")
    def staff_feed(after: int = 0) -> dict:
        return {"events": state.staff_feed(after)}

    @app.get("/sim/api/accounts")
    def accounts() -> dict:
        return {"kf_accounts": state.kf_accounts, "default_open_kfid": state.default_open_kfid}

    @app.post("/sim/api/say")
    async def say(request: Request) -> Any:
        body = await _body(request) or {}
        external_userid = str(body.get("external_userid") or "").strip()
        text = str(body.get("text") or "").strip()
        open_kfid = str(body.get("open_kfid") or state.default_open_kfid)
        if not 0 < len(external_userid) <= 64 or not 0 < len(text) <= 4000:
            return JSONResponse({"error": "external_userid (≤ 64 chars) and text (≤ 4000 chars) are required"},
                                status_code=400)
        result = sim.client_says(external_userid, text, open_kfid=open_kfid, wait=False)
        return {"msgid": result.msgid}

    @app.post("/sim/api/enter")
    async def enter(request: Request) -> Any:
        """The client opens the chat (the page does this when it switches to a client)."""
        body = await _body(request) or {}
        external_userid = str(body.get("external_userid") or "").strip()
        open_kfid = str(body.get("open_kfid") or state.default_open_kfid)
        if not 0 < len(external_userid) <= 64:
            return JSONResponse({"error": "external_userid (≤ 64 chars) is required"}, status_code=400)
        sim.client_enters(external_userid, open_kfid=open_kfid, wait=False)
        return {"ok": True}

    @app.post("/sim/api/servicer/say")
    async def servicer_say(request: Request) -> Any:
        body = await _body(request) or {}
        fields = {k: str(body.get(k) or "").strip() for k in ("external_userid", "servicer_userid", "text")}
        if not all(fields.values()):
            return JSONResponse({"error": "external_userid, servicer_userid and text are required"}, status_code=400)
        result = sim.servicer_says(open_kfid=str(body.get("open_kfid") or state.default_open_kfid), wait=False,
                                   **fields)
        return {"msgid": result.msgid}

    @app.post("/sim/api/servicer/end")
    async def servicer_end(request: Request) -> Any:
        body = await _body(request) or {}
        external_userid = str(body.get("external_userid") or "").strip()
        if not external_userid:
            return JSONResponse({"error": "external_userid is required"}, status_code=400)
        sim.servicer_ends_session(external_userid, open_kfid=str(body.get("open_kfid") or state.default_open_kfid),
                                  wait=False)
        return {"ok": True}

    return app
