"""The console's pages under ``/console``: sign in and out, order search, an order's state and timeline, held
orders with release and cancel, stock by location. Server-rendered HTML (Jinja2 templates, plain forms, our own
stylesheet; nothing loaded from elsewhere).

Each page only translates: it reads a form or a query string, asks the application (its queries, the order
index, the held orders list, the ledger's stock API) or calls the same use case the operators' API calls, and
renders the answer. Every page needs a session; every form carries its CSRF token."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from oms_platform.telemetry import log

from ...application.orders import OrderNotFound, Orders, StepRefused
from ..held_orders_view import HeldOrdersView
from ..order_index import MAX_QUERY_LENGTH, OrderIndex, OrderQuery, order_locations
from . import presentation
from .ledger_stock import LedgerStock, LedgerUnreachable, SkuNotStocked
from .passwords import ConsoleUsers
from .sessions import SESSION_COOKIE, SIGN_IN_COOKIE, SIGN_IN_FORM_SECONDS, ConsoleSession, ConsoleSessions

PREFIX = "/console"
HERE = Path(__file__).resolve().parent
MAX_REASON = 500
MAX_SKU = 100
HELD_SHOWN = 200
# what a page may load and where a form may post: this origin only, no inline script or style
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES = {
    "released": "Hold released: the order goes on to payment and routing.",
    "cancelled": "Order cancelled: its stock is released and its parcel and payment are compensated.",
}
_log = log("console")


@dataclass
class Console:
    """What the console shows and acts on."""

    orders: Orders
    held: HeldOrdersView
    index: OrderIndex
    ledger: LedgerStock
    users: ConsoleUsers
    sessions: ConsoleSessions


class SignInRequired(Exception):
    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


def install_console(app: FastAPI, console: Console) -> None:
    """Serve the console on ``app``: its pages, its static files, and the sign-in redirect."""
    app.include_router(console_routes(console))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")

    async def to_sign_in(_request: Request, required: SignInRequired) -> Response:
        return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': required.next_path})}", status_code=303,
                                headers=SECURITY_HEADERS)

    app.add_exception_handler(SignInRequired, to_sign_in)


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console page of ours, never another site."""
    if not path or not path.startswith(f"{PREFIX}/") or path.startswith("//") or "\\" in path or \
            path.startswith(f"{PREFIX}/login") or path.startswith(f"{PREFIX}/static"):
        return f"{PREFIX}/orders"
    return path


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(tone=presentation.tone, status_label=presentation.status_label, when=presentation.when,
                       money=presentation.money, short_id=presentation.short_id, prefix=PREFIX,
                       quote=lambda value: quote(str(value), safe=""))
    return env


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def console_routes(console: Console) -> APIRouter:
    routes = APIRouter(prefix=PREFIX, include_in_schema=False)
    templates = _templates()
    sessions = console.sessions

    def render(request: Request, template: str, *, session: ConsoleSession | None, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        html = templates.get_template(template).render(
            user=session.user if session else None, csrf=sessions.csrf_token(session) if session else "",
            nav=context.pop("nav", ""), **context)
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def signed_in(request: Request) -> ConsoleSession:
        session = sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            if request.method != "GET":  # a form posted after the session ended: back to the page it was on
                raise SignInRequired(request.url.path.rsplit("/", 1)[0])
            raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return session

    def refuse_forged(request: Request, session: ConsoleSession, token: str) -> HTMLResponse | None:
        if sessions.csrf_ok(session, token):
            return None
        _log.warning("console form refused: CSRF token missing or wrong", user=session.user,
                     path=request.url.path)
        return render(request, "message.html", session=session, status_code=403, title="Form refused",
                      message="This form did not come from this console session (or is from before you signed "
                              "in again). Nothing was changed; open the page again and retry.")

    # ---- signing in and out ----
    @routes.get("")
    async def home() -> Response:
        return RedirectResponse(f"{PREFIX}/orders", status_code=303)

    def sign_in_page(request: Request, *, next_path: str, status_code: int = 200, error: str = "",
                     username: str = "", notice: str = "") -> HTMLResponse:
        nonce, token = sessions.sign_in_form()
        response = render(request, "login.html", session=None, status_code=status_code, title="Sign in",
                          next_path=next_path, csrf_sign_in=token, error=error, username=username, notice=notice)
        response.set_cookie(SIGN_IN_COOKIE, nonce, max_age=SIGN_IN_FORM_SECONDS, path=PREFIX, httponly=True,
                            samesite="strict", secure=_is_https(request))
        return response

    @routes.get("/login")
    async def login_page(request: Request, next: str = Query("", max_length=2000),
                         signed_out: bool = Query(False)) -> Response:
        if sessions.read(request.cookies.get(SESSION_COOKIE)) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return sign_in_page(request, next_path=safe_next(next),
                            notice="You are signed out." if signed_out else "")

    @routes.post("/login")
    async def login(request: Request, username: str = Form("", max_length=200),
                    password: str = Form("", max_length=1000), csrf: str = Form("", max_length=200),
                    next: str = Form("", max_length=2000)) -> Response:
        next_path = safe_next(next)
        username = username.strip()
        if not sessions.sign_in_ok(request.cookies.get(SIGN_IN_COOKIE), csrf):
            return sign_in_page(request, next_path=next_path, status_code=403, username=username,
                                error="The sign-in form expired or did not come from this page. "
                                      "Please sign in again.")
        if not username or not password:
            return sign_in_page(request, next_path=next_path, status_code=422, username=username,
                                error="Enter your user name and password.")
        if not await asyncio.to_thread(console.users.verify, username, password):
            _log.warning("console sign-in refused", user=username,
                         client=request.client.host if request.client else None)
            return sign_in_page(request, next_path=next_path, status_code=401, username=username,
                                error="Wrong user name or password.")
        cookie, session = sessions.issue(username)
        _log.info("console sign-in", user=username)
        response = RedirectResponse(next_path, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(sessions.session_seconds), path=PREFIX,
                            httponly=True, samesite="strict", secure=_is_https(request))
        response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
        return response

    @routes.post("/logout")
    async def logout(request: Request, csrf: str = Form("", max_length=200),
                     session: ConsoleSession = Depends(signed_in)) -> Response:
        if refused := refuse_forged(request, session, csrf):
            return refused
        response = RedirectResponse(f"{PREFIX}/login?signed_out=1", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    # ---- orders ----
    @routes.get("/orders")
    async def search(request: Request, q: str = Query("", max_length=2000),
                     status: str = Query("", max_length=64), channel: str = Query("", max_length=200),
                     session: ConsoleSession = Depends(signed_in)) -> Response:
        errors = []
        if len(q.strip()) > MAX_QUERY_LENGTH:
            errors.append(f"search: at most {MAX_QUERY_LENGTH} characters")
        if status and status not in presentation.STATUSES:
            errors.append(f"status: no status {status!r}")
        if len(channel) > 64:
            errors.append("channel: at most 64 characters")
        query = OrderQuery(text=q, status=None if errors else status, channel=None if errors else channel)
        if not errors and _is_order_id(query.text):
            try:  # an order id: straight to the order, whether or not the index has caught up with it
                await asyncio.to_thread(console.orders.order, query.text)
                return RedirectResponse(f"{PREFIX}/orders/{query.text}", status_code=303)
            except OrderNotFound:
                pass
        found = [] if errors else await asyncio.to_thread(console.index.search, query)
        counts = await asyncio.to_thread(console.index.status_counts)
        return render(request, "orders.html", session=session, nav="orders", title="Orders",
                      status_code=422 if errors else 200, errors=errors, q=q.strip(), status=status,
                      channel=channel, found=found, counts=counts, total=sum(n for _, n in counts),
                      searched=bool(query.text or query.status or query.channel))

    @routes.get("/orders/{order_id}")
    async def order_page(request: Request, order_id: str, done: str = Query("", max_length=20),
                         session: ConsoleSession = Depends(signed_in)) -> Response:
        return await _order_response(request, order_id, session, notice=NOTICES.get(done, ""))

    async def _order_response(request: Request, order_id: str, session: ConsoleSession, *, notice: str = "",
                              error: str = "", field_errors: dict[str, str] | None = None, reason: str = "",
                              status_code: int = 200) -> HTMLResponse:
        try:
            state, history = await asyncio.to_thread(console.orders.order_and_history, order_id)
        except OrderNotFound:
            return render(request, "message.html", session=session, nav="orders", status_code=404,
                          title="Order not found", message=f"There is no order {order_id}.")
        return render(request, "order.html", session=session, nav="orders", title=f"Order {order_id[:8]}",
                      status_code=status_code, order=state, timeline=presentation.timeline(history),
                      locations=order_locations(state), notice=notice, error=error,
                      field_errors=field_errors or {}, reason=reason,
                      customer=(state.get("ship_to") or {}).get("name") or "-")

    async def _act(request: Request, order_id: str, session: ConsoleSession, csrf: str, reason: str,
                   return_to: str, action: str) -> Response:
        if refused := refuse_forged(request, session, csrf):
            return refused
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON:
            problem = {"reason": f"give a reason (1 to {MAX_REASON} characters): it is kept on the order"}
            if return_to == "holds":
                return await _holds_response(request, session, channel="", status_code=422, field_errors={
                    order_id: problem["reason"]})
            return await _order_response(request, order_id, session, field_errors=problem, status_code=422,
                                         reason=reason)
        try:
            if action == "released":
                await asyncio.to_thread(console.orders.release_hold, order_id, session.user, reason)
            else:
                await asyncio.to_thread(console.orders.cancel, order_id, reason, session.user)
        except OrderNotFound:
            return render(request, "message.html", session=session, status_code=404, title="Order not found",
                          message=f"There is no order {order_id}.")
        except StepRefused as refusal:
            return await _order_response(request, order_id, session, status_code=409,
                                         error=f"Refused: {refusal}")
        _log.info("console action", action=action, order_id=order_id, user=session.user)
        if return_to == "holds":
            return RedirectResponse(f"{PREFIX}/holds?{urlencode({'done': action, 'order': order_id})}",
                                    status_code=303)
        return RedirectResponse(f"{PREFIX}/orders/{order_id}?done={action}", status_code=303)

    @routes.post("/orders/{order_id}/release")
    async def release(request: Request, order_id: str, csrf: str = Form("", max_length=200),
                      reason: str = Form("", max_length=5000), return_to: str = Form("order", max_length=20),
                      session: ConsoleSession = Depends(signed_in)) -> Response:
        return await _act(request, order_id, session, csrf, reason, return_to, "released")

    @routes.post("/orders/{order_id}/cancel")
    async def cancel(request: Request, order_id: str, csrf: str = Form("", max_length=200),
                     reason: str = Form("", max_length=5000), return_to: str = Form("order", max_length=20),
                     session: ConsoleSession = Depends(signed_in)) -> Response:
        return await _act(request, order_id, session, csrf, reason, return_to, "cancelled")

    # ---- held orders ----
    async def _holds_response(request: Request, session: ConsoleSession, *, channel: str, notice: str = "",
                              done_order: str = "", status_code: int = 200,
                              field_errors: dict[str, str] | None = None) -> HTMLResponse:
        held = await asyncio.to_thread(console.held.held, channel or None, HELD_SHOWN)
        # the order just released or cancelled here has left the list, whether or not its projection caught up
        held = [h for h in held if h["order_id"] != done_order]
        indexed = await asyncio.to_thread(console.index.rows_of, [h["order_id"] for h in held])
        return render(request, "holds.html", session=session, nav="holds", title="Held orders",
                      status_code=status_code, held=held, indexed=indexed, channel=channel, notice=notice,
                      done_order=done_order, field_errors=field_errors or {})

    @routes.get("/holds")
    async def holds(request: Request, channel: str = Query("", max_length=64),
                    done: str = Query("", max_length=20), order: str = Query("", max_length=64),
                    session: ConsoleSession = Depends(signed_in)) -> Response:
        return await _holds_response(request, session, channel=channel, notice=NOTICES.get(done, ""),
                                     done_order=order if done in NOTICES else "")

    # ---- stock ----
    @routes.get("/stock")
    async def stock(request: Request, sku: str = Query("", max_length=2000),
                    session: ConsoleSession = Depends(signed_in)) -> Response:
        sku = sku.strip()
        context: dict[str, Any] = {"sku": sku, "figures": None, "error": "",
                                   "columns": presentation.STOCK_FIGURES, "ledger_url": console.ledger.base_url}
        status_code = 200
        if len(sku) > MAX_SKU:
            context["error"], status_code = f"sku: at most {MAX_SKU} characters", 422
        elif sku:
            try:
                context["figures"] = await asyncio.to_thread(console.ledger.stock_of, sku)
            except SkuNotStocked:
                context["error"], status_code = f"{sku} has never been stocked at any location.", 404
            except LedgerUnreachable as failure:
                _log.warning("inventory ledger unreachable", ledger=console.ledger.base_url, error=str(failure))
                context["error"] = (f"The inventory ledger ({console.ledger.base_url}) cannot be reached, so "
                                    f"stock cannot be shown now ({failure}). Try again shortly.")
                status_code = 502
        return render(request, "stock.html", session=session, nav="stock", title="Stock",
                      status_code=status_code, **context)

    return routes


def _is_order_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
